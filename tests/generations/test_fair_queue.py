"""The fair queue: when the rate limiter is the bottleneck, slots go round-robin across members, and a queued
card says where it stands and when it should start. Against the sandbox, with the real limiter (a file here,
Redis in CI's second run) and real workers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from generations import services
from generations.models import Generation
from generations.pixeldojo import GenerationRequest
from generations.ratelimit import LimiterState, Window, limiter_from_settings
from generations.selectors_queue import QueuePlace, next_in_line, ordinal, queue_place, queue_places
from tests.conftest import wait_for
from tests.generations.factories import make_generation
from tools.processes import max_in_window

Status = Generation.Status


def submit(user, prompt: str) -> Generation:
    params = GenerationRequest(prompt=prompt, model="flux-pro", megapixels="0.25")
    return services.generation_submit(user=user, params=params)


def waiting(user, **fields) -> Generation:
    """A queued generation a worker is waiting for a slot for."""
    until = timezone.now() + timedelta(seconds=60)
    return make_generation(user, waiting_until=until, **fields)


# --- who takes the next slot ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_member_served_less_recently_takes_the_next_slot_before_an_older_batch(
    alice, bob, sandbox, settings
):
    """Alice's batch used the window; Bob's one image, queued after it, is next all the same, and Alice's next
    generation, asked for again, is told to come back without taking a slot or a try."""
    settings.PIXELDOJO_RATE_LIMIT_RPM = 2
    settings.PIXELDOJO_RATE_WAIT_MAX_SECONDS = 0.2
    batch = [make_generation(alice, prompt=f"alice #{n}") for n in range(4)]
    assert services.generation_run(generation_id=batch[0].id) is None
    assert services.generation_run(generation_id=batch[1].id) is None  # the window's two slots
    assert 50 < services.generation_run(generation_id=batch[2].id) <= 61  # next in line: waits for a slot
    assert services.generation_run(generation_id=batch[3].id) <= 10.5  # not next: her older one is
    single = make_generation(bob, prompt="bob's one")
    assert 50 < services.generation_run(generation_id=single.id) <= 61  # Bob is next now: he waits his slot
    assert next_in_line() == single.id

    again = services.generation_run(generation_id=batch[2].id)
    assert again is not None and 1 <= again <= 10.5, "not her turn: she looks again soon"
    batch[2].refresh_from_db()
    assert (batch[2].status, batch[2].attempts, batch[2].lease_until) == (Status.QUEUED, 0, None)
    assert sandbox.stats()["flux_requests"] == 2

    limiter_from_settings().reset()  # the window moved on
    assert services.generation_run(generation_id=batch[2].id) <= 10.5  # still Bob's turn
    assert services.generation_run(generation_id=single.id) is None
    assert services.generation_run(generation_id=batch[2].id) is None  # then Alice's, oldest first
    assert sandbox.stats()["flux_requests"] == 4


@pytest.mark.django_db
def test_a_queued_generation_no_worker_waits_for_does_not_hold_the_line(alice, bob, sandbox):
    """A lost message (nobody asked for a slot for it lately) is not waited for; the sweeper re-queues it."""
    make_generation(bob, prompt="lost", waiting_until=timezone.now() - timedelta(seconds=1))
    make_generation(bob, prompt="never asked for")
    mine = make_generation(alice)
    assert services.generation_run(generation_id=mine.id) is None
    mine.refresh_from_db()
    assert mine.status == Status.SAVING and sandbox.stats()["flux_requests"] == 1


@pytest.mark.django_db
def test_a_retry_is_not_queued_again(alice, bob, sandbox):
    """A call PixelDojo refused (429, 5xx) was served its turn: its retry goes when a slot is free."""
    waiting(bob)
    retry = make_generation(alice, status=Status.GENERATING, attempts=1, error_code="server_error")
    assert services.generation_run(generation_id=retry.id) is None
    retry.refresh_from_db()
    assert retry.status == Status.SAVING and retry.attempts == 2


# --- where a queued generation stands ---------------------------------------------------------------------


@pytest.mark.django_db
def test_positions_interleave_members_in_the_order_they_are_served(alice, bob, make_user):
    carol = make_user("carol")
    served = make_generation(alice, status=Status.DONE)
    Generation.objects.filter(id=served.id).update(called_at=timezone.now() - timedelta(seconds=5))
    alice_queue = [waiting(alice) for _ in range(3)]
    bob_queue = [waiting(bob) for _ in range(2)]  # never served: before Alice
    carol_one = make_generation(carol)  # its message is on its way: counted as waiting

    places = queue_places(generations=[*alice_queue, *bob_queue, carol_one, served])
    positions = {generation_id: place.position for generation_id, place in places.items()}
    # Round 1: Bob, Carol (both never served; Bob's work is older), Alice; round 2: Bob, Alice; then Alice.
    expected = [bob_queue[0], carol_one, alice_queue[0], bob_queue[1], alice_queue[1], alice_queue[2]]
    assert positions == {generation.id: n for n, generation in enumerate(expected, start=1)}
    assert next_in_line() == bob_queue[0].id  # the workers' order (Carol's message has not asked yet)


def test_start_times_come_from_the_limiters_window():
    """Two slots per 60 s, both taken 20 s and 50 s ago: the 1st in line starts in 10 s, the 2nd in 40 s,
    the 3rd a window after the 1st."""
    state = LimiterState(window=Window(limit=2, seconds=60), slot_ages=(50.0, 20.0))
    assert [round(t, 3) for t in state.start_offsets(4)] == [10.0, 40.0, 70.0, 100.0]
    free = LimiterState(window=Window(limit=3, seconds=60), slot_ages=(70.0, 5.0))  # one slot long gone
    assert [round(t, 3) for t in free.start_offsets(3)] == [0.0, 0.0, 55.0]
    held = LimiterState(
        window=Window(limit=5, seconds=60), slot_ages=(), provider_remaining=1, provider_reset=30
    )
    assert held.start_offsets(3) == [0.0, 30.0, 30.0]  # PixelDojo's own count allows one call until its reset


@pytest.mark.parametrize(
    ("place", "text"),
    [
        (QueuePlace(position=1, starts_in=0.2), "Next in line · starts in a moment"),
        (QueuePlace(position=3, starts_in=40.4), "3rd in line · starts in about 40 s"),
        (QueuePlace(position=12, starts_in=150), "12th in line · starts in about 2 min"),
        (QueuePlace(position=22, starts_in=None), "22nd in line"),
    ],
)
def test_the_cards_words(place, text):
    assert place.text == text


def test_ordinals():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 102, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "102nd", "111th",
    ]  # fmt: skip


@pytest.mark.django_db
def test_the_status_json_and_the_card_show_position_and_eta(client, alice, bob, sandbox, settings):
    settings.PIXELDOJO_RATE_LIMIT_RPM = 1
    limiter = limiter_from_settings()
    assert limiter.try_acquire() == 0  # the window's one slot was just taken
    ahead, mine = waiting(bob), waiting(alice)
    client.force_login(alice)
    data = client.get(reverse("generation_status", args=[mine.code])).json()
    assert data["position"] == 2
    window = settings.PIXELDOJO_RATE_LIMIT_WINDOW_SECONDS + settings.PIXELDOJO_RATE_LIMIT_MARGIN_SECONDS
    assert window * 2 - 5 < data["eta"] <= window * 2  # Bob's call comes in one window, hers in two
    assert data["queue_text"] == f"2nd in line · starts in about {round(data['eta'] / 60)} min"
    assert data["queue_text"] in data["card_html"] and 'data-testid="queue-place"' in data["card_html"]
    gallery = client.get(reverse("gallery")).content.decode()
    assert 'data-position="2"' in gallery

    Generation.objects.filter(id=ahead.id).update(status=Status.GENERATING, called_at=timezone.now())
    data = client.get(reverse("generation_status", args=[mine.code])).json()
    assert data["position"] == 1 and data["queue_text"].startswith("Next in line · starts in about")
    Generation.objects.filter(id=mine.id).update(status=Status.GENERATING)
    data = client.get(reverse("generation_status", args=[mine.code])).json()
    assert (data["position"], data["eta"], data["queue_text"]) == (None, None, "")
    assert "queue-place" not in data["card_html"]
    assert queue_place(generation=Generation.objects.get(id=mine.id)) is None


@pytest.mark.django_db
def test_the_api_reports_a_queued_generations_place_like_the_page(alice, bob, sandbox, settings):
    """An API token is its user: a submission through it waits in the same line, behind Bob's work."""
    from tests.api.helpers import api_client, token_for

    settings.PIXELDOJO_RATE_LIMIT_RPM = 1
    assert limiter_from_settings().try_acquire() == 0
    waiting(bob)
    client = api_client(token_for(alice))
    body = client.post(
        "/api/v1/generations",
        {"prompt": "a lighthouse", "model": "flux-pro", "aspect_ratio": "1:1"},
        content_type="application/json",
    ).json()
    assert body["queue_position"] == 2 and 110 < body["starts_in_seconds"] <= 122
    mine = Generation.objects.get(user=alice)
    Generation.objects.filter(id=mine.id).update(status=Status.GENERATING)
    body = client.get(body["status_url"]).json()
    assert (body["queue_position"], body["starts_in_seconds"]) == (None, None)


