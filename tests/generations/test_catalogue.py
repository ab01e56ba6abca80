"""PixelDojo's model catalogue through the sandbox over HTTP: stored with its cost rules and schemas, kept
when PixelDojo cannot be reached, offered on the form (grouped, priced, fields from each schema, validated
against it), the seed's four models always there, unsupported models named on /ops/ and not offered."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal as D
from html import unescape

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from credits.models import LedgerEntry
from credits.services import budget_set
from generations import services, tasks
from generations.catalogue import CostRule, UnreadableCost, parse_cost_rule
from generations.models import CatalogueModel, CatalogueRefresh, Generation
from generations.pixeldojo import MODELS, GenerationRequest
from generations.selectors_catalogue import model_menu
from sandbox.config import FaultRates
from tests.conftest import PASSWORD, wait_for
from tests.credits.helpers import client_in
from tests.library.factories import make_team

pytestmark = pytest.mark.django_db
TIMES = "\N{MULTIPLICATION SIGN}"
CLOSED_PORT_URL = "http://127.0.0.1:9/api/v1"  # discard: nothing listens there


def price(response) -> str:
    found = re.search(r'data-testid="price"[^>]*>(.*?)</p>', response.content.decode(), re.S)
    assert found, "no price on the form"
    return unescape(re.sub(r"<[^>]+>", "", found.group(1)))


def offered_options(response) -> list[str]:
    """The values of the model select's options."""
    select = re.search(r'<select name="model".*?</select>', response.content.decode(), re.S)
    assert select, "no model select"
    return re.findall(r'<option value="([^"]+)"', select.group(0))


@pytest.fixture
def catalogue(sandbox):
    """The sandbox's catalogue, fetched over HTTP and stored."""
    refresh = services.catalogue_refresh()
    assert refresh.ok, refresh.message
    return refresh


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("olga", password=PASSWORD, is_staff=True)


def test_the_beat_task_fetches_daily_and_retries_a_failure_soon_after(sandbox, settings):
    assert services.catalogue_refresh_due()  # never fetched: at the first beat after a start
    settings.PIXELDOJO_BASE_URL = CLOSED_PORT_URL
    failed = services.catalogue_refresh()
    assert not failed.ok and not services.catalogue_refresh_due()  # not again at once
    later = failed.at + timedelta(seconds=settings.PIXELDOJO_CATALOGUE_RETRY_SECONDS + 1)
    assert services.catalogue_refresh_due(now=later)
    settings.PIXELDOJO_BASE_URL = sandbox.base_url
    settings.PIXELDOJO_CATALOGUE_RETRY_SECONDS = 0  # the retry window has passed
    assert tasks.refresh_catalogue(only_if_due=True) is True  # run in this process: due, fetched
    assert tasks.refresh_catalogue(only_if_due=True) is None  # not due any more
    fetched = CatalogueRefresh.objects.filter(ok=True).get()
    assert not services.catalogue_refresh_due(now=fetched.at + timedelta(hours=23))
    assert services.catalogue_refresh_due(now=fetched.at + timedelta(hours=24, seconds=1))


def test_a_refresh_stores_the_image_models_with_their_cost_rules_and_schemas(catalogue):
    stored = {row.api_id: row for row in CatalogueModel.objects.all()}
    assert len(stored) == 9 and "kling-2.1" not in stored and "veo-3" not in stored  # videos left out
    flex = stored["flux-2-flex"]
    assert flex.request_schema["properties"]["resolution"]["default"] == "1 MP"
    assert parse_cost_rule(flex.credit_cost) == CostRule(
        default=D("1.5"), tiers=((D("0.5"), D(1)), (D(1), D("1.5")), (D(2), D(3)), (D(4), D(5)))
    )
    assert flex.offered and flex.left_out == ["image_urls is an array"]
    assert stored["consistent-characters"].unsupported_reason == (
        "The form cannot render it: the required parameter reference_images is an array, which the form "
        "cannot render."
    )
    assert catalogue.message == "9 image models listed, 8 offered."


