"""Vector search over one collection: one module per concern; this package's public names.

- requests.py: a search request validated into `SearchParams` (naming the bad field)
- statements.py: the planned, memoised statement of a search (plan, SQL, database settings)
- sql.py: the SQL text of a planned search (what the tests EXPLAIN)
- results.py: the columns a hit reads, scores and thresholds per metric
- vector.py: running a statement with its settings (apps.platform.db.settings), k-NN
- hybrid.py: full-text ranking and its Reciprocal Rank Fusion with the vector ranking
- dispatch.py: `embedding_search` (routes to vector, hybrid or full-text) and the batch endpoint
"""

from apps.embeddings.selectors.search.dispatch import embedding_search, embedding_search_batch
from apps.embeddings.selectors.search.requests import MAX_EF, MAX_K, SearchParams, search_params_parse
from apps.embeddings.selectors.search.sql import search_sql, vector_literal
from apps.embeddings.selectors.search.statements import GUC_DEFAULTS, Statement, search_statement
from apps.embeddings.selectors.search.vector import search_explain

__all__ = [
    "GUC_DEFAULTS",
    "MAX_EF",
    "MAX_K",
    "SearchParams",
    "Statement",
    "embedding_search",
    "embedding_search_batch",
    "search_explain",
    "search_params_parse",
    "search_sql",
    "search_statement",
    "vector_literal",
]
