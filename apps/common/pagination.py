from rest_framework.pagination import LimitOffsetPagination


class DefaultPagination(LimitOffsetPagination):
    """`?limit=&offset=`, bounded so that no client can ask for an unbounded page."""

    default_limit = 50
    max_limit = 1000