@pytest.mark.parametrize(
    ("raw", "megapixels", "cost"),
    [
        ({"default": 1, "type": "fixed", "amount": 1}, None, "1"),
        (0.5, None, "0.5"),
        ("2", D(4), "2"),
        (
            {"type": "resolution", "tiers": [{"resolution": "0.5 MP", "amount": 1}, {"mp": 4, "credits": 5}]},
            None,
            "5",
        ),
        ({"type": "by_resolution", "byResolution": {"1 MP": 1.5, "2 MP": 3}, "default": 1.5}, D("1.2"), "3"),
        ({"type": "by_resolution", "byResolution": {"1 MP": 1.5, "2 MP": 3}}, D("0.25"), "1.5"),
        ({"type": "by_resolution", "byResolution": {"1 MP": 1.5, "2 MP": 3}}, D(8), "3"),
        ({"type": "fixed", "amount": 0.33333}, None, "0.3334"),  # rounded up: a reservation is never short
    ],
)
def test_cost_rules_are_read_tolerantly(raw, megapixels, cost):
    assert parse_cost_rule(raw).cost(megapixels) == D(cost)


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "per_second", "amount": 1},
        {"type": "fixed"},
        {"type": "resolution", "tiers": {"HD": 2}},
        None,
    ],
)
def test_a_cost_that_cannot_be_read_is_refused(raw):
    with pytest.raises(UnreadableCost):
        parse_cost_rule(raw)


@pytest.mark.django_db(transaction=True)
def test_the_daily_beat_task_and_the_ops_button_refresh_the_catalogue_through_a_real_worker(
    celery_worker, staff, client
):
    schedule = django_settings.CELERY_BEAT_SCHEDULE["refresh-catalogue"]
    assert schedule["task"] == tasks.refresh_catalogue.name and schedule["kwargs"] == {"only_if_due": True}
    tasks.refresh_catalogue.apply_async(kwargs=schedule["kwargs"])  # as beat sends it
    wait_for(lambda: CatalogueRefresh.objects.filter(ok=True).count() == 1)
    assert CatalogueModel.objects.count() == 9
    assert django_settings.PIXELDOJO_CATALOGUE_REFRESH_SECONDS == 86400
    assert not services.catalogue_refresh_due()  # the next beat, within the day, does nothing

    client.force_login(staff)
    response = client.post(reverse("operations_catalogue_refresh"))
    assert response.status_code == 302 and response["Location"] == reverse("operations")
    wait_for(lambda: CatalogueRefresh.objects.filter(ok=True).count() == 2)
    assert CatalogueModel.objects.count() == 9


@pytest.mark.parametrize("how", ["unreachable", "503"])
def test_when_pixeldojo_cannot_be_reached_the_last_catalogue_stays(
    catalogue, sandbox, settings, staff, client, how
):
    before = list(CatalogueModel.objects.values_list("api_id", "credit_cost", "request_schema", "fetched_at"))
    if how == "unreachable":
        settings.PIXELDOJO_BASE_URL = CLOSED_PORT_URL
    else:
        sandbox.configure(faults=FaultRates(catalogue_error=1.0))
    refresh = services.catalogue_refresh()

    assert not refresh.ok and refresh.message.startswith("PixelDojo's model list could not be read:")
    assert refresh.message.endswith("The catalogue was kept.")
    after = list(CatalogueModel.objects.values_list("api_id", "credit_cost", "request_schema", "fetched_at"))
    assert after == before
    client.force_login(staff)
    html = unescape(client.get(reverse("operations")).content.decode())
    assert 'data-testid="catalogue-failure"' in html and refresh.message in html
    assert "9 image models stored from PixelDojo's catalogue, 8 of them offered; the form offers 6" in html


