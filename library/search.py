"""Prompt search: PostgreSQL full-text search (GIN-indexed), a word-by-word fallback elsewhere (SQLite)."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

FTS_CONFIG = "english"


def search_prompts(queryset: QuerySet, query: str) -> QuerySet:
    """Narrow an image queryset to images whose prompt matches ``query`` (web-search syntax on PostgreSQL,
    against the image's stored ``search_document``; each word in the prompt elsewhere)."""
    if not query:
        return queryset
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery

        return queryset.filter(search_document=SearchQuery(query, config=FTS_CONFIG, search_type="websearch"))
    for word in query.split():
        queryset = queryset.filter(generation__prompt__icontains=word.strip('"'))
    return queryset
