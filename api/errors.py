"""The API's one error shape: ``{"error": {"code": "…", "message": "…"}}`` with the HTTP status it means."""

from __future__ import annotations


class ApiError(Exception):
    """A refusal the API answers with ``status``, a stable ``code`` and a sentence for a person."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}
