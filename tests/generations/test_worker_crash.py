"""Exactly-once under SIGKILL: a real prefork worker process is killed mid-task and a fresh one finishes.

The worker runs as a separate process group (``tools.processes``) against the test database, the shared
broker, the sandbox fixture and the test's media folder. SIGKILL leaves the message unacknowledged in Redis;
a worker started after ``CELERY_VISIBILITY_TIMEOUT`` restores it, and the lease / status guards make the
second run safe: every image is stored once, with one original + one thumbnail, and charged once.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from credits.models import LedgerEntry
from generations import services
from generations.models import Generation, Image
from generations.pixeldojo import GenerationRequest
from sandbox.config import FaultRates
from tests.conftest import purge_queues, wait_for
from tests.worker_env import worker_process_env
from tools.processes import ManagedProcess, celery_worker

pytestmark = pytest.mark.django_db(transaction=True)

VISIBILITY_TIMEOUT = 5  # seconds before an unacknowledged message of a dead worker is handed out again
CONNECT_TIMEOUT, READ_TIMEOUT, CALL_DEADLINE, LEASE_MARGIN = 1, 5, 6, 1  # a call's part of the lease: 7 s
RATE_WAIT_MAX = 1  # the rate-limit wait's part of the lease (no waiting here: the limit is high)
SLOW_SECONDS = 3.0  # sandbox latency / slow fault: the window in which the worker is killed


@pytest.fixture
def worker_env(sandbox, media_storage) -> dict[str, str]:
    """Environment of a worker process sharing this test's database, broker, sandbox and storage."""
    return worker_process_env(
        sandbox_url=sandbox.base_url,
        media_root=media_storage,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        PIXELDOJO_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
        PIXELDOJO_READ_TIMEOUT=str(READ_TIMEOUT),
        PIXELDOJO_CALL_DEADLINE_SECONDS=str(CALL_DEADLINE),
        PIXELDOJO_LEASE_MARGIN_SECONDS=str(LEASE_MARGIN),
        PIXELDOJO_RATE_WAIT_MAX_SECONDS=str(RATE_WAIT_MAX),
    )


@pytest.fixture
def start_worker(worker_env, tmp_path, transactional_db):
    """Start real worker processes; every one is SIGKILLed at teardown (before the database is flushed)."""
    from pixelgallery.celery import app

    purge_queues(app)
    started: list[ManagedProcess] = []

    def start(name: str) -> ManagedProcess:
        worker = celery_worker(name=name, env=worker_env, log_path=tmp_path / "workers.log", concurrency=2)
        started.append(worker)
        return worker.start()

    try:
        yield start
    finally:
        for worker in started:
            worker.kill()
        if started:
            print(started[0].log_tail(200))  # shown by pytest when the test failed


def submit(user, **params) -> Generation:
    params = GenerationRequest(
        **{"prompt": "a lighthouse in a storm", "model": "flux-pro", "megapixels": "0.25", **params}
    )
    return services.generation_submit(user=user, params=params)


def wait_until_time(moment: float) -> None:
    """Let Redis' visibility timeout run out: the redelivery it governs is what these tests prove, and it
    runs on the worker's own clock (no sandbox clock can move it)."""
    time.sleep(max(0.0, moment - time.monotonic()))


def assert_stored_exactly_once(generation: Generation, media_root: Path, outputs: int) -> list[Image]:
    """Done; one stored Image per output; one original + two thumbnails each on disk; one charge each."""
    generation.refresh_from_db()
    assert generation.status == Generation.Status.DONE, (generation.status, generation.error_message)
    images = list(generation.images.order_by("index"))
    assert [image.index for image in images] == list(range(outputs))
    assert {image.status for image in images} == {Image.Status.STORED}
    assert len({image.sha256 for image in images}) == outputs  # distinct pictures, none stored twice

    on_disk = sorted(p.relative_to(media_root).as_posix() for p in media_root.rglob("*") if p.is_file())
    expected = sorted(name for image in images for name in image.stored_names())
    assert on_disk == expected, "exactly one original and two thumbnail files per image"
    for image in images:
        assert image.file.name.startswith("originals/") and image.thumbnail.name.startswith("thumbnails/")
        assert image.thumbnail_small.name.startswith("thumbnails/")
        assert hashlib.sha256((media_root / image.file.name).read_bytes()).hexdigest() == image.sha256

    charges = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE, generation=generation)
    assert sorted(charges.values_list("image_id", flat=True)) == [image.id for image in images]
    assert sum(charges.values_list("credits", flat=True)) == outputs
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).count() == outputs
    return images


