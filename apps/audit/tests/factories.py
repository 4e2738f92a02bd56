"""factory-boy factories for the audit app."""
