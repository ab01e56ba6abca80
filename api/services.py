"""Writes of the API: tokens (create, revoke, authenticate, mark used) and idempotent submissions.

A token's secret is shown once, when it is made; only its SHA-256 digest is stored, so a database leak
gives no usable token. The secret is 32 random bytes: a digest without salt is enough (nothing to guess).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from api.errors import ApiError
from api.models import ApiToken, IdempotencyKey, Scope
from generations.models import Comparison, Generation, Image
from generations.pixeldojo import GenerationRequest
from generations.selectors import reusable_generation
from generations.services import CompareParams, comparison_submit, generation_reuse, generation_submit
from teams.models import Team
from teams.permissions import role_in

TOKEN_PREFIX = "pgt_"  # noqa: S105 - a marker that starts every token, not a secret
VISIBLE_PREFIX_LENGTH = 12  # "pgt_" and 8 characters of the secret: enough to tell tokens apart
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last use is written at most once a minute per token


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def token_create(
    *,
    user,
    name: str,
    scopes: list[str],
    team: Team | None = None,
    expires_at: datetime | None = None,
) -> NewToken:
    """A token for ``user`` in ``team`` (a team they belong to, or ``None``: personal) with ``scopes``."""
    unknown = set(scopes) - set(Scope.values)
    if not scopes or unknown:
        raise ValueError(
            f"Scopes must be some of {', '.join(Scope.values)}; got {', '.join(scopes) or 'none'}."
        )
    if team is not None and role_in(user, team.id) is None:
        raise ValueError(f"{user.get_username()} is not a member of {team.name}.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("The expiry must be in the future.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ordered = [scope for scope in Scope.values if scope in scopes]
    token = ApiToken.objects.create(
        user=user,
        team=team,
        name=name,
        prefix=secret[:VISIBLE_PREFIX_LENGTH],
        digest=token_digest(secret),
        scopes=",".join(ordered),
        expires_at=expires_at,
    )
    return NewToken(token=token, secret=secret)


def token_revoke(*, user, token: ApiToken) -> None:
    """Revoke one of the user's tokens (at once, for every later request); revoking twice is harmless."""
    if token.user_id != user.id:
        raise ValueError("Only its owner can revoke a token.")
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_authenticate(raw: str) -> ApiToken:
    """The usable token with this secret, its user and team loaded; ``ApiError`` 401 otherwise, saying
    whether it is unknown, revoked or expired. Marks it used (at most one write a minute)."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        raise ApiError(401, "token_invalid", "This API token is not valid.")
    token = ApiToken.objects.select_related("user", "team").filter(digest=token_digest(raw)).first()
    if token is None or not token.user.is_active:
        raise ApiError(401, "token_invalid", "This API token is not valid.")
    if token.revoked_at is not None:
        raise ApiError(
            401, "token_revoked", "This API token was revoked; create a new one on /settings/tokens/."
        )
    now = timezone.now()
    if token.is_expired(now=now):
        raise ApiError(
            401, "token_expired", "This API token has expired; create a new one on /settings/tokens/."
        )
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    return token


def _fingerprint(params: GenerationRequest, remix_of: Image | None) -> str:
    """What a request asked for (its parameters, and the image it remixes when it remixes one)."""
    asked: dict[str, object] = dict(params.to_payload())
    if remix_of is not None:
        asked["remix_of"] = str(remix_of.code)
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


def api_generation_submit(
    *,
    token: ApiToken,
    params: GenerationRequest,
    idempotency_key: str | None,
    remix_of: Image | None = None,
) -> tuple[Generation, bool]:
    """Submit ``params`` as the token's user in the token's team, like the form does (``generation_submit``:
    role, pause, budget, the image it remixes); returns the generation and whether it is new.

    With an ``idempotency_key`` the first generation made with it (by this token) is returned again and
    nothing is submitted twice, even for two requests at once: the key's row is written in the submission's
    transaction, and the loser of the unique constraint rolls its submission back (nothing was enqueued: the
    PixelDojo call is queued on commit). The same key with other parameters is refused (409). A key is
    remembered for ``API_IDEMPOTENCY_KEY_HOURS``; after that it is new again.
    """
    submit = partial(generation_submit, user=token.user, params=params, team=token.team, remix_of=remix_of)
    if not idempotency_key:
        return submit(), True
    fingerprint = _fingerprint(params, remix_of)
    earlier = _earlier(token, idempotency_key, fingerprint)
    if earlier is not None:
        return earlier, False
    IdempotencyKey.objects.filter(
        token=token, key=idempotency_key, created_at__lt=_remembered_since()
    ).delete()
    try:
        with transaction.atomic():
            generation = submit()
            IdempotencyKey.objects.create(
                token=token, key=idempotency_key, fingerprint=fingerprint, generation=generation
            )
    except IntegrityError:
        earlier = _earlier(token, idempotency_key, fingerprint)
        if earlier is None:
            raise
        return earlier, False
    return generation, True


def api_comparison_submit(
    *,
    token: ApiToken,
    prompt: str,
    models: list[str],
    params: CompareParams,
    idempotency_key: str | None,
) -> tuple[Comparison, bool]:
    """Compare ``models`` as the token's user in the token's team, like the form does
    (``comparison_submit``); returns the comparison and whether it is new.

    An ``idempotency_key`` works as for ``api_generation_submit``: the key's row (pointing at the
    comparison's first generation) is written in the comparison's transaction, so a retried POST returns
    the first comparison and nothing is paid twice; the same key with other parameters is refused (409).
    """

    def submit() -> Comparison:
        user, team = token.user, token.team
        return comparison_submit(user=user, team=team, prompt=prompt, models=models, params=params)

    if not idempotency_key:
        return submit(), True
    body = {"comparison": {"prompt": prompt, "models": models, **asdict(params)}}
    fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    earlier = _earlier_comparison(token, idempotency_key, fingerprint)
    if earlier is not None:
        return earlier, False
    IdempotencyKey.objects.filter(
        token=token, key=idempotency_key, created_at__lt=_remembered_since()
    ).delete()
    try:
        with transaction.atomic():
            comparison = submit()
            first = comparison.generations.order_by("id").first()
            IdempotencyKey.objects.create(
                token=token, key=idempotency_key, fingerprint=fingerprint, generation=first
            )
    except IntegrityError:
        earlier = _earlier_comparison(token, idempotency_key, fingerprint)
        if earlier is None:
            raise
        return earlier, False
    return comparison, True


def _earlier_comparison(token: ApiToken, key: str, fingerprint: str) -> Comparison | None:
    generation = _earlier(token, key, fingerprint)
    if generation is None:
        return None
    if generation.comparison_id is None:  # the same fingerprint cannot name a plain generation
        raise ApiError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a request with other parameters; use a new key.",
        )
    return Comparison.objects.get(pk=generation.comparison_id)


def _remembered_since() -> datetime:
    return timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_KEY_HOURS)


def _earlier(token: ApiToken, key: str, fingerprint: str) -> Generation | None:
    row = (
        IdempotencyKey.objects.filter(token=token, key=key, created_at__gte=_remembered_since())
        .select_related("generation")
        .first()
    )
    if row is None:
        return None
    if row.fingerprint != fingerprint:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a request with other parameters; use a new key.",
        )
    return row.generation


def api_generation_reuse(*, token: ApiToken, fingerprint: str, credits: Decimal) -> Generation | None:
    """The generation in the token's space that already holds what a request with this reuse key asks for,
    recorded as reused (``credits``, what the request would have cost, saved; nothing charged); ``None``
    when there is none (the request is then submitted as usual)."""
    generation = reusable_generation(user=token.user, team=token.team, fingerprint=fingerprint)
    if generation is not None:
        generation_reuse(user=token.user, team=token.team, generation=generation, credits=credits)
    return generation


def idempotency_keys_forget_old() -> int:
    """Delete the idempotency keys older than ``API_IDEMPOTENCY_KEY_HOURS`` (they no longer answer);
    returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=_remembered_since()).delete()
    return deleted
