"""What a team's deletion removes among generations (registered with ``teams.hooks``)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from generations.models import Comparison, Generation, Image


def team_generations_delete(*, team_id: int, actor) -> int:
    """Delete the team's finished generations that hold no image (failed ones, say, with their prompts),
    and its comparisons (their prompts; their generations stay, as any other of the team's).

    Generations with images go when the library deletes their last image; work still in flight is never
    touched (the team's deletion refuses to start while there is any). Returns how many were deleted.
    """
    Comparison.objects.filter(team_id=team_id).delete()
    empty = Generation.objects.filter(team_id=team_id).exclude(status__in=Generation.ACTIVE_STATUSES)
    empty = empty.filter(~Exists(Image.objects.filter(generation=OuterRef("pk"))))
    deleted, _ = empty.delete()
    return deleted
