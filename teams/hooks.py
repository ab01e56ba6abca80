"""What deleting a team means for what the apps above teams hold for it, without importing them.

Teams sits at the bottom (DESIGN.md: library → generations → credits → teams), yet deleting a team deletes
its images and collections, drops its budgets, keeps its ledger, and must wait for work still in flight. So
each app that holds something for a team registers a participant in its ``AppConfig.ready()``:

- ``summarise(team_id=…)`` returns the fields of ``TeamDeletionSummary`` it knows (counts for the confirmation
  page, and ``work_in_flight``, which refuses the deletion);
- ``purge(team_id=…, actor=…)`` removes what it holds, inside the deletion's transaction, after the summary
  said nothing is in flight. Purges must not depend on each other's order.

With nothing registered (teams alone) a team holds nothing but its members and invitations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class TeamDeletionSummary:
    """What deleting a team does, as its confirmation page says it."""

    images: int = 0  # deleted, with their stored files
    collections: int = 0  # deleted
    ledger_entries: int = 0  # kept: the ledger is never deleted
    ledger_credits: Decimal = Decimal(0)  # the team's spend in those entries
    work_in_flight: int = 0  # generations queued, running or saving: the deletion waits for them


class Summarise(Protocol):
    def __call__(self, *, team_id: int) -> dict[str, int | Decimal]:
        """Some fields of ``TeamDeletionSummary`` for this team."""


class Purge(Protocol):
    def __call__(self, *, team_id: int, actor) -> None:
        """Remove what this app holds for the team (``actor``: the owner deleting it)."""


@dataclass(frozen=True)
class _Participant:
    summarise: Summarise
    purge: Purge | None


_participants: dict[str, _Participant] = {}


def register_deletion_participant(*, name: str, summarise: Summarise, purge: Purge | None = None) -> None:
    """Called once per app when Django starts (registering the same ``name`` again replaces it)."""
    _participants[name] = _Participant(summarise=summarise, purge=purge)


def deletion_summary(*, team_id: int) -> TeamDeletionSummary:
    summary = TeamDeletionSummary()
    for participant in _participants.values():
        summary = replace(summary, **participant.summarise(team_id=team_id))
    return summary


def deletion_purge(*, team_id: int, actor) -> None:
    for participant in _participants.values():
        if participant.purge is not None:
            participant.purge(team_id=team_id, actor=actor)
