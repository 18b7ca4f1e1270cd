"""Evaluation metrics, shared by validation during training, the evaluate stage and the merge gate."""
