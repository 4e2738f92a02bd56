"""Settings of the embeddings app, read from the environment (see README)."""

from agency.settings.environment import env

# Largest ingest batch accepted by the API (items per request); bigger ones get 413.
AGENCY_EMBEDDINGS_MAX_BATCH = env.int("AGENCY_EMBEDDINGS_MAX_BATCH", default=1000)
# Most query vectors in one batch-search request.
AGENCY_EMBEDDINGS_MAX_BATCH_QUERIES = env.int("AGENCY_EMBEDDINGS_MAX_BATCH_QUERIES", default=100)
# Planner: a filter matching at most this many rows may be answered by an exact scan over them
# (the upper bound of the cost rule below; also the most rows the planner counts).
AGENCY_EMBEDDINGS_EXACT_THRESHOLD = env.int("AGENCY_EMBEDDINGS_EXACT_THRESHOLD", default=5000)
# Planner cost rule: exact when matches^2 <= k * collection_rows * RATIO / dimension. RATIO = cost of a
# tuple visited by an iterative HNSW scan / cost of one dimension of an exact distance (measured here:
# 10 us / 3.5 ns). 100K x 768, k=10: exact up to ~1,900 matching rows.
AGENCY_EMBEDDINGS_EXACT_COST_RATIO = env.int("AGENCY_EMBEDDINGS_EXACT_COST_RATIO", default=2850)
# How long a process memoises the bounded row count of a (collection, filter) and each search's planned
# statement (apps.embeddings.selectors.search); 0 = never.
AGENCY_EMBEDDINGS_PLAN_CACHE_SECONDS = env.int("AGENCY_EMBEDDINGS_PLAN_CACHE_SECONDS", default=60)
# Default hnsw.ef_search (raised to k when k is larger).
AGENCY_EMBEDDINGS_EF_SEARCH = env.int("AGENCY_EMBEDDINGS_EF_SEARCH", default=40)
# hnsw.max_scan_tuples / ivfflat.max_probes for iterative (filtered) scans.
AGENCY_EMBEDDINGS_MAX_SCAN_TUPLES = env.int("AGENCY_EMBEDDINGS_MAX_SCAN_TUPLES", default=100000)
AGENCY_EMBEDDINGS_IVFFLAT_PROBES = env.int("AGENCY_EMBEDDINGS_IVFFLAT_PROBES", default=10)
# Reciprocal Rank Fusion constant of hybrid search (default when the request does not give one).
AGENCY_EMBEDDINGS_RRF_K = env.int("AGENCY_EMBEDDINGS_RRF_K", default=60)
# Index (re)builds of collections with more rows than this go to Celery instead of the request.
AGENCY_EMBEDDINGS_SYNC_BUILD_ROWS = env.int("AGENCY_EMBEDDINGS_SYNC_BUILD_ROWS", default=10000)
# maintenance_work_mem for index builds (HNSW builds are much faster when the graph fits).
AGENCY_EMBEDDINGS_BUILD_MEMORY = env("AGENCY_EMBEDDINGS_BUILD_MEMORY", default="1GB")
# Bulk loads (apps/embeddings/services/ingest.py): a batch of at least BULK_MIN_ROWS rows that is at least
# BULK_FRACTION of the collection's rows loads with its HNSW index dropped, and the index is rebuilt once
# (measured: a live HNSW insert ~2.5 ms a 384-d row, a build ~0.15-0.3 ms a row).
AGENCY_EMBEDDINGS_BULK_MIN_ROWS = env.int("AGENCY_EMBEDDINGS_BULK_MIN_ROWS", default=256)
AGENCY_EMBEDDINGS_BULK_FRACTION = env.float("AGENCY_EMBEDDINGS_BULK_FRACTION", default=0.125)
# API batches into a deferred index: rebuild once no batch came for SETTLE seconds, or MAX_DEFER after the drop.
AGENCY_EMBEDDINGS_BULK_SETTLE_SECONDS = env.float("AGENCY_EMBEDDINGS_BULK_SETTLE_SECONDS", default=5.0)
AGENCY_EMBEDDINGS_BULK_MAX_DEFER_SECONDS = env.float("AGENCY_EMBEDDINGS_BULK_MAX_DEFER_SECONDS", default=120.0)
