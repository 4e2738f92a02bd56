"""Writes of the embeddings app: collections, ingest, deletion, indexes (one module per concept)."""
