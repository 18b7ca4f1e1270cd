"""The training losses: the terms they are made of, and one module per variant that weighs them."""