def test_worker_killed_mid_api_call_is_replaced_and_charges_once(start_worker, alice, sandbox, media_storage):
    outputs = 2
    sandbox.configure(latency_seconds=SLOW_SECONDS)  # the /flux call is in flight for 3 s
    first = start_worker("crash-call-a")
    generation = submit(alice, num_outputs=outputs)

    def claimed():
        """the worker claimed the generation and is calling PixelDojo"""
        generation.refresh_from_db()
        return generation.status == Generation.Status.GENERATING

    wait_for(claimed, timeout=15, interval=0.02)
    claimed_at = time.monotonic()  # the message was delivered before this

    def calling():
        """the worker's /flux request reached the sandbox, which takes 3 s to answer it"""
        return sandbox.stats()["in_flight"]["flux"] == 1

    wait_for(calling, timeout=5, interval=0.02)
    first.kill()

    generation.refresh_from_db()
    assert generation.status == Generation.Status.GENERATING
    assert generation.attempts == 1 and generation.provider_id == ""
    assert not generation.images.exists() and not LedgerEntry.objects.exists()
    # The sandbox finishes the request the dead worker made: PixelDojo answered, nobody recorded it.
    wait_for(lambda: sandbox.stats()["flux_by_status"].get("200", 0) == 1, timeout=SLOW_SECONDS + 3)
    generation.refresh_from_db()
    assert generation.provider_id == "" and not generation.images.exists()
    sandbox.configure(latency_seconds=0)  # the replacement's call need not be slow

    # A new worker restores unacknowledged messages older than the visibility timeout when it starts.
    wait_until_time(claimed_at + VISIBILITY_TIMEOUT + 0.5)
    start_worker("crash-call-b")

    def finished():
        """the generation reaches a final state"""
        generation.refresh_from_db()
        return generation.status in (Generation.Status.DONE, Generation.Status.FAILED)

    wait_for(finished, timeout=30)
    assert_stored_exactly_once(generation, media_storage, outputs)
    assert generation.attempts >= 2  # the lease let the new worker call PixelDojo again
    stats = sandbox.stats()
    assert stats["flux_requests"] >= 2  # PixelDojo was called again after the crash
    assert stats["flux_by_status"] == {"200": stats["flux_requests"]}


def test_worker_killed_mid_download_is_replaced_and_stores_once(start_worker, alice, sandbox, media_storage):
    outputs = 3
    # Every request (the /flux call and each image download) takes 3 s.
    sandbox.configure(latency_seconds=0, faults=FaultRates(slow=1.0, slow_seconds=SLOW_SECONDS))
    first = start_worker("crash-download-a")
    generation = submit(alice, num_outputs=outputs)

    def downloading():
        """an image is pending and its download is in flight at the sandbox (each takes 3 s)"""
        attempted = Image.objects.filter(
            generation=generation, status=Image.Status.PENDING, attempts__gte=1
        ).exists()
        return attempted and sandbox.stats()["in_flight"]["image"] >= 1

    wait_for(downloading, timeout=20, interval=0.02)
    delivered_by = time.monotonic()  # the persist_image messages in flight were delivered before this
    first.kill()

    generation.refresh_from_db()
    assert generation.status == Generation.Status.SAVING
    images = list(generation.images.all())
    assert len(images) == outputs and {image.status for image in images} == {Image.Status.PENDING}
    attempted_before = {image.id for image in images if image.attempts >= 1}
    assert attempted_before
    assert LedgerEntry.objects.filter(generation=generation).count() == outputs  # charged on the answer
    sandbox.configure(faults=FaultRates())  # the replacement's downloads need not be slow

    wait_until_time(delivered_by + VISIBILITY_TIMEOUT + 0.5)
    # An image may count as attempted before its request reaches the sandbox; count what reached it.
    image_requests_before = sandbox.stats()["image_requests"]
    assert image_requests_before >= 1
    start_worker("crash-download-b")

    def finished():
        """the generation reaches a final state"""
        generation.refresh_from_db()
        return generation.status in (Generation.Status.DONE, Generation.Status.FAILED)

    wait_for(finished, timeout=30)
    images = assert_stored_exactly_once(generation, media_storage, outputs)
    assert all(image.attempts >= 2 for image in images if image.id in attempted_before)
    stats = sandbox.stats()
    assert stats["flux_requests"] == 1  # the answer was recorded before the crash: no second API call
    assert stats["image_requests"] >= image_requests_before + outputs  # the replacement fetched each image
