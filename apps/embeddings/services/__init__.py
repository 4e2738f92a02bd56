"""Writes of the embeddings app: collections, ingest, indexes (one module per concept)."""
