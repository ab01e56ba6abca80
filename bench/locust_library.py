"""Locust scenario: logged-in members browsing, searching and now and then generating (issue 18).

    .venv/bin/locust -f bench/locust_library.py --host http://127.0.0.1:8000 --headless -u 20 -r 5 -t 60s \
        --members bench-load-a-1,bench-load-a-2 --password PASSWORD

Each simulated member logs in through the login form (``/accounts/login/``, with its CSRF token), picks a team
to work in through the header's switcher (``/teams/switch/``, its CSRF token read from the page), then, with a
think time of 0.5 to 1 s between requests (a person clicking through pages; the issue's figures imply about
1.2 requests/s per user), does one of the tasks below, chosen by weight:

| task | weight | requests |
| --- | ---: | --- |
| team library, page 1 (``/library/team/``) | 30 | 1 |
| my images, page 1 (``/library/``) | 15 | 1 |
| search the team library (``?q=<word>``) | 15 | 1 |
| follow the last page's "Load more" link (``&fragment=1``, as ``library.js`` does) | 15 | 1 |
| open an image's page (a tile seen on an earlier page) | 20 | 1 |
| submit a generation (the create page's form and CSRF token; 1 image of ``flux-pro``) | 2 | 2 (+ redirect) |

Request names group URLs (``/library/team/ [search]``, ``/images/[code]/`` …) so the statistics stay readable.
A response counts as a failure when its status is not 2xx/3xx, when a page lost its login (the login form came
back) or when a submission was refused (the form came back with errors).

Options (also read from the environment, for ``bench/load_steps.py``):

* ``--members`` (``LOAD_MEMBERS``): comma-separated usernames, assigned round-robin to simulated users;
* ``--password`` (``LOAD_PASSWORD``): their password (all the same);
* ``LOAD_STEPS`` (``users:seconds,users:seconds,…``): run as a stepped load shape instead of ``-u``/``-t``;
* ``LOAD_LOG``: write one line per request (``time,name,ms,ok``) and per step (``step,users,start,end``) to
  this CSV file; ``bench/load_steps.py`` computes each step's figures from it.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import time
from urllib.parse import urlencode

from locust import FastHttpUser, LoadTestShape, between, events, task
from locust.contrib.fasthttp import ResponseContextManager

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TILE_CODE = re.compile(r'data-code="([0-9a-f-]{36})"')
LOAD_MORE = re.compile(r'class="load-more"[^>]*href="([^"]+)"')
TEAM_OPTION = re.compile(r'<option value="([0-9a-f-]{36})"')
LOGIN_FORM = 'name="password"'
FORM_ERRORS = 'class="form-errors"'
SEARCH_WORDS = (
    "lighthouse",
    "fox",
    "dragon",
    "robot",
    "castle",
    "owl",
    "tiger",
    "misty",
    "neon",
    "harbour",
    "glowing",
    "cathedral",
)
PROMPTS = (
    "a lighthouse on a cliff at dusk, oil painting",
    "a red fox in a snowy village, watercolour",
    "a robot reading inside a library, cinematic lighting",
)


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--members", default=os.environ.get("LOAD_MEMBERS", ""), help="usernames, a,b,c")
    parser.add_argument("--password", default=os.environ.get("LOAD_PASSWORD", ""), help="their password")


_member_numbers = itertools.count()


class _RequestLog:
    """One CSV line per request and per step, when ``LOAD_LOG`` names a file."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a", buffering=1)  # noqa: SIM115 - open for the whole run

    def request(self, name: str, milliseconds: float, ok: bool) -> None:
        self.file.write(f"{time.time():.3f},{name},{milliseconds:.2f},{int(ok)}\n")

    def step(self, users: int, start: float, end: float) -> None:
        self.file.write(f"step,{users},{start:.3f},{end:.3f}\n")


_log = _RequestLog(os.environ["LOAD_LOG"]) if os.environ.get("LOAD_LOG") else None


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception, **kwargs) -> None:
    if _log is not None:
        _log.request(f"{request_type} {name}", response_time, exception is None)