def test_a_model_whose_schema_cannot_be_fetched_keeps_the_schema_it_had(catalogue, sandbox):
    """Only GET /models/{apiId} fails (the list still answers): every model keeps its stored schema."""
    sandbox.configure(faults=FaultRates(schema_error=1.0))
    refresh = services.catalogue_refresh()
    assert refresh.ok and "Schemas not read (kept as they were)" in refresh.message
    assert CatalogueModel.objects.get(api_id="flux-2-flex").request_schema["required"] == ["prompt"]
    assert CatalogueModel.objects.filter(unsupported_reason="").count() == 8


def test_a_new_model_whose_schema_cannot_be_fetched_is_not_offered(sandbox, alice):
    sandbox.configure(faults=FaultRates(schema_error=1.0))
    assert services.catalogue_refresh().ok
    reasons = set(CatalogueModel.objects.values_list("unsupported_reason", flat=True))
    assert reasons == {"Its request schema could not be fetched yet."}
    assert list(model_menu().choices) == list(MODELS)


def test_a_list_without_image_models_leaves_the_catalogue_as_it_was(catalogue, sandbox, monkeypatch):
    from sandbox import catalogue as sandbox_catalogue  # the sandbox's data, changed for this test only

    videos = [model for model in sandbox_catalogue.MODELS if model["modality"] == "video"]
    monkeypatch.setattr(sandbox_catalogue, "MODELS", videos)
    refresh = services.catalogue_refresh()
    assert not refresh.ok and refresh.message == (
        "PixelDojo's model list named no image model. The catalogue was kept."
    )
    assert CatalogueModel.objects.count() == 9


def test_the_seeds_four_models_are_always_offered(alice, sandbox, settings):
    expected_seed = list(MODELS)
    assert list(model_menu().choices) == expected_seed  # nothing fetched yet
    settings.PIXELDOJO_BASE_URL = CLOSED_PORT_URL
    assert not services.catalogue_refresh().ok
    assert list(model_menu().choices) == expected_seed
    settings.PIXELDOJO_BASE_URL = sandbox.base_url
    assert services.catalogue_refresh().ok

    response = client_in(alice).get(reverse("gallery"))
    options = offered_options(response)
    assert options[:4] == expected_seed and len(options) == len(set(options))  # flux-1.1-pro listed once
    assert set(options[4:]) == {
        "flux-2-flex",
        "flux-dev",
        "flux-kontext-max",
        "seedream-4",
        "creative-upscale",
        "face-enhance",
    }
    html = unescape(response.content.decode())
    assert '<optgroup label="Flux (POST /flux)">' in html and '<optgroup label="Flux">' in html
    assert '<optgroup label="Other models">' in html
    assert (
        '<option value="flux-2-flex">Flux 2 Flex (0.5 MP = 1, 1 MP = 1.5, 2 MP = 3, 4 MP = 5 credits)' in html
    )
    assert '<option value="creative-upscale">Creative Upscale (0.5 credits)</option>' in html


def test_unsupported_models_are_named_on_ops_and_not_offered(catalogue, alice, staff, client):
    assert "consistent-characters" not in offered_options(client_in(alice).get(reverse("gallery")))
    response = client_in(alice).post(
        reverse("generate"), {"prompt": "a fox", "model": "consistent-characters"}
    )
    assert "Select a valid choice" in unescape(response.content.decode())
    client.force_login(staff)
    html = unescape(client.get(reverse("operations")).content.decode())
    table = html[html.index('data-testid="catalogue-not-offered"') :]
    assert "<code>consistent-characters</code>" in table
    assert "the required parameter reference_images is an array, which the form cannot render" in table
    assert "<code>flux-2-flex</code></td><td>image_urls is an array" in html  # offered, that one left out


