"""Which bg frame each fg frame goes over: fingerprints, the online aligners, the refiner, the clock."""
