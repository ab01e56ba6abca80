"""What the credits pages show but the apps above credits own, handed down without importing them.

Credits sits below generations (DESIGN.md: library → generations → credits → teams) and never imports it,
yet its pages show the credits reserved by work PixelDojo has not answered yet and PixelDojo's quota reports,
which generations owns. So generations hands down one reader for each: its ``AppConfig.ready()`` calls
``register``, and the credits views read through ``reserved_by_user`` and ``quota_state``. The dependency
stays one-way (generations imports credits, to register) and credits' selectors take the figures as
arguments, as any caller could pass them.

Enforcement does not come this way: ``generation_submit`` hands its counter of reserved credits to
``budget_check_submission`` as an argument, which reads it under the budget rows' lock.

With nothing registered (credits without generations) nothing is reserved and no quota report was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol


class QuotaPause(Protocol):
    """What the pages show of one quota report (generations' ``ProviderPause``)."""

    paused_at: datetime
    paused_until: datetime
    cleared_at: datetime | None
    message: str


@dataclass(frozen=True)
class QuotaState:
    """The quota report to show: the pause in force, else the latest of the last days, else none."""

    pause: QuotaPause | None
    active: bool  # new prompts are paused now

    @property
    def reported(self) -> bool:
        return self.pause is not None


class ReservedByUser(Protocol):
    def __call__(self, *, team_id: int) -> dict[int, Decimal]:
        """Credits reserved by each member's work in the team that PixelDojo has not answered yet (by user
        id): the price of that work."""


class QuotaReader(Protocol):
    def __call__(self, *, days: int) -> QuotaState:
        """The quota state now, with reports of the last ``days`` days."""


def _nothing_reserved(*, team_id: int) -> dict[int, Decimal]:
    return {}


def _nothing_reported(*, days: int) -> QuotaState:
    return QuotaState(pause=None, active=False)


_reserved_by_user: ReservedByUser = _nothing_reserved
_quota_state: QuotaReader = _nothing_reported


def register(*, reserved_by_user: ReservedByUser, quota_state: QuotaReader) -> None:
    """Called once by the app that owns generations, when Django starts."""
    global _reserved_by_user, _quota_state
    _reserved_by_user, _quota_state = reserved_by_user, quota_state


def reserved_by_user(*, team_id: int) -> dict[int, Decimal]:
    """Credits reserved by each member's work in the team that PixelDojo has not answered yet (by user id)."""
    return _reserved_by_user(team_id=team_id)


def quota_state(*, days: int = 30) -> QuotaState:
    """PixelDojo's quota now: the pause in force, else the latest report of the last ``days`` days."""
    return _quota_state(days=days)
