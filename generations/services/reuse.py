"""Taking images already there instead of paying for the same ones again (``selectors.reusable_generation``
finds them; ``generations/fingerprints.py`` says what "the same" means)."""

from __future__ import annotations

from decimal import Decimal

from credits.services import reuse_record
from generations.models import Generation
from teams.models import Team


def generation_reuse(*, user, team: Team | None, generation: Generation, credits: Decimal) -> None:
    """Record that ``user``, submitting in ``team`` (or personal work) a request that would have cost
    ``credits``, took ``generation``'s images instead: nothing is queued or charged, and the credits pages
    count ``credits`` as saved by reuse."""
    reuse_record(user=user, team=team, credits=credits, generation_id=generation.id, model=generation.model)
