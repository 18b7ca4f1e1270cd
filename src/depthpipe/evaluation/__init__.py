"""Evaluation of a trained model on the test split: protocols, scoring, and the evaluate stage's outputs."""
