"""Calling PixelDojo for a queued generation: its member's turn (the fair queue), lease, rate limit, call,
record the answer, charge credits."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from functools import partial

import redis
from django import db
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from credits.amounts import credits_label, reported
from credits.services import ledger_charge_answer, ledger_charge_images, provider_balance_record
from generations import tasks
from generations.models import Generation, Image
from generations.pixeldojo import (
    GenerationResult,
    PixelDojoError,
    QuotaExceeded,
    RateLimited,
    client_from_settings,
    model_cost,
    parse_result,
)
from generations.ratelimit import ProviderLimit, RateLimiter, limiter_from_settings
from generations.selectors_queue import TURN_GRACE_SECONDS, TURN_RECHECK_SECONDS, next_in_line
from generations.services.jobs import job_keep_submission
from generations.services.pause import provider_pause_active, provider_pause_start
from pixelgallery import events
from pixelgallery.logging import redact
from pixelgallery.moments import absolute_text

logger = logging.getLogger(__name__)

Status = Generation.Status


def retry_delay(exc: Exception, attempts: int) -> float:
    """Seconds before the next try: PixelDojo's Retry-After, else exponential back-off with full jitter."""
    if isinstance(exc, RateLimited):
        return exc.retry_after + random.uniform(0, 1)
    return 1.0 + random.uniform(0, min(300.0, 2.0 * 2 ** max(0, attempts - 1)))


def generation_run(*, generation_id: int) -> float | None:
    """Call PixelDojo once for a generation that still needs it.

    Returns the seconds after which the caller should run this again (rate limit, lease held by another
    worker, retryable error), or ``None`` when there is nothing more to do for this call.
    """
    generation = Generation.objects.filter(id=generation_id).first()
    if generation is None or not generation.is_awaiting_answer:
        return None
    if (pause := provider_pause_active()) is not None:
        generation_fail(generation_id=generation_id, code=pause.code, message=_paused_message(pause))
        return None
    if generation.attempts >= settings.PIXELDOJO_MAX_ATTEMPTS:
        _fail_after_max_attempts(generation)
        return None
    if (held := _lease_remaining(generation)) > 0:
        return held
    # A first call waits for its member's turn (the fair queue); a retry was served its turn already.
    in_queue = generation.status == Status.QUEUED
    limiter = limiter_from_settings()
    if in_queue:
        _wait_in_line(generation_id, seconds=TURN_RECHECK_SECONDS)
        if next_in_line() != generation_id:  # a first look without the lock; decided again under it
            return _recheck_delay(limiter)
    # The lease comes first: a duplicate message (redelivery, sweeper) stops here without using a slot.
    if not _claim(generation_id):
        return _lease_remaining(Generation.objects.get(id=generation_id)) or None
    try:
        wait = _take_slot(generation_id, limiter, in_queue=in_queue)
    except redis.RedisError as exc:
        logger.warning("rate limiter unavailable (%s); trying again shortly", type(exc).__name__)
        _release(generation_id)
        return 5.0
    if wait:
        _release(generation_id, waiting=wait if in_queue else None)  # not stale: the sweeper leaves it
        return wait
    _pass_the_turn(generation_id)
    generation.refresh_from_db()
    try:
        with _lease_renewed(generation_id):
            client = client_from_settings()
            if generation.uses_job_api:
                submitted = client.run_job(generation.model, generation.job_input)
            else:
                result = client.generate(generation.to_request())
    except PixelDojoError as exc:
        if exc.answered:  # a 2xx that cannot be used: PixelDojo may have charged, never ask again
            _fail_with_answer(generation, exc)
            _observe(limiter, exc.rate_limit)
            return None
        _observe(limiter, exc.rate_limit)
        return _handle_error(generation, exc)
    if generation.uses_job_api:
        if not job_keep_submission(generation_id=generation_id, submission=submitted):
            logger.warning("generation %s: a second job (%s) was not kept", generation.code, submitted.id)
        _observe(limiter, submitted.rate_limit)
        return None
    if _keep_answer(generation_id, result):
        generation_record_answer(generation_id=generation_id, result=result)
    else:  # a second call for it was answered too (a lease that ran out): PixelDojo may have charged twice
        logger.warning("generation %s: a second answer (%s) was not kept", generation.code, result.id)
    _observe(limiter, result.rate_limit)
    return None


