"""Reading and writing NYU Depth v2 files: the labeled ``.mat``, split and class-mapping files,
the download, the synthetic generator, validation and the prepared HDF5."""
