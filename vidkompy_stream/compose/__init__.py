"""fg pasted over bg: plane layouts and the compositor."""