def _take_slot(generation_id: int, limiter: RateLimiter, *, in_queue: bool) -> float:
    """Take a slot when one is free and it is this generation's turn, and mark it called, all under the
    limiter's turn lock. 0 once called; otherwise the seconds to come back after: not its turn (another
    member's, or one of its own older ones), or no slot within ``PIXELDOJO_RATE_WAIT_MAX_SECONDS``.

    While it waits, it wakes at least every ``TURN_RECHECK_SECONDS`` to decide again (a member served less
    recently may have submitted meanwhile) and to say it is still waiting.
    """
    deadline = time.monotonic() + settings.PIXELDOJO_RATE_WAIT_MAX_SECONDS
    while True:
        with limiter.turn():
            my_turn = not in_queue or next_in_line() == generation_id
            if my_turn and (wait := limiter.try_acquire()) <= 0:
                now = timezone.now()
                Generation.objects.filter(id=generation_id).update(
                    status=Status.GENERATING,
                    attempts=F("attempts") + 1,
                    called_at=now,
                    lease_until=now + timedelta(seconds=_lease_seconds()),
                    updated_at=now,
                )
                return 0.0
        if not my_turn:
            return _recheck_delay(limiter)
        if time.monotonic() + wait > deadline:
            return wait
        nap = min(wait, TURN_RECHECK_SECONDS)
        if in_queue:
            _wait_in_line(generation_id, seconds=nap)
        time.sleep(nap)


def _wait_in_line(generation_id: int, *, seconds: float) -> None:
    """Say that a worker waits for a slot for this generation, or asks again, within ``seconds``."""
    now = timezone.now()
    Generation.objects.filter(id=generation_id, status=Status.QUEUED).update(
        waiting_until=now + timedelta(seconds=seconds + TURN_GRACE_SECONDS), updated_at=now
    )


def _recheck_delay(limiter: RateLimiter) -> float:
    """When a generation that is not next looks again: about when the slot after the next one comes, between
    1 s and ``TURN_RECHECK_SECONDS`` (the next one's worker is told at once: ``_pass_the_turn``)."""
    try:
        second = limiter.state().start_offsets(2)[1]
    except (redis.RedisError, OSError) as exc:
        logger.warning("rate limiter unreadable (%s); looking again shortly", type(exc).__name__)
        second = TURN_RECHECK_SECONDS / 2
    return min(TURN_RECHECK_SECONDS, max(1.0, second)) + random.uniform(0, 0.5)


def _pass_the_turn(generation_id: int) -> None:
    """A slot was taken: wake the generation whose turn comes next, so it waits for the next slot at once,
    unless a worker holds it already (a message more for it costs nothing: the lease stops a second one)."""
    try:
        following = next_in_line()
        waiting = following is not None and following != generation_id
        if waiting and Generation.objects.filter(id=following).unleased().exists():
            tasks.run_generation.delay(following)
    except Exception:  # the call goes ahead; the next one's own task comes back within TURN_RECHECK_SECONDS
        logger.exception("generation %s: the next in line could not be woken", generation_id)


def _observe(limiter: RateLimiter, rate_limit: ProviderLimit | None) -> None:
    """Share PixelDojo's own count with every worker; a limiter that cannot take it costs nothing else."""
    try:
        limiter.observe(rate_limit)
    except (redis.RedisError, OSError) as exc:
        logger.warning("rate limiter could not take PixelDojo's rate-limit headers (%s)", type(exc).__name__)


def _lease_seconds() -> float:
    """How long a call may take (its deadline: connecting and the whole answer), plus a margin."""
    return settings.PIXELDOJO_CALL_DEADLINE_SECONDS + settings.PIXELDOJO_LEASE_MARGIN_SECONDS


