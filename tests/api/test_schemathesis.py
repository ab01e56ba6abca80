"""Schemathesis against the live server: generated requests for every operation of the OpenAPI document,
sent with a real token (made by ``manage.py create_api_token``); no answer may be a 5xx, and every answer
must match the document (status code, content type, body schema)."""

from __future__ import annotations

from collections import Counter
from io import StringIO

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from credits.services import ledger_charge_images
from generations.services import comparison_submit
from library.models import Collection
from tests.conftest import CELERY_APP, purge_queues
from tests.library.factories import make_image, make_team

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 15  # per operation and pass: the whole run stays well under a minute
REAL: dict[str, str] = {}  # codes of the objects the token may reach, for the second pass


def with_real_objects(case):
    """The case with its path's codes replaced by those of real objects (random ones are only 404s)."""
    path = case.operation.path
    kinds = {"generations": "generation", "collections": "collection", "comparisons": "comparison"}
    kind = kinds.get(path.removeprefix("/api/v1/").split("/", 1)[0], "image")
    if "code" in (case.path_parameters or {}):
        case.path_parameters["code"] = REAL[kind]
    if "image" in (case.path_parameters or {}):
        case.path_parameters["image"] = REAL["image"]
    return case


@pytest.fixture
def token(settings, django_user_model) -> str:
    """A real token made by the command, for an owner of a team with an image, a charge, a board and a
    comparison."""
    settings.API_RATE_LIMIT_PER_MINUTE = 100_000
    owner = django_user_model.objects.create_user("schemathesis", password="x")
    team = make_team(owner, name="Fuzz team")
    image = make_image(owner, team=team, with_files=True)
    ledger_charge_images(generation=image.generation, images=[image], credits=1)
    board = Collection.objects.create(name="Board", team=team, created_by=owner)
    comparison = comparison_submit(user=owner, team=team, prompt="a fox", models=["flux-pro", "flux-1.1-pro"])
    REAL.update(
        generation=str(image.generation.code),
        image=str(image.code),
        collection=str(board.code),
        comparison=str(comparison.code),
    )
    out = StringIO()
    call_command(
        "create_api_token",
        "schemathesis",
        "--team",
        str(team.code),
        "--scopes",
        "generate,read,curate",
        stdout=out,
    )
    yield out.getvalue().strip().splitlines()[-1]
    purge_queues(CELERY_APP)  # the generations it submitted were never meant to run


def test_every_operation_answers_within_its_schema(live_server, token):
    """Schemathesis's Python API (its pytest loader does not run on pytest 9): one Hypothesis run per
    operation, ``MAX_EXAMPLES`` generated requests each, and a second one on real objects for operations
    with codes in their path."""
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 16
    calls: dict[str, Counter] = {}

    passes = [(operation, operation.as_strategy()) for operation in operations]
    passes += [(op, op.as_strategy().map(with_real_objects)) for op in operations if "{" in op.path]
    for _operation, strategy in passes:

        @given(case=strategy)
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case) -> None:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            calls.setdefault(case.operation.label, Counter())[response.status_code] += 1

        check()
    for label, statuses in calls.items():  # the run's summary (shown with -s)
        print(f"{label}: {sum(statuses.values())} calls, statuses {dict(sorted(statuses.items()))}")
    assert set(calls) == {operation.label for operation in operations}
    assert sum(statuses[200] + statuses[202] for statuses in calls.values()) >= len(operations)
    assert calls["POST /api/v1/generations"][202] > 0  # the document's bounds lead to valid submissions