class Member(FastHttpUser):
    """A logged-in team member clicking through the library."""

    wait_time = between(0.5, 1.0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        members = [name for name in (options.members if options else "").split(",") if name]
        if not members:
            raise RuntimeError("no members: pass --members a,b,c (or LOAD_MEMBERS)")
        self.username = members[next(_member_numbers) % len(members)]
        self.password = options.password
        self.codes: list[str] = []
        self.more: str | None = None
        self.login()

    # --- helpers ---------------------------------------------------------------------------------------

    def post_form(self, path: str, fields: dict[str, str], name: str) -> ResponseContextManager:
        return self.client.post(
            path,
            data=urlencode(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            name=name,
            catch_response=True,
        )

    def login(self) -> None:
        page = self.client.get("/accounts/login/", name="/accounts/login/")
        token = CSRF_INPUT.search(page.text)
        with self.post_form(
            "/accounts/login/",
            {
                "csrfmiddlewaretoken": token.group(1) if token else "",
                "username": self.username,
                "password": self.password,
            },
            "/accounts/login/ [POST]",
        ) as response:
            if LOGIN_FORM in response.text:
                response.failure(f"login of {self.username} refused")
                return
        # Work in the member's first team (the team library needs an active team).
        home = self.client.get("/", name="/ (create page)")
        team = TEAM_OPTION.search(home.text)
        token = CSRF_INPUT.search(home.text)
        if team and token:
            with self.post_form(
                "/teams/switch/",
                {"csrfmiddlewaretoken": token.group(1), "team": team.group(1), "next": "/library/team/"},
                "/teams/switch/ [POST]",
            ) as response:
                if response.status_code >= 400:
                    response.failure(f"HTTP {response.status_code}")

    def page(self, url: str, name: str) -> str:
        with self.client.get(url, name=name, catch_response=True) as response:
            if response.status_code >= 400:
                response.failure(f"HTTP {response.status_code}")
                return ""
            if LOGIN_FORM in (response.text or ""):
                response.failure("sent to the login page")
                return ""
            text = response.text or ""
        codes = TILE_CODE.findall(text)
        if codes:
            self.codes = codes
        more = LOAD_MORE.search(text)
        if codes:  # a library page or fragment: remember where its "Load more" link goes (relative: "?…")
            self.more = url.split("?", 1)[0] + more.group(1).replace("&amp;", "&") if more else None
        return text

    # --- the mix ---------------------------------------------------------------------------------------

    @task(30)
    def team_library(self) -> None:
        self.page("/library/team/", "/library/team/")

    @task(15)
    def my_images(self) -> None:
        self.page("/library/", "/library/")

    @task(15)
    def search(self) -> None:
        self.page(f"/library/team/?q={random.choice(SEARCH_WORDS)}", "/library/team/ [search]")

    @task(15)
    def load_more(self) -> None:
        if not self.more:
            self.team_library()
            return
        base = self.more.split("?", 1)[0]
        url = self.more if "fragment=1" in self.more else f"{self.more}&fragment=1"
        self.page(url, f"{base} [load more]")

    @task(20)
    def open_image(self) -> None:
        if not self.codes:
            self.team_library()
            return
        self.page(f"/images/{random.choice(self.codes)}/", "/images/[code]/")

    @task(2)
    def submit_generation(self) -> None:
        home = self.client.get("/", name="/ (create page)")
        token = CSRF_INPUT.search(home.text)
        with self.post_form(
            "/",
            {
                "csrfmiddlewaretoken": token.group(1) if token else "",
                "prompt": random.choice(PROMPTS),
                "model": "flux-pro",
                "aspect_ratio": "1:1",
                "num_outputs": "1",
                "megapixels": "1",
            },
            "/ [submit generation]",
        ) as response:
            if response.status_code >= 400:
                response.failure(f"HTTP {response.status_code}")
            elif FORM_ERRORS in response.text or "Queued:" not in response.text:
                response.failure("submission refused or not queued")


def _steps(spec: str) -> list[tuple[int, float]]:
    steps = []
    for item in spec.split(","):
        users, _, seconds = item.partition(":")
        steps.append((int(users), float(seconds)))
    return steps


if os.environ.get("LOAD_STEPS"):

    class SteppedLoad(LoadTestShape):
        """``LOAD_STEPS`` = ``users:seconds,…``: hold each user count for its seconds, then stop."""

        steps = _steps(os.environ["LOAD_STEPS"])
        spawn_rate = float(os.environ.get("LOAD_SPAWN_RATE", "10"))

        def __init__(self) -> None:
            super().__init__()
            self.current = -1
            self.step_started = 0.0

        def tick(self):
            elapsed = self.get_run_time()
            end = 0.0
            for index, (users, seconds) in enumerate(self.steps):
                end += seconds
                if elapsed < end:
                    if index != self.current:
                        now = time.time()
                        if self.current >= 0 and _log is not None:
                            _log.step(self.steps[self.current][0], self.step_started, now)
                        self.current, self.step_started = index, now
                    return users, self.spawn_rate
            if self.current >= 0 and _log is not None:
                _log.step(self.steps[self.current][0], self.step_started, time.time())
                self.current = len(self.steps)
            return None
