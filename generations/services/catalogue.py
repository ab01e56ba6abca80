"""Keeping PixelDojo's model catalogue: fetched daily (beat) and on demand (/ops/), never emptied by a
failure.

A refresh reads the list, keeps the image models, reads each one's request schema, and replaces the stored
catalogue in one transaction. When the list cannot be read (PixelDojo unreachable, an error, an answer with
no image model) nothing is changed and the failure is recorded for ``/ops/``; a model whose schema cannot be
read keeps the schema it had (or, new, is stored as not offered, saying why).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from generations.catalogue import UnreadableCost, UnsupportedSchema, parse_cost_rule, read_schema
from generations.models import CatalogueModel, CatalogueRefresh
from generations.pixeldojo import PixelDojoClient, PixelDojoError, client_from_settings

logger = logging.getLogger(__name__)

MAX_API_ID = 100
SCHEMA_KEYS = ("requestSchema", "request_schema", "inputSchema", "schema")


def _text(value: Any, limit: int) -> str:
    return " ".join(str(value or "").split())[:limit]


def _is_image_model(entry: dict[str, Any]) -> bool:
    api_id = entry.get("apiId")
    modality = str(entry.get("modality") or entry.get("type") or "").lower()
    return isinstance(api_id, str) and 0 < len(api_id) <= MAX_API_ID and modality == "image"


def _schema_of(model: dict[str, Any]) -> Any:
    return next((model[key] for key in SCHEMA_KEYS if isinstance(model.get(key), dict)), None)


def _unsupported_reason(credit_cost: Any, schema: Any) -> tuple[str, list[str]]:
    """(why the form cannot offer the model, or ""; the optional parameters it leaves out)."""
    try:
        parse_cost_rule(credit_cost)
    except UnreadableCost as exc:
        return f"Its cost cannot be read: {exc}.", []
    try:
        reading = read_schema(schema)
    except UnsupportedSchema as exc:
        return f"The form cannot render it: {exc}.", []
    return "", list(reading.left_out)


def catalogue_refresh_due(*, now: datetime | None = None) -> bool:
    """Whether the catalogue should be fetched now: no good fetch in ``PIXELDOJO_CATALOGUE_REFRESH_SECONDS``
    and no attempt at all in ``PIXELDOJO_CATALOGUE_RETRY_SECONDS``."""
    now = now or timezone.now()
    fresh_since = now - timedelta(seconds=settings.PIXELDOJO_CATALOGUE_REFRESH_SECONDS)
    tried_since = now - timedelta(seconds=settings.PIXELDOJO_CATALOGUE_RETRY_SECONDS)
    recent = CatalogueRefresh.objects.filter(Q(ok=True, at__gt=fresh_since) | Q(at__gt=tried_since))
    return not recent.exists()


def catalogue_refresh(*, client: PixelDojoClient | None = None) -> CatalogueRefresh:
    """Fetch PixelDojo's catalogue and store its image models; on failure keep the stored one as it is."""
    client = client or client_from_settings()
    try:
        listed = [entry for entry in client.list_models() if _is_image_model(entry)]
    except PixelDojoError as exc:
        logger.warning("catalogue not fetched: %s (%s)", exc, exc.code)
        return CatalogueRefresh.objects.create(
            ok=False, message=f"PixelDojo's model list could not be read: {exc} The catalogue was kept."
        )
    if not listed:
        return CatalogueRefresh.objects.create(
            ok=False, message="PixelDojo's model list named no image model. The catalogue was kept."
        )
    known = {row.api_id: row for row in CatalogueModel.objects.all()}
    now = timezone.now()
    rows: list[CatalogueModel] = []
    unread: list[str] = []
    for entry in {entry["apiId"]: entry for entry in listed}.values():
        api_id = entry["apiId"]
        row = known.get(api_id) or CatalogueModel(api_id=api_id)
        row.name = _text(entry.get("name") or api_id, 200)
        row.description = _text(entry.get("description"), 2000)
        row.credit_cost = entry.get("creditCost")
        row.fetched_at = now
        try:
            schema = _schema_of(entry) or _schema_of(client.get_model(api_id))
        except PixelDojoError as exc:
            unread.append(api_id)
            logger.warning("catalogue: the schema of %s could not be read: %s", api_id, exc)
        else:
            row.request_schema, row.schema_fetched_at = schema, now
        row.unsupported_reason, row.left_out = _unsupported_reason(row.credit_cost, row.request_schema)
        if row.request_schema is None and api_id in unread:
            row.unsupported_reason = "Its request schema could not be fetched yet."
        rows.append(row)
    with transaction.atomic():
        CatalogueModel.objects.exclude(api_id__in=[row.api_id for row in rows]).delete()
        for row in rows:
            row.save()
        offered = sum(row.offered for row in rows)
        message = f"{len(rows)} image models listed, {offered} offered."
        if unread:
            message += f" Schemas not read (kept as they were): {', '.join(sorted(unread))}."
        refresh = CatalogueRefresh.objects.create(ok=True, message=message, image_models=len(rows))
    logger.info("catalogue refreshed: %s", message)
    return refresh
