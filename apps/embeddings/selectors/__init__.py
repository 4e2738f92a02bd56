"""Reads of the embeddings app: search (with its planner) and the filter language."""
