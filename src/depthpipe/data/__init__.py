"""NYU Depth v2 data, in the order the pipeline meets it: ``download`` (fetch and place each source),
``sources`` (readers of every layout), ``synthetic`` (the embedded default), ``validation`` (the GX suite),
``prepared`` (the training-ready dataset), and ``codec`` (the image codecs they share)."""