def test_the_form_renders_each_models_parameters_from_its_schema(catalogue, alice):
    html = client_in(alice).get(reverse("gallery")).content.decode()
    flex = html[html.index('data-testid="parameters-flux-2-flex"') :]
    flex = flex[: flex.index("</fieldset>")]
    assert flex.startswith('data-testid="parameters-flux-2-flex" disabled hidden>')  # not the chosen model
    assert re.search(r'<select name="p-flux-2-flex-resolution"[^>]*data-price-resolution', flex)
    assert '<option value="1 MP" selected>1 MP</option>' in flex  # the schema's default
    assert re.search(
        r'type="number" name="p-flux-2-flex-num_outputs" value="1"[^>]*min="1"[^>]*max="4"', flex
    )
    assert 'name="p-flux-2-flex-prompt_upsampling"' in flex and 'type="checkbox"' in flex
    assert "Output size; the price depends on it." in flex  # its description as help text
    assert "image_urls" not in flex
    upscale = html[html.index('data-testid="parameters-creative-upscale"') :]
    assert re.search(r'type="url" name="p-creative-upscale-image_url"[^>]*required', upscale)
    assert re.search(r'name="p-creative-upscale-scale_factor" value="2" min="1" max="4" step="any"', upscale)


def test_the_price_follows_the_resolution_chosen(catalogue, alice):
    client = client_in(alice)
    data = {"prompt": "", "model": "flux-2-flex", "p-flux-2-flex-num_outputs": "2"}
    for resolution, label in (("0.5 MP", f"2 {TIMES} 1 = 2 credits"), ("4 MP", f"2 {TIMES} 5 = 10 credits")):
        response = client.post(reverse("generate"), {**data, "p-flux-2-flex-resolution": resolution})
        assert price(response) == f"Price: {label}"
    response = client.post(
        reverse("generate"), {"prompt": "", "model": "seedream-4", "p-seedream-4-megapixels": "4"}
    )
    assert price(response) == f"Price: 1 {TIMES} 2 = 2 credits"


def test_bad_parameters_are_refused_in_the_page_with_a_clear_message(catalogue, alice):
    client = client_in(alice)
    data = {"prompt": "a fox", "model": "flux-2-flex", "p-flux-2-flex-resolution": "1 MP"}
    response = client.post(reverse("generate"), {**data, "p-flux-2-flex-num_outputs": "9"})
    html = unescape(response.content.decode())
    assert response.status_code == 200 and "<h1" in html  # the page's own layout, not an error page
    assert "Some of Flux 2 Flex's parameters need fixing: see below." in html
    assert "Ensure this value is less than or equal to 4." in html
    assert 'data-testid="parameters-flux-2-flex">' in html  # its fieldset shown, enabled

    response = client.post(reverse("generate"), {**data, "p-flux-2-flex-resolution": "3 MP"})
    assert "Select a valid choice. 3 MP is not one of the available choices." in unescape(
        response.content.decode()
    )

    response = client.post(reverse("generate"), {"prompt": "a fox", "model": "creative-upscale"})
    assert "This field is required." in unescape(response.content.decode())

    # What only the schema says (a pattern): jsonschema refuses it, beside its field.
    response = client.post(
        reverse("generate"), {"prompt": "a fox", "model": "seedream-4", "p-seedream-4-style": "Oil Paint!"}
    )
    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert "PixelDojo's schema refuses this value: 'Oil Paint!' does not match '^[a-z-]*$'" in html
    assert Generation.objects.count() == 0


def test_the_service_validates_against_the_schema_before_anything_else(catalogue, alice):
    with pytest.raises(
        services.SubmissionRefused, match=r"resolution: PixelDojo's schema refuses this value"
    ):
        services.catalogue_generation_submit(
            user=alice, model="flux-2-flex", payload={"prompt": "a fox", "resolution": "3 MP"}
        )
    with pytest.raises(services.SubmissionRefused, match="Additional properties are not allowed"):
        services.catalogue_generation_submit(user=alice, model="flux-dev", payload={"prompt": "x", "go": 1})
    with pytest.raises(services.SubmissionRefused, match="consistent-characters is not offered"):
        services.catalogue_generation_submit(
            user=alice, model="consistent-characters", payload={"prompt": "x"}
        )


