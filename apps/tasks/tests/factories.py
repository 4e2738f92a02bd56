"""factory-boy factories for the tasks app."""
