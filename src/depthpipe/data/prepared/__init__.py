"""The prepared dataset: the per-frame maths, the two on-disk layouts (writers and reader), and building it."""
