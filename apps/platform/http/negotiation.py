"""DRF's content negotiation with the everyday cases answered before any media-type parsing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request


class ContentNegotiation(DefaultContentNegotiation):
    """Same choices as DRF's default, cheaper for what services send.

    A service sends `Accept: */*` (or none, or `application/json`) and `Content-Type:
    application/json`; for those DRF's answer is always the first renderer with its own media type
    and the first parser whose media type equals the content type, but it reaches that by
    tokenising the header and building media-type objects for every renderer on every request.
    Anything else (a browser's Accept list, `?format=`, a format suffix, parameters) goes to DRF.
    """

    def select_renderer(self, request: Request, renderers: Sequence[Any], format_suffix: str | None = None) -> Any:
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        override = self.settings.URL_FORMAT_OVERRIDE
        if (renderers and not format_suffix and accept in ("*/*", renderers[0].media_type)
                and not (override and override in request.query_params)):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)

    def select_parser(self, request: Request, parsers: Sequence[Any]) -> Any:
        content_type = request.content_type
        for parser in parsers:
            if parser.media_type == content_type:
                return parser
            if "*" in parser.media_type:  # a wildcard parser may claim it first: DRF decides
                break
        return super().select_parser(request, parsers)
