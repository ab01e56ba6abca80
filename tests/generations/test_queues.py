"""Two queues, one pool each (as in docker-compose.yml): PixelDojo calls on ``pixeldojo``, downloads on
``downloads``.

An API call may hold its worker while it waits for a slot of the shared rate limiter; with a backlog every
API slot is waiting. Downloads run in their own pool, so they are never stuck behind those waits, and the
limit holds however many API worker processes run, because the window lives in Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import sandbox.server as sandbox_server_module
from generations import services
from generations.models import Generation, Image
from generations.pixeldojo import GenerationRequest
from tests.conftest import SANDBOX_KEY, purge_queues, running_worker, wait_for
from tests.worker_env import worker_process_env
from tools.processes import ManagedProcess, celery_worker, max_in_window

pytestmark = pytest.mark.django_db(transaction=True)

QUEUES = ("celery", "pixeldojo", "downloads")
LIMIT = 6  # requests per WINDOW, for the app's limiter and the sandbox's own 429 check alike
WINDOW = 10.0
BACKLOG = 9  # two windows' worth: the last three wait ~11 s for slots
OUTPUTS = 2  # images per generation
SLOW_SECONDS = 0.5  # every PixelDojo call and every image download takes this long


def submit(user, prompt: str, outputs: int = 1) -> Generation:
    params = GenerationRequest(prompt=prompt, model="flux-pro", megapixels="0.25", num_outputs=outputs)
    return services.generation_submit(user=user, params=params)


# --- in-process workers on chosen queues (the variant of conftest's celery_worker fixture) ---------------


@pytest.fixture
def queue_worker(celery_app_configured, transactional_db, sandbox) -> Iterator[Callable]:
    """``with queue_worker(["pixeldojo"]):`` runs a real in-process worker consuming only those queues."""
    purge_queues(celery_app_configured)
    yield lambda queues: running_worker(celery_app_configured, list(queues))
    purge_queues(celery_app_configured)


def test_api_calls_and_downloads_travel_on_their_own_queues(queue_worker, alice, sandbox):
    """A worker on ``pixeldojo`` alone gets the answer but never downloads; one on ``downloads`` does."""
    with queue_worker(["pixeldojo"]):
        generation = submit(alice, "a lighthouse on the pixeldojo queue", outputs=2)

        def answered():
            """PixelDojo answered and the images wait for their downloads"""
            generation.refresh_from_db()
            return generation.status == Generation.Status.SAVING

        wait_for(answered, timeout=20)
    assert sandbox.stats()["image_requests"] == 0, "nobody consumed the downloads queue yet"
    assert set(generation.images.values_list("status", flat=True)) == {Image.Status.PENDING}

    with queue_worker(["downloads"]):

        def done():
            """the downloads worker stored both images"""
            generation.refresh_from_db()
            return generation.status == Generation.Status.DONE

        wait_for(done, timeout=20)
    assert set(generation.images.values_list("status", flat=True)) == {Image.Status.STORED}
    assert sandbox.stats()["flux_requests"] == 1


# --- production-like: worker processes started with -Q, as in docker-compose.yml -------------------------


@pytest.fixture
def limited_sandbox(sandbox, monkeypatch):
    """The sandbox allows LIMIT requests per WINDOW for the key: one request too many would be a 429."""
    monkeypatch.setattr(sandbox_server_module, "RATE_WINDOW_SECONDS", WINDOW)  # read on every request
    sandbox.configure(keys={SANDBOX_KEY: {"rpm": LIMIT}}, faults={"slow": 1.0, "slow_seconds": SLOW_SECONDS})
    return sandbox


@pytest.fixture
def worker_env(limited_sandbox, media_storage) -> dict[str, str]:
    """Environment of worker processes sharing this test's database, broker, sandbox, limiter and storage."""
    return worker_process_env(
        sandbox_url=limited_sandbox.base_url,
        media_root=media_storage,
        PIXELDOJO_RATE_LIMIT_RPM=str(LIMIT),
        PIXELDOJO_RATE_LIMIT_WINDOW_SECONDS=str(WINDOW),
        LOG_FORMAT="plain",
    )


@pytest.fixture
def start_workers(worker_env, tmp_path, transactional_db) -> Iterator[Callable[..., ManagedProcess]]:
    """Start prefork worker processes on given queues; each is SIGKILLed (process group) at teardown."""
    from pixelgallery.celery import app

    purge_queues(app)
    started: list[ManagedProcess] = []

    def start(name: str, queues: str, concurrency: int = 2) -> ManagedProcess:
        worker = celery_worker(
            name=name,
            env=worker_env,
            log_path=tmp_path / f"{name}.log",
            concurrency=concurrency,
            extra_args=("-Q", queues, "--without-mingle", "--without-gossip", "--without-heartbeat"),
        )
        started.append(worker)
        return worker.start(wait=False)

    try:
        yield start
    finally:
        for worker in started:
            worker.kill()
        for worker in started:
            print(f"--- {worker.name}\n{worker.log_tail(60)}")  # shown by pytest when the test failed


def test_shared_limit_holds_across_api_processes_and_downloads_never_wait_for_it(
    start_workers, alice, limited_sandbox
):
    api = [start_workers("api-1", "pixeldojo"), start_workers("api-2", "pixeldojo")]
    downloads = start_workers("downloads", "downloads,celery", concurrency=4)
    for worker in [*api, downloads]:
        worker.wait_ready()
    generations = [submit(alice, f"backlog item {n}", outputs=OUTPUTS) for n in range(BACKLOG)]

    def all_done():
        """every generation of the backlog is done"""
        return Generation.objects.filter(status=Generation.Status.DONE).count() == BACKLOG

    wait_for(all_done, timeout=45, interval=0.2)

    stats = limited_sandbox.stats()
    sent = sorted(stats["request_times"])
    # (a) One limit for every process: never more than LIMIT calls in any WINDOW, and PixelDojo refused none.
    assert stats["flux_by_status"] == {"200": BACKLOG}, stats["flux_by_status"]
    assert len(sent) == BACKLOG
    assert max_in_window(sent, WINDOW) <= LIMIT
    assert sent[LIMIT] - sent[0] >= WINDOW, "the backlog had to wait for the next window"
    for worker in api:  # both API processes took part in the backlog
        assert "generations.tasks.run_generation[" in worker.log_text(), f"{worker.name} ran no API call"
    # (b) Downloads were not starved: every image of the first window's answers was stored while the rest
    # of the backlog was still waiting for slots, i.e. before the next PixelDojo call was even sent. (With
    # one pool for both queues, its slots sit waiting for the limiter and most of these downloads wait too.)
    stored = Image.objects.filter(status=Image.Status.STORED)
    stored_times = sorted(image.stored_at.timestamp() for image in stored)
    assert len(stored_times) == BACKLOG * OUTPUTS
    stored_early = sum(1 for moment in stored_times if moment < sent[LIMIT])
    assert stored_early == LIMIT * OUTPUTS, f"{stored_early} images stored before the second window opened"
    first = min(generations, key=lambda g: g.id)
    first_stored = max(image.stored_at.timestamp() for image in first.images.all())
    assert first_stored < sent[-1], "the first generation's image was stored before the last call was sent"
    assert "generations.tasks.persist_image[" not in "".join(w.log_text() for w in api)
