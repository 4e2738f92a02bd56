"""factory-boy factories for the agents app."""
