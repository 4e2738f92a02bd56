"""factory-boy factories for the migrations app."""
