"""Training one variant: the trainer (one method per phase), its data loader, optimiser, precision, processes
and resumable state."""
