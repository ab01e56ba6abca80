"""Prompt search: PostgreSQL full-text search (GIN-indexed), a word-by-word fallback elsewhere (SQLite)."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

FTS_CONFIG = "english"


def search_prompts(queryset: QuerySet, query: str, *, prompt_field: str = "generation__prompt") -> QuerySet:
    """Narrow ``queryset`` to rows whose prompt matches ``query`` (web-search syntax on PostgreSQL)."""
    if not query:
        return queryset
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        return queryset.annotate(prompt_document=SearchVector(prompt_field, config=FTS_CONFIG)).filter(
            prompt_document=SearchQuery(query, config=FTS_CONFIG, search_type="websearch")
        )
    for word in query.split():
        queryset = queryset.filter(**{f"{prompt_field}__icontains": word.strip('"')})
    return queryset
