"""depthpipe: a reproducible DVC + MLflow pipeline for monocular depth estimation on NYU Depth v2."""

__version__ = "0.1.0"
