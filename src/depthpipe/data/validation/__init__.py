"""Checking the data: per-frame statistics of a source and the great-expectations suite over them."""
