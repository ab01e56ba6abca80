"""Credit pages: your own spend, and the active team's dashboard, budgets, top-ups and ledger export."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from credits import hooks, selectors
from credits.amounts import credits_label, plain
from credits.charts import bar_chart, daily_series, month_chart
from credits.forms import BudgetForm, ExportForm, TopUpForm
from credits.services import budget_set, ledger_top_up
from teams.active import SESSION_KEY, active_team
from teams.models import Membership, Team
from teams.permissions import Action, can, memberships_of, role_allows

EXPORT_HEADER = ("date_time", "kind", "user", "model", "credits", "generation", "image", "note")
EXPORT_CHUNK_ROWS = 500


def _periods(request: HttpRequest) -> selectors.Periods:
    days = selectors.window_days(request.GET.get("days"))
    return selectors.Periods.ending(timezone.localdate(), days=days)


@login_required
@require_GET
def mine(request: HttpRequest) -> HttpResponse:
    periods = _periods(request)
    spend = selectors.user_spend(user_id=request.user.id, periods=periods)
    team = active_team(request)
    memberships = memberships_of(request.user)
    context = {
        "spend": spend,
        "periods": periods,
        "windows": selectors.WINDOWS,
        "window_url": reverse("credits:mine"),
        "chart": bar_chart(
            daily_series(spend.daily, start=periods.window, end=periods.today),
            title=f"Your credits per day, last {periods.days} days",
        ),
        "budgets": selectors.user_budgets(
            user_id=request.user.id,
            team_ids=list(memberships),
            generating_team_ids=[
                team_id for team_id, m in memberships.items() if role_allows(m.role, Action.GENERATE)
            ],
        ),
        "quota": hooks.quota_state(),
        "balance": selectors.provider_balance_latest(),
        "saved": selectors.credits_saved_by_reuse(user_id=request.user.id, since=periods.month),
        "team": team,
        "can_manage_team": team is not None and can(request.user, Action.MANAGE_MEMBERS, team_id=team.id),
    }
    return render(request, "credits/mine.html", context)


def team_admin(view: Callable) -> Callable:
    """Run ``view(request, team)`` for the active team's admins and owners.

    No team picked: back to your own credits page. A team you are not (or no longer) a member of: 404.
    Viewers and members: 403.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.session.get(SESSION_KEY):
            messages.info(request, "Pick a team in the header to see its credits.")
            return redirect("credits:mine")
        team = active_team(request)
        if team is None:
            raise Http404("You are not a member of this team.")
        if not can(request.user, Action.MANAGE_MEMBERS, team_id=team.id):
            raise PermissionDenied("Only the team's admins and owners see its credits.")
        return view(request, team, *args, **kwargs)

    return wrapper


def _memberships(team: Team) -> list[Membership]:
    return list(Membership.objects.filter(team=team).select_related("user"))


def _dashboard(
    request: HttpRequest,
    team: Team,
    *,
    memberships: list[Membership] | None = None,
    budget_form: BudgetForm | None = None,
    top_up_form: TopUpForm | None = None,
) -> HttpResponse:
    periods = _periods(request)
    memberships = _memberships(team) if memberships is None else memberships
    dashboard = selectors.team_dashboard(
        team=team,
        periods=periods,
        reserved=hooks.reserved_by_user(team_id=team.id),
        memberships=memberships,
    )
    former = [status.budget.user for status in dashboard.member_budgets if status.former]
    team_forecast = dashboard.team_budget.forecast if dashboard.team_budget else None
    context = {
        "team": team,
        "dashboard": dashboard,
        "periods": periods,
        "windows": selectors.WINDOWS,
        "window_url": reverse("credits:team"),
        "chart": bar_chart(
            daily_series(dashboard.daily, start=periods.window, end=periods.today),
            title=f"{team.name}: credits per day, last {periods.days} days",
        ),
        "month_chart": month_chart(
            dashboard.month_daily,
            now=dashboard.now,
            rate=dashboard.recent_total / selectors.RATE_DAYS,
            limit=team_forecast.limit if team_forecast else None,
            runs_out_on=team_forecast.runs_out_on if team_forecast else None,
            title=f"{team.name}: credits spent this month and the forecast to its end",
        ),
        "quota": hooks.quota_state(),
        "balance": selectors.provider_balance_latest(),
        "month": periods.month,
        "saved": selectors.credits_saved_by_reuse(team_id=team.id, since=periods.month),
        "budget_form": budget_form or BudgetForm(memberships=memberships, team_name=team.name, former=former),
        "top_up_form": top_up_form or TopUpForm(),
        "export_form": ExportForm(initial={"from": periods.month, "to": periods.today}),
    }
    return render(request, "credits/team.html", context)


