"""Catalogue models run as PixelDojo jobs: keep the accepted job, poll it, record its outcome once.

``POST /models/{apiId}/run`` answering 2xx is money committed: the job's id and its charge are written in one
statement's transaction before anything else (``job_keep_submission``), so it is never submitted again. From
then on only ``GET /jobs/{jobId}`` is asked. Polls form one chain per job: each message carries the poll count
it expects, and the first to claim that count wins, so a PixelDojo completion webhook (an immediate poll) or
the sweeper (a lost message, a restarted worker) never doubles the chain. The webhook's payload is never read
for the outcome: only a poll's answer is.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from credits.amounts import credits_label, split
from credits.models import LedgerEntry
from credits.services import ledger_charge_answer, ledger_refund_provider
from generations import tasks
from generations.models import Generation
from generations.pixeldojo import (
    GenerationResult,
    JobState,
    JobSubmission,
    PixelDojoError,
    RateLimited,
    client_from_settings,
)
from pixelgallery import events

logger = logging.getLogger(__name__)

Status = Generation.Status
POLLING_STATUSES = ("pending", "processing")


def job_first_poll_delay() -> float:
    return settings.PIXELDOJO_JOB_POLL_SECONDS


def job_poll_delay(polls: int) -> float:
    """Seconds before poll number ``polls + 1``: 1.5 times longer each time, capped, with a little jitter."""
    base = settings.PIXELDOJO_JOB_POLL_SECONDS * 1.5 ** max(0, polls - 1)
    return min(settings.PIXELDOJO_JOB_POLL_MAX_SECONDS, base) * random.uniform(1.0, 1.1)


def job_keep_submission(*, generation_id: int, submission: JobSubmission) -> bool:
    """The first write after PixelDojo accepted a job: its id, the answer and the charge, together.

    The charge is what PixelDojo said the job costs, else the generation's price (its images at the model's
    cost rule); failed images are refunded when the job ends. False when another delivery kept a job first.
    """
    now = timezone.now()
    with transaction.atomic():
        kept = Generation.objects.filter(id=generation_id, provider_id="").update(
            provider_id=submission.id,
            provider_answer=submission.raw_answer,
            job_status=submission.status if submission.status in POLLING_STATUSES else "pending",
            job_next_poll_at=now + timedelta(seconds=job_first_poll_delay()),
            lease_until=None,
            error_code="",
            error_message="",
            updated_at=now,
        )
        if not kept:
            return False
        generation = Generation.objects.get(id=generation_id)
        cost = submission.credits if submission.credits is not None else generation.price or Decimal(0)
        note = f"PixelDojo job {submission.id}: {generation.num_outputs} image(s) asked"
        ledger_charge_answer(generation=generation, credits=cost, note=note)
        transaction.on_commit(partial(_schedule_poll, generation_id, 0, job_first_poll_delay()))
    logger.info("generation %s: PixelDojo job %s accepted", generation.code, submission.id)
    return True


def _schedule_poll(generation_id: int, polls: int, delay: float) -> None:
    tasks.poll_job.apply_async((generation_id, polls), countdown=max(0.0, delay))


def job_poll(*, generation_id: int, polls: int) -> float | None:
    """Poll the job of a generation once, if this message still holds the chain (``polls`` matches).

    Returns the seconds after which poll ``polls + 1`` is due, or ``None`` when the chain ends here (the
    job's outcome is recorded, or another message holds the chain).
    """
    now = timezone.now()
    claimed = Generation.objects.filter(
        id=generation_id, status=Status.GENERATING, job_status__in=POLLING_STATUSES, job_polls=polls
    ).update(
        job_polls=polls + 1,
        job_next_poll_at=now + timedelta(seconds=settings.PIXELDOJO_JOB_POLL_MAX_SECONDS * 2),
        updated_at=now,
    )
    if not claimed:
        return None
    generation = Generation.objects.get(id=generation_id)
    if now - (generation.called_at or generation.created_at) > timedelta(
        seconds=settings.PIXELDOJO_RETENTION_SECONDS
    ):
        _fail_job(generation, code="job_expired", message=_expired_message(generation), refund=False)
        return None
    try:
        state = client_from_settings().get_job(generation.provider_id)
    except RateLimited as exc:
        delay = exc.retry_after + random.uniform(0, 1)
    except PixelDojoError as exc:
        if exc.status == 404:  # PixelDojo no longer knows the job: nothing more will come of it
            _fail_job(
                generation,
                code=exc.code,
                message=f"PixelDojo could not report on the job ({exc}). It was charged when it was "
                "accepted; an operator can refund it.",
                refund=False,
            )
            return None
        # Anything else (5xx, a network fault, a key an operator must fix, an unreadable answer) leaves the
        # paid job waiting, polled again later: it is never failed for it.
        delay = job_poll_delay(polls + 1)
        logger.warning("generation %s: polling the job failed (%s)", generation.code, exc.code)
    else:
        if state.is_terminal:
            job_record_outcome(generation_id=generation_id, state=state)
            return None
        Generation.objects.filter(id=generation_id, job_polls=polls + 1).update(job_status=state.status)
        delay = job_poll_delay(polls + 1)
    Generation.objects.filter(id=generation_id, job_polls=polls + 1).update(
        job_next_poll_at=timezone.now() + timedelta(seconds=delay)
    )
    return delay


def job_poll_now(*, generation_id: int) -> bool:
    """Poll a job at once (PixelDojo said it finished): a message that takes over the chain. True when the
    generation has a job being polled."""
    generation = Generation.objects.filter(id=generation_id).first()
    if generation is None or not generation.is_polling_job:
        return False
    _schedule_poll(generation_id, generation.job_polls, 0)
    return True


def jobs_poll_missed(*, stale_before) -> int:
    """Start a new chain for every job whose next poll is long overdue (a lost message, a dead worker)."""
    missed = Generation.objects.filter(
        status=Status.GENERATING, job_status__in=POLLING_STATUSES, job_next_poll_at__lt=stale_before
    ).exclude(provider_id="")
    count = 0
    for generation_id, polls in missed.values_list("id", "job_polls"):
        Generation.objects.filter(id=generation_id, job_polls=polls).update(
            job_next_poll_at=timezone.now() + timedelta(seconds=settings.PIXELDOJO_JOB_POLL_MAX_SECONDS)
        )
        _schedule_poll(generation_id, polls, 0)
        count += 1
    return count


def job_for_webhook(job_id: str) -> int | None:
    """The generation whose job has this id and is still being polled, if any."""
    return (
        Generation.objects.filter(
            provider_id=job_id, status=Status.GENERATING, job_status__in=POLLING_STATUSES
        )
        .values_list("id", flat=True)
        .first()
    )


def job_record_outcome(*, generation_id: int, state: JobState) -> None:
    """Record a finished job once: an image per distinct output up to the number asked (downloads queued),
    and a refund for what did not arrive (PixelDojo's own figure when it reports one)."""
    from generations.services.calling import images_create, images_to_keep

    with transaction.atomic():
        generation = Generation.objects.select_for_update().get(id=generation_id)
        if not generation.is_polling_job:
            return  # another poll recorded it first
        result = GenerationResult(
            id=generation.provider_id,
            created=None,
            images=tuple(url for url, _ in state.outputs),
            model=generation.model,
            prompt=generation.prompt,
            image_details=tuple(about for _, about in state.outputs),
        )
        kept, anomaly = images_to_keep(result, asked=generation.num_outputs or 1)
        if state.status == "failed" or not kept:
            reason = f": {state.error}" if state.error else ""
            _fail_job(
                generation,
                code="job_failed",
                message=f"PixelDojo's job failed{reason}.",
                refund=True,
                used=state.credits_used,
            )
            return
        charged = _charged(generation)
        missing = (generation.num_outputs or 1) - len(kept)
        if state.credits_used is not None:
            refund = max(Decimal(0), charged - state.credits_used)
        else:
            refund = charged * missing / (generation.num_outputs or 1)
        generation.job_status = "completed"
        generation.answer_anomaly = anomaly
        generation.status = Status.SAVING
        generation.provider_created_at = timezone.now()
        generation.lease_until = generation.job_next_poll_at = None
        generation.error_code = generation.error_message = ""
        if generation.seed in (None, -1):
            seed = kept[0][1].get("seed")
            if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**63:
                generation.seed = seed
        generation.save()
        images = images_create(generation, kept)
        if refund > 0:
            _refund(generation, refund, parts=max(1, missing), what="image that PixelDojo could not make")
        for image in images:
            transaction.on_commit(partial(tasks.persist_image.delay, image.id))
    logger.info(
        "generation %s: job %s completed with %d images (%d failed)",
        generation.code,
        generation.provider_id,
        len(images),
        missing,
    )


def _charged(generation: Generation) -> Decimal:
    """What the job's acceptance was charged (the generation-wide charge row)."""
    row = LedgerEntry.objects.filter(
        generation_id=generation.id, kind=LedgerEntry.Kind.CHARGE, image__isnull=True
    ).first()
    return row.credits if row is not None else Decimal(0)


def _refund(generation: Generation, credits: Decimal, *, parts: int, what: str) -> None:
    """Refund ``credits`` as ``parts`` rows, one per failed image (or one for the whole job)."""
    for number, share in enumerate(split(credits, parts), start=1):
        if share > 0:
            note = f"PixelDojo job {generation.provider_id}: refund for {what} ({number} of {parts})"
            ledger_refund_provider(generation=generation, credits=share, note=note)


def _fail_job(
    generation: Generation, *, code: str, message: str, refund: bool, used: Decimal | None = None
) -> None:
    """End a job's generation as failed; with ``refund``, give back what it was charged beyond ``used``."""
    with transaction.atomic():
        locked = Generation.objects.select_for_update().get(id=generation.id)
        if locked.status != Status.GENERATING:
            return
        charged = _charged(locked)
        back = max(Decimal(0), charged - (used or Decimal(0))) if refund else Decimal(0)
        if back > 0:
            _refund(
                locked,
                back,
                parts=max(1, locked.num_outputs or 1) if used is None else 1,
                what="a failed job",
            )
            message = f"{message} {credits_label(back)} {'was' if back == 1 else 'were'} refunded."
        now = timezone.now()
        Generation.objects.filter(id=locked.id).update(
            status=Status.FAILED,
            job_status="failed",
            job_next_poll_at=None,
            error_code=code[:64],
            error_message=message,
            finished_at=now,
            updated_at=now,
            lease_until=None,
        )
        transaction.on_commit(partial(events.publish, "generation.failed", generation_id=locked.id))


def _expired_message(generation: Generation) -> str:
    return (
        f"PixelDojo's job {generation.provider_id} did not finish before PixelDojo deletes its images. "
        "It was charged when it was accepted; an operator can refund it."
    )
