"""Reads of the embeddings app: collections (cached by name), search (with its planner) and the filter language."""
