"""Evaluation of a trained model on the test split: protocols, scoring, and the metrics, evidence and figures
written from the scores."""
