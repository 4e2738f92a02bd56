"""factory-boy factories for the embeddings app."""