@login_required
@require_GET
@team_admin
def team_dashboard(request: HttpRequest, team: Team) -> HttpResponse:
    return _dashboard(request, team)


@login_required
@require_POST
@team_admin
def team_budget(request: HttpRequest, team: Team) -> HttpResponse:
    memberships = _memberships(team)
    former = selectors.team_budget_users_who_left(team_id=team.id, memberships=memberships)
    form = BudgetForm(request.POST, memberships=memberships, team_name=team.name, former=former)
    if not form.is_valid():
        return _dashboard(request, team, memberships=memberships, budget_form=form)
    member = form.cleaned_data["scope"]
    credits = form.cleaned_data["monthly_credits"]
    budget_set(actor=request.user, team=team, user=member, monthly_credits=credits)
    whose = f"{member.get_username()}'s" if member else f"{team.name}'s"
    if credits is None:
        messages.success(request, f"Removed {whose} monthly budget.")
    else:
        messages.success(request, f"{whose} monthly budget is now {credits_label(credits)}.")
    return redirect(reverse("credits:team") + "#budgets")


@login_required
@require_POST
@team_admin
def team_top_up(request: HttpRequest, team: Team) -> HttpResponse:
    form = TopUpForm(request.POST)
    if not form.is_valid():
        return _dashboard(request, team, top_up_form=form)
    entry = ledger_top_up(
        actor=request.user, team=team, credits=form.cleaned_data["credits"], note=form.cleaned_data["note"]
    )
    messages.success(request, f"Recorded a top-up of {credits_label(entry.credits)} for {team.name}.")
    return redirect(reverse("credits:team") + "#allowance")


class _Echo:
    """A file-like object whose ``write`` hands the line back, for ``csv.writer`` to stream through."""

    def write(self, value: str) -> str:
        return value


def _cell(value: str) -> str:
    """Text a spreadsheet would run as a formula is kept as text."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_chunks(rows: Iterable[tuple]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    chunk = [writer.writerow(EXPORT_HEADER)]
    for created_at, kind, username, model, credits, generation, image, note in rows:
        chunk.append(
            writer.writerow(
                (
                    timezone.localtime(created_at).isoformat(timespec="seconds"),
                    kind,
                    _cell(username or ""),
                    _cell(model),
                    plain(credits),
                    generation or "",
                    image or "",
                    _cell(note),
                )
            )
        )
        if len(chunk) >= EXPORT_CHUNK_ROWS:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


@login_required
@require_GET
@team_admin
def team_export(request: HttpRequest, team: Team) -> HttpResponse:
    today = timezone.localdate()
    form = ExportForm(
        {
            "from": request.GET.get("from") or selectors.month_start(today).isoformat(),
            "to": request.GET.get("to") or today.isoformat(),
        }
    )
    if not form.is_valid():
        return render(request, "credits/export_error.html", {"team": team, "form": form}, status=400)
    start, end = form.cleaned_data["from"], form.cleaned_data["to"]
    rows = selectors.ledger_export_rows(
        team_id=team.id, start=selectors.day_start(start), end=selectors.day_end(end)
    )
    response = StreamingHttpResponse(_csv_chunks(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="credits-{start}-to-{end}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