@pytest.mark.django_db
def test_the_status_json_costs_the_same_queries_for_a_long_queue(client, alice, bob, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    mine, _ = waiting(alice), waiting(bob)
    client.force_login(alice)
    url = reverse("generation_status", args=[mine.code])
    client.get(url)  # warm: the header's values are cached from the first request on
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).json()["position"] == 1
    for n in range(30):
        waiting(bob if n % 2 else alice)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).json()["position"] == 1
    assert len(many.captured_queries) == len(few.captured_queries)


# --- through real workers ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_single_image_is_not_stuck_behind_another_members_batch(
    celery_worker, alice, bob, sandbox, settings
):
    """Two calls a 4.5-second window: Alice submits 8, and once her batch holds the limiter Bob submits 1. His
    call goes out within the first two slots after he submitted, and each of Alice's is made exactly once."""
    settings.PIXELDOJO_RATE_LIMIT_RPM = 2
    settings.PIXELDOJO_RATE_LIMIT_WINDOW_SECONDS = 4.0
    settings.PIXELDOJO_RATE_LIMIT_MARGIN_SECONDS = 0.5  # a loaded machine's delay before a call arrives
    batch = [submit(alice, f"alice's batch #{n}") for n in range(8)]

    def batch_waits():
        """Alice's first two were called and the rest wait"""
        return Generation.objects.filter(user=alice, called_at__isnull=False).count() >= 2

    wait_for(batch_waits, timeout=20)
    single = submit(bob, "bob's single image")

    def all_done():
        """every generation is done"""
        return Generation.objects.filter(status=Status.DONE).count() == len(batch) + 1

    wait_for(all_done, timeout=60, interval=0.2)
    single.refresh_from_db()
    generations = list(Generation.objects.order_by("called_at"))
    assert all(generation.attempts == 1 for generation in generations)  # one call each
    called_after = [g for g in generations if g.called_at > single.created_at]
    assert single in called_after[:2], [g.prompt for g in called_after]
    stats = sandbox.stats()
    assert stats["flux_by_status"] == {"200": len(batch) + 1}
    window = settings.PIXELDOJO_RATE_LIMIT_WINDOW_SECONDS
    assert max_in_window(stats["request_times"], window) <= 2  # fair, and still within the limit
    alice_order = [g.id for g in generations if g.user_id == alice.id]
    assert alice_order == sorted(alice_order)  # a member's own work goes oldest first


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_queued_card_shows_its_place_and_start_and_keeps_them_current(
    page, live_server, celery_worker, alice, sandbox, settings
):
    """One call per 10.5 s: of three submitted at once, the third's card says it is 2nd in line and when it
    should start, then (without a reload) that it is next, then shows its image."""
    import re

    from playwright.sync_api import expect

    from tests.browser import log_in

    settings.PIXELDOJO_RATE_LIMIT_RPM = 1
    settings.PIXELDOJO_RATE_LIMIT_WINDOW_SECONDS = 10.0  # long enough for a loaded machine to show the page
    settings.PIXELDOJO_RATE_LIMIT_MARGIN_SECONDS = 0.5
    first, second, third = (submit(alice, f"a slow queue #{n}") for n in range(1, 4))

    def waits():
        """the first was called and the second waits for its slot"""
        return Generation.objects.filter(id=first.id, called_at__isnull=False).exists()

    wait_for(waits, timeout=20)
    log_in(page, live_server, "alice")
    place = page.locator(f"#gen-{third.code} [data-testid=queue-place]")
    expect(place).to_have_text(re.compile(r"^2nd in line · starts in about \d+ s$"))
    starts = int(re.search(r"about (\d+) s", place.inner_text()).group(1))
    assert 1 <= starts <= 21  # its slot comes two windows after the first call
    expect(place).to_have_text(
        re.compile(r"^Next in line · starts in (about \d+ s|a moment)$"), timeout=20_000
    )
    card = page.locator(f"#gen-{third.code}")
    expect(card.get_by_test_id("stored-thumbnail")).to_be_visible(timeout=40_000)
    expect(card.get_by_test_id("queue-place")).to_have_count(0)
    second.refresh_from_db()
    assert second.status == Status.DONE
