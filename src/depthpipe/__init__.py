"""depthpipe: a reproducible DVC + MLflow pipeline for monocular depth estimation on NYU Depth v2."""

from depthpipe import env as _env

_env.apply()

__version__ = "0.2.0"