def test_a_valid_catalogue_request_is_queued_as_a_job_at_its_catalogue_price(catalogue, alice):
    data = {
        "prompt": "a fox",
        "model": "flux-2-flex",
        "p-flux-2-flex-resolution": "2 MP",
        "p-flux-2-flex-num_outputs": "3",
        "p-flux-2-flex-safety_tolerance": "2",
        "p-flux-2-flex-output_format": "webp",
    }
    response = client_in(alice).post(reverse("generate"), data)
    assert response.status_code == 302
    generation = Generation.objects.get()
    assert (generation.model, generation.num_outputs, generation.price) == ("flux-2-flex", 3, D(9))
    assert generation.job_input == {
        "prompt": "a fox",
        "resolution": "2 MP",
        "num_outputs": 3,
        "safety_tolerance": 2,
        "output_format": "webp",
        "prompt_upsampling": False,  # an unticked box is sent as false
    }
    assert generation.uses_job_api and generation.status == Generation.Status.QUEUED


def test_the_budget_counts_a_catalogue_models_cost_by_resolution(catalogue, alice, bob):
    team = make_team(alice, member=bob)
    budget_set(actor=alice, team=team, monthly_credits=D(9))
    payload = {"prompt": "a fox", "resolution": "4 MP", "num_outputs": 2}
    with pytest.raises(services.SubmissionRefused, match="This needs 10 credits but only 9"):
        services.catalogue_generation_submit(user=bob, team=team, model="flux-2-flex", payload=payload)
    assert Generation.objects.count() == 0
    payload["resolution"] = "2 MP"  # 2 x 3 = 6 fits, and is reserved until PixelDojo accepts the job
    generation = services.catalogue_generation_submit(
        user=bob, team=team, model="flux-2-flex", payload=payload
    )
    assert generation.price == 6
    with pytest.raises(services.SubmissionRefused, match="This needs 6 credits but only 3"):
        services.catalogue_generation_submit(user=bob, team=team, model="flux-2-flex", payload=payload)


def test_seed_models_are_priced_by_the_catalogue_unless_the_cost_table_names_them(catalogue, alice, settings):
    """PIXELDOJO_MODEL_COSTS wins when it names a model; else the catalogue's rule prices and reserves."""
    params = GenerationRequest(prompt="a fox", model="flux-1.1-pro-ultra", num_outputs=2)
    settings.PIXELDOJO_MODEL_COSTS = {"flux-1.1-pro-ultra": D(3)}
    assert services.generation_submit(user=alice, params=params).price == 6
    settings.PIXELDOJO_MODEL_COSTS = {}
    assert services.generation_submit(user=alice, params=params).price == 3  # the catalogue's 1.5 each
    response = client_in(alice).post(
        reverse("generate"), {"prompt": "", "model": "flux-1.1-pro-ultra", "num_outputs": "2"}
    )
    assert price(response) == f"Price: 2 {TIMES} 1.5 = 3 credits"


@pytest.mark.django_db(transaction=True)
def test_a_seed_model_is_charged_at_the_catalogues_cost_by_a_real_worker(celery_worker, alice, settings):
    assert services.catalogue_refresh().ok
    settings.PIXELDOJO_MODEL_COSTS = {}  # no explicit price: the catalogue's 1.5 per image
    params = GenerationRequest(prompt="a fox", model="flux-1.1-pro-ultra", num_outputs=2, megapixels="0.25")
    generation = services.generation_submit(user=alice, params=params)
    wait_for(lambda: Generation.objects.get(id=generation.id).status == Generation.Status.DONE, timeout=30)
    charges = LedgerEntry.objects.filter(generation=generation, kind="charge")
    assert sorted(charges.values_list("credits", flat=True)) == [D("1.5"), D("1.5")]
