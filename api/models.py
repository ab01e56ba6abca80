"""Personal API tokens (stored as digests only) and the idempotency keys of paid POSTs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Scope(models.TextChoices):
    GENERATE = "generate", "Generate (submit prompts, spends credits)"
    READ = "read", "Read (images, generations, credits, downloads)"
    CURATE = "curate", "Curate (favourites, tags, collections)"


class ApiToken(models.Model):
    """A token acting for ``user`` inside ``team`` (``None``: their personal space), with ``scopes``.

    Only the SHA-256 digest of the secret is kept; ``prefix`` (its first characters) lets a person tell
    tokens apart. The user's role in the team is read on every request, never copied here.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    team = models.ForeignKey(
        "teams.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    scopes = models.CharField(max_length=64, help_text="Comma-separated: generate, read, curate.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user_newest")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def scope_list(self) -> list[str]:
        return [scope for scope in self.scopes.split(",") if scope]

    def is_expired(self, *, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and not self.is_expired()


class IdempotencyKey(models.Model):
    """The generation the first POST with this ``Idempotency-Key`` created, per token."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request's parameters.")
    generation = models.ForeignKey("generations.Generation", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_per_token")]

    def __str__(self) -> str:
        return self.key