@contextmanager
def _lease_renewed(generation_id: int) -> Iterator[None]:
    """While the call is in flight, push the lease forward every ``PIXELDOJO_LEASE_RENEW_SECONDS``.

    The call's deadline already ends it within the lease; renewing keeps the lease honest whatever happens
    to the clock or the settings: the sweeper re-queues only unleased work, and a worker that dies stops
    renewing, so its lease then runs out.
    """
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(settings.PIXELDOJO_LEASE_RENEW_SECONDS):
                lease_until = timezone.now() + timedelta(seconds=_lease_seconds())
                Generation.objects.filter(id=generation_id, status=Status.GENERATING, provider_id="").update(
                    lease_until=lease_until
                )
        except Exception:
            logger.exception("generation %s: the lease could not be renewed", generation_id)
        finally:
            db.connection.close()

    thread = threading.Thread(target=renew, name=f"lease-{generation_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _lease_remaining(generation: Generation) -> float:
    if generation.lease_until is None:
        return 0.0
    return max(0.0, (generation.lease_until - timezone.now()).total_seconds())


def _claim(generation_id: int) -> bool:
    """Take the lease: only one worker at a time waits for a slot and calls PixelDojo for a generation."""
    now = timezone.now()
    lease = settings.PIXELDOJO_RATE_WAIT_MAX_SECONDS + _lease_seconds()
    return bool(
        Generation.objects.awaiting_answer()
        .unleased(now=now)
        .filter(id=generation_id)
        .update(lease_until=now + timedelta(seconds=lease), updated_at=now)
    )


def _release(generation_id: int, *, waiting: float | None = None) -> None:
    """Give the lease back without calling PixelDojo (no slot yet, or not its turn); ``waiting``: the
    seconds after which its task asks again, while it stays in line."""
    now = timezone.now()
    changes = {"lease_until": None, "updated_at": now}
    if waiting is not None:
        changes["waiting_until"] = now + timedelta(seconds=waiting + TURN_GRACE_SECONDS)
    Generation.objects.filter(id=generation_id, provider_id="").update(**changes)


def _handle_error(generation: Generation, exc: PixelDojoError) -> float | None:
    if not exc.retryable:
        if isinstance(exc, QuotaExceeded):
            provider_pause_start(code=exc.code, message=str(exc))
        generation_fail(generation_id=generation.id, code=exc.code, message=str(exc))
        return None
    if generation.attempts >= settings.PIXELDOJO_MAX_ATTEMPTS:
        generation_fail(generation_id=generation.id, code=exc.code, message=_gave_up_message(exc))
        return None
    delay = retry_delay(exc, generation.attempts)
    Generation.objects.filter(id=generation.id, status=Status.GENERATING).update(
        lease_until=None,
        error_code=exc.code,
        error_message=f"{exc} (try {generation.attempts + 1} in {delay:.0f} s)",
    )
    logger.info("generation %s: %s, retrying in %.1f s", generation.code, exc.code, delay)
    return delay


def _gave_up_message(exc: PixelDojoError) -> str:
    return (
        f"PixelDojo did not answer after {settings.PIXELDOJO_MAX_ATTEMPTS} tries ({exc.code}). "
        "No credits were charged; please submit it again later."
    )


def _fail_after_max_attempts(generation: Generation) -> None:
    message = (
        f"PixelDojo did not answer after {generation.attempts} tries"
        f"{f' ({generation.error_code})' if generation.error_code else ''}. "
        "No credits were charged; please submit it again later."
    )
    generation_fail(generation_id=generation.id, code=generation.error_code or "gave_up", message=message)


def _paused_message(pause) -> str:
    return (
        f"Not sent: PixelDojo reported the account's quota exhausted at "
        f"{absolute_text(pause.paused_at)}. No credits were charged."
    )


ANSWERED_BUT_UNUSABLE = (
    "PixelDojo answered, but the answer could not be recorded; it may have charged your account. "
    "It was not sent again; an operator can see the answer on the operations page."
)


def _keep_answer(generation_id: int, result: GenerationResult) -> bool:
    """The first write after a 2xx, one statement: keep the raw answer and mark the generation answered.

    From here on nothing sends it to PixelDojo again (claiming and the sweeper both require no answer),
    whatever happens while the answer is read and recorded. False when another delivery kept one first.
    """
    return bool(
        Generation.objects.filter(id=generation_id, provider_id="").update(
            provider_id=result.id[:128] or "(no id)",
            provider_answer=result.raw_answer,
            lease_until=None,
            updated_at=timezone.now(),
        )
    )


def _fail_with_answer(generation: Generation, exc: PixelDojoError) -> None:
    """A 2xx that holds no usable images (unreadable, or an error inside it): fail it, keeping the answer."""
    if isinstance(exc, QuotaExceeded):
        provider_pause_start(code=exc.code, message=str(exc))
    _fail_answered(
        generation_id=generation.id, code=exc.code, message=str(exc), provider_answer=exc.raw_answer or ""
    )
    logger.warning(
        "generation %s: PixelDojo answered 2xx without usable images (%s)", generation.code, exc.code
    )


def _fail_answered(
    *,
    generation_id: int,
    code: str,
    message: str,
    provider_answer: str | None = None,
    credits_used: Decimal | None = None,
) -> None:
    """Fail a generation PixelDojo answered (2xx) without a usable image, and charge that answer once: what
    PixelDojo reported, else the generation's price. A 2xx is money spent; an operator can refund it."""
    with transaction.atomic():
        generation = Generation.objects.select_for_update().filter(id=generation_id).first()
        if generation is None or generation.status not in (Status.QUEUED, Status.GENERATING):
            return
        cost = credits_used if credits_used is not None else _price(generation)
        spent = f"{credits_label(cost)} {'was' if cost == 1 else 'were'} recorded as spent"
        generation_fail(
            generation_id=generation_id,
            code=code,
            message=f"{message} {spent}; an operator can refund {'it' if cost == 1 else 'them'}.",
            provider_answer=provider_answer,
        )
        note = f"PixelDojo answered 2xx without a usable image ({code})"
        ledger_charge_answer(generation=generation, credits=cost, note=note)


def _price(generation: Generation) -> Decimal:
    """What the generation was priced at when submitted (older rows: its images at the model's cost)."""
    if generation.price is not None:
        return generation.price
    return generation.num_outputs * model_cost(generation.model)


def _unit_price(generation: Generation) -> Decimal:
    """Credits per image as priced when submitted (the model's cost rule then), else the model's cost."""
    if generation.price is not None and generation.num_outputs:
        return generation.price / generation.num_outputs
    return model_cost(generation.model)


def generation_record_answer(*, generation_id: int, result: GenerationResult) -> None:
    """Record a kept answer's images and charges; if that fails, fail the generation (never re-ask)."""
    try:
        _record_answer(generation_id, result)
    except Exception:
        logger.exception("generation %s: the answer PixelDojo sent could not be recorded", generation_id)
        _fail_answered(generation_id=generation_id, code="answer_not_recorded", message=ANSWERED_BUT_UNUSABLE)


def generation_record_kept_answer(*, generation_id: int) -> None:
    """Record the answer a worker kept but did not get to record (it died in between): from the kept body."""
    raw = Generation.objects.filter(id=generation_id).values_list("provider_answer", flat=True).first()
    try:
        result = parse_result(json.loads(raw or ""))
    except (ValueError, PixelDojoError):
        _fail_answered(generation_id=generation_id, code="answer_not_recorded", message=ANSWERED_BUT_UNUSABLE)
        return
    generation_record_answer(generation_id=generation_id, result=result)


def _record_answer(generation_id: int, result: GenerationResult) -> None:
    """Store a kept answer once: an Image per distinct URL up to the number asked, what it cost, downloads."""
    with transaction.atomic():
        generation = Generation.objects.select_for_update().get(id=generation_id)
        if generation.status != Status.GENERATING or generation.images.exists():
            return  # another delivery of this task recorded the answer first.
        if (balance := reported(result.extra.get("credits_remaining"), negative=True)) is not None:
            provider_balance_record(credits=balance)
        generation.lease_until = None
        generation.error_code = generation.error_message = ""
        if not result.images:
            _fail_answered(
                generation_id=generation_id,
                code="no_images",
                message="PixelDojo answered without any image; it may have charged your account.",
                credits_used=reported(result.extra.get("credits_used")),
            )
            return
        kept, anomaly = images_to_keep(result, asked=generation.num_outputs or 1)
        generation.answer_anomaly = anomaly
        generation.provider_created_at = result.created or timezone.now()
        generation.status = Status.SAVING
        if generation.seed in (None, -1):
            generation.seed = _answered_seed(result)
        generation.save()
        images = images_create(generation, kept)
        used = reported(result.extra.get("credits_used"))  # what PixelDojo says it charged, else our table
        cost = len(images) * _unit_price(generation) if used is None else used
        ledger_charge_images(generation=generation, images=images, credits=cost)
        for image in images:
            transaction.on_commit(partial(tasks.persist_image.delay, image.id))
    if anomaly:
        logger.warning("generation %s: %s", generation.code, anomaly)
    logger.info("generation %s answered by PixelDojo with %d images", generation.code, len(images))


def images_create(generation: Generation, kept: list[tuple[str, dict]]) -> list[Image]:
    """An Image row per kept (URL, details) of an answered generation, in order, pending download."""
    return [
        Image.objects.create(
            generation=generation,
            user_id=generation.user_id,
            team_id=generation.team_id,
            index=index,
            provider_url=url,
            provider_details=details,
        )
        for index, (url, details) in enumerate(kept)
    ]


MAX_DETAILS_CHARACTERS = 2000  # what PixelDojo says about one image, as JSON; more is not kept


def images_to_keep(result: GenerationResult, *, asked: int) -> tuple[list[tuple[str, dict]], str]:
    """The images to store: each URL once, in order, at most ``asked`` of them, with what PixelDojo said
    about each; and a sentence for operators about anything left out (empty when nothing was)."""
    kept: list[tuple[str, dict]] = []
    seen: set[str] = set()
    repeated: list[str] = []
    extra: list[str] = []
    details = result.image_details or ({},) * len(result.images)
    for url, about in zip(result.images, details, strict=True):
        if url in seen:
            repeated.append(url)
        elif len(kept) >= asked:
            extra.append(url)
        else:
            seen.add(url)
            kept.append((url, _storable_details(about)))
    notes = []
    if repeated:
        notes.append(f"{len(repeated)} repeated URL{'s' if len(repeated) != 1 else ''} stored once")
    if extra:
        notes.append(f"{len(extra)} image{'s' if len(extra) != 1 else ''} beyond the {asked} asked not kept")
    if not notes:
        return kept, ""
    anomaly = f"PixelDojo sent {len(result.images)} images for {asked} asked: {'; '.join(notes)}"
    return kept, redact(f"{anomaly} ({', '.join(repeated + extra)}).")


def _storable_details(about: dict) -> dict:
    """What PixelDojo said about one image, if it is small JSON without non-finite numbers; else nothing."""
    try:
        text = json.dumps(about, allow_nan=False)
    except (TypeError, ValueError):
        return {}
    return about if len(text) <= MAX_DETAILS_CHARACTERS else {}


SEED_RANGE = range(0, 2**63)


def _answered_seed(result: GenerationResult) -> int | None:
    """The seed PixelDojo used, from the answer or its first image, when it is one a seed column holds."""
    candidates = [result.extra.get("seed"), *(about.get("seed") for about in result.image_details[:1])]
    for seed in candidates:
        if isinstance(seed, int) and not isinstance(seed, bool) and seed in SEED_RANGE:
            return seed
    return None


def generation_fail(
    *, generation_id: int, code: str, message: str, provider_answer: str | None = None
) -> None:
    """End a generation still queued or generating as failed, with a message for people (and the 2xx body
    PixelDojo sent, when it sent one that could not be used)."""
    now = timezone.now()
    answer = {} if provider_answer is None else {"provider_answer": provider_answer}
    ended = Generation.objects.filter(id=generation_id, status__in=[Status.QUEUED, Status.GENERATING]).update(
        status=Status.FAILED,
        error_code=code,
        error_message=message,
        finished_at=now,
        updated_at=now,
        lease_until=None,
        **answer,
    )
    if ended:
        events.publish("generation.failed", generation_id=generation_id)
