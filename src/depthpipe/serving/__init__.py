"""Using an exported or registered model on photos: ``depthpipe predict``."""
