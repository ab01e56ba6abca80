"""Builders for API tests: tokens and clients that send them."""

from __future__ import annotations

from django.test import Client

from api.services import token_create

ALL_SCOPES = ["generate", "read", "curate"]


def token_for(user, *, team=None, scopes=None, name: str = "test", expires_at=None) -> str:
    return token_create(
        user=user, name=name, scopes=scopes or ALL_SCOPES, team=team, expires_at=expires_at
    ).secret


def api_client(secret: str | None) -> Client:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return Client(headers=headers)
