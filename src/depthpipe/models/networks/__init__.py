"""The depth networks, one module each: DenseDepth and the semantic booster (built through :mod:`depthpipe.models`)."""
