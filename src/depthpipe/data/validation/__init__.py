"""The validate stage's work: per-frame statistics of a source and the great-expectations suite over them."""
