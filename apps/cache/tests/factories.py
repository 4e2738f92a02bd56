"""factory-boy factories for the cache app."""
