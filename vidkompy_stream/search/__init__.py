"""Where fg sits in bg and when it starts: the spatial search over the first seconds."""
