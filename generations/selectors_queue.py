"""The fair queue, read: whose generation takes the next PixelDojo slot, and where a queued one stands.

When the rate limiter is the bottleneck, slots go round-robin across members (a user, whether through the
pages or an API token): the next slot goes to the member served least recently among those with work
waiting, and within a member to their oldest generation. "Served" is the member's latest PixelDojo call
(``Generation.called_at``, within ``SERVED_HORIZON``; older or none counts as never, and among those the
oldest waiting work goes first). Waiting work is a generation never sent yet (``queued``) that a worker is
waiting for a slot for, or comes back for, or whose message is on its way after submission
(``waiting_until``): a lost message does not hold the line up. A
retry of a call PixelDojo refused is outside the queue: it was served its turn already.

``services/calling.py`` asks ``next_in_line`` under the limiter's turn lock before taking a slot; the pages
show ``queue_places``: a position that interleaves members as the workers will, and when that position's
slot should come, from the limiter's window.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from generations.models import Generation
from generations.ratelimit import LimiterState, limiter_from_settings

logger = logging.getLogger(__name__)

SERVED_HORIZON = timedelta(hours=1)  # a member not called for in this long counts as never served
# A generation waiting in the queue is looked at again at least this often (the worker waiting for its slot
# decides again; one that is not next comes back), and counts as waiting for this much longer than said.
TURN_RECHECK_SECONDS = 10.0
TURN_GRACE_SECONDS = 15.0


def waiting_q(now: datetime) -> Q:
    """Generations waiting in the fair queue at ``now``: never sent, and a worker is after a slot for it."""
    return Q(status=Generation.Status.QUEUED, provider_id="", waiting_until__gte=now)


def _member_order(heads: dict[int, int], now: datetime) -> list[int]:
    """Members (user ids, each with its oldest waiting generation's id) in the order they are served: never
    served first (oldest waiting work first among them), then the one served longest ago (one query)."""
    if len(heads) < 2:
        return list(heads)
    served = dict(
        Generation.objects.filter(user_id__in=list(heads), called_at__gte=now - SERVED_HORIZON)
        .values_list("user_id")
        .annotate(last=Max("called_at"))
        .order_by()
    )

    def key(user_id: int) -> tuple[bool, float, int]:
        last = served.get(user_id)
        return (last is not None, last.timestamp() if last else 0.0, heads[user_id])

    return sorted(heads, key=key)


def next_in_line(*, now: datetime | None = None) -> int | None:
    """The id of the generation that takes the next slot: the oldest waiting one of the member served least
    recently (two queries); None when nothing waits."""
    now = now or timezone.now()
    heads = dict(
        Generation.objects.filter(waiting_q(now)).values_list("user_id").annotate(head=Min("id")).order_by()
    )
    order = _member_order(heads, now)
    return heads[order[0]] if order else None


@dataclass(frozen=True)
class QueuePlace:
    """Where a queued generation stands: ``position`` 1 is next; ``starts_in`` seconds until its slot should
    come, from the limiter's window (None when the limiter could not be read)."""

    position: int
    starts_in: float | None

    @property
    def position_text(self) -> str:
        if self.position == 1:
            return "Next in line"
        return f"{ordinal(self.position)} in line"

    @property
    def starts_text(self) -> str:
        if self.starts_in is None:
            return ""
        if self.starts_in < 1:
            return "starts in a moment"
        if self.starts_in < 60:
            return f"starts in about {max(1, round(self.starts_in))} s"
        return f"starts in about {round(self.starts_in / 60)} min"

    @property
    def text(self) -> str:
        """``3rd in line · starts in about 40 s``"""
        return " · ".join(part for part in (self.position_text, self.starts_text) if part)


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, …"""
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


def queue_places(
    *, generations: Iterable[Generation], now: datetime | None = None, state: LimiterState | None = None
) -> dict[int, QueuePlace]:
    """The place of each of ``generations`` still queued, by id (three queries and one limiter read,
    however many are asked about; none when none is queued).

    Members are interleaved as the workers serve them: each round gives every member with work left one
    slot, in ``next_in_line``'s order. A queued generation no worker is after at the moment (its message is
    on its way) is counted as waiting.
    """
    asked = [g for g in generations if g.status == Generation.Status.QUEUED and not g.provider_id]
    if not asked:
        return {}
    now = now or timezone.now()
    ids = [g.id for g in asked]
    in_queue = Q(waiting_q(now)) | Q(id__in=ids)
    rows = (
        Generation.objects.filter(in_queue)
        .values_list("user_id")
        .annotate(count=Count("id"), head=Min("id"))
        .order_by()
    )
    counts = {user_id: count for user_id, count, _ in rows}
    order = _member_order({user_id: head for user_id, _, head in rows}, now)
    rank = {user_id: index for index, user_id in enumerate(order)}
    earlier: dict[int, list[int]] = defaultdict(list)  # each asked-about member's queue, oldest first
    members = {g.user_id for g in asked}
    queue = Generation.objects.filter(in_queue, user_id__in=members, id__lte=max(ids)).order_by("id")
    for user_id, generation_id in queue.values_list("user_id", "id"):
        earlier[user_id].append(generation_id)

    positions: dict[int, int] = {}
    for generation in asked:
        mine = earlier[generation.user_id]
        behind = mine.index(generation.id)  # this member's generations served before it
        ahead = sum(min(count, behind) for count in counts.values())
        ahead += sum(
            1
            for user_id, count in counts.items()
            if rank[user_id] < rank[generation.user_id] and count > behind
        )
        positions[generation.id] = ahead + 1
    starts = _start_offsets(max(positions.values()), state)
    return {
        generation_id: QueuePlace(
            position=position, starts_in=None if starts is None else starts[position - 1]
        )
        for generation_id, position in positions.items()
    }


def queue_place(*, generation: Generation) -> QueuePlace | None:
    """``queue_places`` of one generation (None when it is not queued)."""
    return queue_places(generations=[generation]).get(generation.id)


def _start_offsets(count: int, state: LimiterState | None) -> list[float] | None:
    if state is None:
        try:
            state = limiter_from_settings().state()
        except (redis.RedisError, OSError) as exc:
            logger.warning("rate limiter unreadable for the queue's estimates (%s)", type(exc).__name__)
            return None
    return state.start_offsets(count)
