"""Reads of the credit ledger and its daily roll-up.

Reports read the roll-ups kept in step with every spend row — ``DailySpend`` (per day, team, user and model)
and ``DailyPromptSpend`` (per day, team and prompt) — so a page costs a fixed number of small queries however
long the ledger grows. Only the allowance reads the ledger (its few top-ups, through a partial index) and the
CSV export streams it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Max, Q, Sum
from django.utils import timezone

from credits.amounts import ZERO, rough, tidy
from credits.models import (
    Budget,
    BudgetAlert,
    DailyPromptSpend,
    DailySpend,
    LedgerEntry,
    ProviderBalance,
    Reuse,
)
from pixelgallery.caching import remembered
from pixelgallery.moments import day_text
from teams.models import ROLE_RANK, Membership, Role

WINDOWS = (30, 90)  # days the charts and top prompts may cover
LOW_ALLOWANCE_SHARE = Decimal("0.10")  # the remaining allowance is "low" below 10 % of all top-ups …
LOW_ALLOWANCE_CREDITS = 50  # … or below 50 credits
RECENT_ALERTS = 20
TOP_PROMPTS = 10


def credits_spent_by_user(*, user_id: int) -> Decimal:
    """Net credits spent by a user (charges minus refunds), from the roll-up kept in step with the ledger."""
    rows = DailySpend.objects.filter(user_id=user_id).aggregate(total=Sum("credits"))
    return tidy(rows["total"] or ZERO)


def spent_cache_key(user_id: int) -> str:
    return f"credits:spent:user:{user_id}"


def header_credits_spent(*, user_id: int) -> Decimal:
    """``credits_spent_by_user`` for the page header, cached until a spend row of the user is rolled up
    (``credits.services`` forgets it)."""
    return remembered(spent_cache_key(user_id), lambda: credits_spent_by_user(user_id=user_id))


def credits_for_image(*, image_id: int) -> Decimal:
    """Credits charged for one image (its share of what the answer cost, once PixelDojo returned it);
    without trailing zeros, so a template shows it as is (1.5, not 1.5000)."""
    rows = LedgerEntry.objects.filter(image_id=image_id).aggregate(total=Sum("credits"))
    return tidy(rows["total"] or ZERO)


def credits_for_generation(*, generation_id: int) -> Decimal:
    """Credits charged for a generation's images so far (net of refunds), without trailing zeros."""
    rows = LedgerEntry.objects.filter(generation_id=generation_id).aggregate(total=Sum("credits"))
    return tidy(rows["total"] or ZERO)


def credits_saved_by_reuse(*, since: date, user_id: int | None = None, team_id: int | None = None) -> Decimal:
    """Credits saved since ``since`` by taking images already there instead of paying again: by the user
    (in every space), or in the team (one query on an index that holds the credits)."""
    if (user_id is None) == (team_id is None):
        raise ValueError("Pass a user or a team.")
    who = {"user_id": user_id} if user_id is not None else {"team_id": team_id}
    rows = Reuse.objects.filter(created_at__gte=day_start(since), **who).aggregate(total=Sum("credits"))
    return tidy(rows["total"] or ZERO)


def provider_balance_latest() -> ProviderBalance | None:
    """The latest account balance PixelDojo reported (``credits_remaining``), if it ever sent one."""
    return ProviderBalance.objects.order_by("-reported_at", "-id").first()


# --- Periods ------------------------------------------------------------------------------------------


def window_days(value: object) -> int:
    """``?days=`` of the dashboards: 30 or 90, anything else means 30."""
    try:
        days = int(str(value))
    except ValueError:
        return WINDOWS[0]
    return days if days in WINDOWS else WINDOWS[0]


EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the current time zone (the roll-up's days are local days), in UTC.

    Clamped to the times a database can hold (``0001-01-01`` east of UTC would be in year 0), which keeps a
    range's meaning: no row is older than ``EARLIEST`` or newer than ``LATEST``.
    """
    try:
        return timezone.make_aware(datetime.combine(day, time.min)).astimezone(UTC)
    except OverflowError:
        return EARLIEST if day.year == date.min.year else LATEST


def day_end(day: date) -> datetime:
    """The midnight after ``day`` (the excluded end of a range including it), clamped as ``day_start``."""
    return LATEST if day == date.max else day_start(day + timedelta(days=1))


@dataclass(frozen=True)
class Periods:
    today: date
    week: date  # Monday of this week
    month: date  # first day of this month
    window: date  # first day of the chart window
    days: int

    @classmethod
    def ending(cls, today: date, *, days: int) -> Periods:
        return cls(
            today=today,
            week=today - timedelta(days=today.weekday()),
            month=today.replace(day=1),
            window=today - timedelta(days=days - 1),
            days=days,
        )


# --- Budgets -----------------------------------------------------------------------------------------


def month_start(day: date | None = None) -> date:
    return (day or timezone.localdate()).replace(day=1)


def credits_spent_this_month(*, team_id: int, user_id: int | None = None) -> Decimal:
    """Net credits spent in the team this month (by ``user_id``, else by everyone), from the roll-up."""
    rows = DailySpend.objects.filter(team_id=team_id, day__gte=month_start())
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    return rows.aggregate(total=Sum("credits"))["total"] or ZERO


@dataclass(frozen=True)
class BudgetUsage:
    """A monthly budget against this month's spend and the work in flight: what enforcement and the
    dashboards both count."""

    budget: Budget
    used: Decimal  # spent this month
    reserved: Decimal  # the price of work PixelDojo has not answered yet

    @property
    def limit(self) -> Decimal:
        return self.budget.monthly_credits

    @property
    def committed(self) -> Decimal:
        return self.used + self.reserved

    @property
    def left(self) -> Decimal:
        return max(ZERO, self.limit - self.committed)

    @property
    def percent(self) -> int:
        """Share of the budget used or reserved, in whole percent (a zero budget is full at once)."""
        if self.limit == 0:
            return 100 if self.committed > 0 else 0
        return round(100 * self.committed / self.limit)

    @property
    def meter_value(self) -> Decimal:
        return min(self.committed, self.limit)

    @property
    def state(self) -> str:
        if self.committed >= self.limit:
            return "over"
        if self.percent >= 80:
            return "warn"
        return "ok"

    def fits(self, credits: Decimal) -> bool:
        """``credits`` more would stay within the budget."""
        return self.committed + credits <= self.limit


def budget_usage(*, budget: Budget, reserved: Decimal) -> BudgetUsage:
    """One budget (the team's, or a member's) this month, counting ``reserved`` credits of work in flight."""
    used = credits_spent_this_month(team_id=budget.team_id, user_id=budget.user_id)
    return BudgetUsage(budget=budget, used=used, reserved=reserved)


# --- Forecasts ----------------------------------------------------------------------------------------

RATE_DAYS = 7  # the forecast's rate: spend over the 7 days ending today (today so far included), / 7


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def rate_since(today: date) -> date:
    """The first of the ``RATE_DAYS`` days whose spend makes the forecast's rate."""
    return today - timedelta(days=RATE_DAYS - 1)


class ForecastState:
    USED_UP = "used_up"  # nothing left: spent at or over the limit already
    IDLE = "idle"  # no (net) spend in the last 7 days: no date to give
    THIS_MONTH = "this_month"  # runs out before the period ends
    LATER = "later"  # not this month


@dataclass(frozen=True)
class Forecast:
    """When a monthly budget runs out if spending goes on at the last 7 days' rate.

    Spend is taken to go on evenly from ``now``: the budget runs out ``(limit - spent) / rate`` days later.
    The period is the calendar month of ``now`` (local time); it ends at the midnight after its last day.
    """

    now: datetime
    spent: Decimal  # this period so far
    limit: Decimal
    rate: Decimal  # credits a day: the last 7 days' spend / 7 (never below 0)
    state: str
    runs_out_at: datetime | None  # only when it runs out this period

    @property
    def period_start(self) -> date:
        return month_start(timezone.localdate(self.now))

    @property
    def period_last_day(self) -> date:
        return month_end(timezone.localdate(self.now))

    @property
    def runs_out_on(self) -> date | None:
        return timezone.localdate(self.runs_out_at) if self.runs_out_at else None

    @property
    def runs_out_this_month(self) -> bool:
        return self.state == ForecastState.THIS_MONTH

    @property
    def period_end_spend(self) -> Decimal:
        """What will have been spent when the period ends, at this rate."""
        end = day_end(self.period_last_day)
        return self.spent + self.rate * Decimal((end - self.now).total_seconds()) / 86400

    @property
    def rate_label(self) -> str:
        """The rate for people: one decimal place (4.3), or two significant digits below 1 (0.14)."""
        return rough(self.rate)

    @property
    def text(self) -> str:
        """The forecast in one plain sentence (e-mails, text alternatives)."""
        if self.state == ForecastState.USED_UP:
            return "Already used up this month."
        if self.state == ForecastState.IDLE:
            return "No spend in the last 7 days: no forecast."
        if self.state == ForecastState.THIS_MONTH:
            return (
                f"At the last 7 days' rate ({self.rate_label} a day) this runs out on "
                f"{day_text(self.runs_out_on)}."
            )
        return f"Not this month at the last 7 days' rate ({self.rate_label} a day)."


def forecast(*, spent: Decimal, recent: Decimal, limit: Decimal, now: datetime) -> Forecast:
    """The forecast of a budget of ``limit`` with ``spent`` this period and ``recent`` spent in the 7 days
    ending today (``now``'s local day, so far): pure, no database."""
    rate = max(ZERO, Decimal(recent) / RATE_DAYS)
    fields = {"now": now, "spent": spent, "limit": limit, "rate": rate}
    if spent >= limit:
        return Forecast(**fields, state=ForecastState.USED_UP, runs_out_at=None)
    if rate <= 0:
        return Forecast(**fields, state=ForecastState.IDLE, runs_out_at=None)
    days = (limit - spent) / rate
    left = Decimal((day_end(month_end(timezone.localdate(now))) - now).total_seconds()) / 86400
    if days >= left:
        return Forecast(**fields, state=ForecastState.LATER, runs_out_at=None)
    return Forecast(**fields, state=ForecastState.THIS_MONTH, runs_out_at=now + timedelta(days=float(days)))


def budget_forecast(*, budget: Budget, now: datetime | None = None) -> Forecast:
    """``forecast`` of one budget (the team's, or a member's), from the roll-up: one query."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    month, since = month_start(today), rate_since(today)
    rows = DailySpend.objects.filter(team_id=budget.team_id, day__gte=min(month, since), day__lte=today)
    if budget.user_id is not None:
        rows = rows.filter(user_id=budget.user_id)
    sums = rows.aggregate(
        spent=Sum("credits", filter=Q(day__gte=month)), recent=Sum("credits", filter=Q(day__gte=since))
    )
    return forecast(
        spent=sums["spent"] or ZERO, recent=sums["recent"] or ZERO, limit=budget.monthly_credits, now=now
    )


# --- One user's spend ---------------------------------------------------------------------------------


@dataclass
class Share:
    label: str
    credits: Decimal
    percent: float = 0.0


def _percent(part: Decimal, whole: Decimal) -> float:
    """``part`` of ``whole`` in percent, one decimal place (0 when there is no whole)."""
    return round(float(100 * part / whole), 1) if whole > 0 else 0.0


def _shares(totals: dict[str, Decimal]) -> list[Share]:
    """Rows sorted by credits (largest first), each with its share of the positive total."""
    whole = sum((value for value in totals.values() if value > 0), ZERO)
    rows = [
        Share(label=label, credits=value, percent=_percent(value, whole))
        for label, value in totals.items()
        if value
    ]
    return sorted(rows, key=lambda row: (-row.credits, row.label))


@dataclass
class UserSpend:
    periods: Periods
    today: Decimal
    week: Decimal
    month: Decimal
    by_model: list[Share]  # this month
    by_team: list[Share]  # this month; personal work is "Personal"
    daily: dict[date, Decimal]  # the chart window


def user_spend(*, user_id: int, periods: Periods) -> UserSpend:
    """The user's spend in all teams and personal work: today, this week, this month, by model, per day."""
    since = min(periods.week, periods.month, periods.window)
    rows = (
        DailySpend.objects.filter(user_id=user_id, day__gte=since, day__lte=periods.today)
        .values_list("day", "team_id", "team__name", "model")
        .annotate(total=Sum("credits"))
        .order_by()
    )
    today = week = month = ZERO
    by_model: dict[str, Decimal] = defaultdict(Decimal)
    by_team: dict[str, Decimal] = defaultdict(Decimal)
    daily: dict[date, Decimal] = defaultdict(Decimal)
    for day, team_id, team_name, model, total in rows:
        if day == periods.today:
            today += total
        if day >= periods.week:
            week += total
        if day >= periods.window:
            daily[day] += total
        if day >= periods.month:
            month += total
            by_model[model or "(unknown)"] += total
            by_team[team_name if team_id else "Personal"] += total
    return UserSpend(
        periods=periods,
        today=today,
        week=week,
        month=month,
        by_model=_shares(by_model),
        by_team=_shares(by_team),
        daily=dict(daily),
    )


# --- A team's dashboard -------------------------------------------------------------------------------


@dataclass
class MemberSpend:
    user_id: int
    username: str
    role: str | None  # None: no longer a member (their spend still counts)
    month: Decimal = ZERO
    recent: Decimal = ZERO  # in the forecast's 7 days
    reserved: Decimal = ZERO
    budget: BudgetStatus | None = None

    @property
    def role_label(self) -> str:
        return Role(self.role).label if self.role else "Former member"


@dataclass(frozen=True)
class BudgetStatus(BudgetUsage):
    """A budget's usage as the team's credits page shows it."""

    username: str = ""  # empty for the team's budget
    former: bool = False  # the member left the team (the budget no longer applies)
    forecast: Forecast | None = None
    team_name: str = ""


@dataclass
class Allowance:
    top_ups: Decimal
    spent: Decimal  # all time, net of refunds

    @property
    def remaining(self) -> Decimal:
        return self.top_ups - self.spent

    @property
    def recorded(self) -> bool:
        """An admin has entered at least one top-up; before that there is nothing to count down from."""
        return self.top_ups > 0

    @property
    def low(self) -> bool:
        if not self.recorded:
            return False
        return self.remaining < LOW_ALLOWANCE_CREDITS or self.remaining < LOW_ALLOWANCE_SHARE * self.top_ups


@dataclass
class PromptSpend:
    prompt: str
    credits: Decimal
    percent: float = 0.0  # of the team's spend in the window


@dataclass
class TeamDashboard:
    periods: Periods
    month_total: Decimal
    members: list[MemberSpend]
    by_model: list[Share]
    daily: dict[date, Decimal]
    top_prompts: list[PromptSpend]
    team_budget: BudgetStatus | None
    member_budgets: list[BudgetStatus]
    allowance: Allowance
    alerts: list[BudgetAlert]
    reserved_total: Decimal = ZERO
    month_daily: dict[date, Decimal] = field(default_factory=dict)  # this month's days so far
    recent_total: Decimal = ZERO  # the team's spend in the forecast's 7 days
    now: datetime | None = None


def team_dashboard(
    *,
    team,
    periods: Periods,
    reserved: dict[int, Decimal],
    memberships: list[Membership] | None = None,
    now: datetime | None = None,
) -> TeamDashboard:
    """Everything the team's credits page shows, in a fixed number of queries whatever the team's size.

    ``reserved``: the credits reserved by each member's work PixelDojo has not answered yet, by user id.
    ``now``: the moment the budgets' forecasts start from (in ``periods.today``; default: now).
    """
    now = now or timezone.now()
    if memberships is None:
        memberships = list(Membership.objects.filter(team=team).select_related("user"))
    since = rate_since(periods.today)
    month_rows = (
        DailySpend.objects.filter(team=team, day__gte=min(periods.month, since), day__lte=periods.today)
        .values_list("user_id", "user__username", "model")
        .annotate(
            month=Sum("credits", filter=Q(day__gte=periods.month)),
            recent=Sum("credits", filter=Q(day__gte=since)),
        )
        .order_by()
    )
    members: dict[int, MemberSpend] = {
        m.user_id: MemberSpend(user_id=m.user_id, username=m.user.get_username(), role=m.role)
        for m in memberships
    }
    by_model: dict[str, Decimal] = defaultdict(Decimal)
    recent_total = ZERO
    for user_id, username, model, month, recent in month_rows:
        recent_total += recent or ZERO
        if user_id not in members and month is None:
            continue  # a former member who spent only last month: not in this month's table
        member = members.setdefault(user_id, MemberSpend(user_id=user_id, username=username, role=None))
        member.recent += recent or ZERO
        if month is not None:
            member.month += month
            by_model[model or "(unknown)"] += month
    for user_id, credits in reserved.items():
        if user_id in members:
            members[user_id].reserved = credits
    month_total = sum((member.month for member in members.values()), ZERO)
    reserved_total = sum(reserved.values(), ZERO)  # as the team's budget counts it, whoever asked

    team_budget = None
    member_budgets = []
    for budget in Budget.objects.filter(team=team).select_related("user"):
        if budget.user_id is None:
            team_budget = BudgetStatus(
                budget=budget,
                used=month_total,
                reserved=reserved_total,
                forecast=forecast(
                    spent=month_total, recent=recent_total, limit=budget.monthly_credits, now=now
                ),
            )
            continue
        member = members.get(budget.user_id)
        used = member.month if member else ZERO
        status = BudgetStatus(
            budget=budget,
            used=used,
            reserved=member.reserved if member else ZERO,
            username=budget.user.get_username(),
            former=member is None or member.role is None,
            forecast=forecast(
                spent=used, recent=member.recent if member else ZERO, limit=budget.monthly_credits, now=now
            ),
        )
        member_budgets.append(status)
        if member:
            member.budget = status

    days = team_daily_spend(team_id=team.id, since=min(periods.window, periods.month), until=periods.today)
    daily = {day: total for day, total in days.items() if day >= periods.window}
    window_total = sum(daily.values(), ZERO)
    top_prompts = team_top_prompts(team_id=team.id, since=periods.window, until=periods.today)
    for row in top_prompts:
        row.percent = _percent(row.credits, window_total)

    ordered = sorted(
        members.values(),
        key=lambda m: (-m.month, -ROLE_RANK.get(m.role, 0), m.username.lower()),
    )
    return TeamDashboard(
        periods=periods,
        month_total=month_total,
        members=ordered,
        by_model=_shares(by_model),
        daily=daily,
        top_prompts=top_prompts,
        team_budget=team_budget,
        member_budgets=sorted(member_budgets, key=lambda status: status.username.lower()),
        allowance=team_allowance(team_id=team.id),
        alerts=team_alerts(team_id=team.id),
        reserved_total=reserved_total,
        month_daily={day: total for day, total in days.items() if day >= periods.month},
        recent_total=recent_total,
        now=now,
    )


def team_budget_users_who_left(*, team_id: int, memberships: list[Membership]) -> list:
    """People with a member budget in the team who are no longer members of it."""
    budgets = (
        Budget.objects.filter(team_id=team_id, user__isnull=False)
        .exclude(user__in=[m.user_id for m in memberships])
        .select_related("user")
    )
    return [budget.user for budget in budgets]


def team_daily_spend(*, team_id: int, since: date, until: date) -> dict[date, Decimal]:
    rows = (
        DailySpend.objects.filter(team_id=team_id, day__gte=since, day__lte=until)
        .values_list("day")
        .annotate(total=Sum("credits"))
        .order_by()
    )
    return dict(rows)


def team_allowance(*, team_id: int) -> Allowance:
    """All top-ups recorded for the team against all its spend (net of refunds)."""
    top_ups = LedgerEntry.objects.filter(team_id=team_id, kind=LedgerEntry.Kind.TOP_UP).aggregate(
        total=Sum("credits")
    )["total"]
    spent = DailySpend.objects.filter(team_id=team_id).aggregate(total=Sum("credits"))["total"]
    return Allowance(top_ups=top_ups or ZERO, spent=spent or ZERO)


def team_alerts(*, team_id: int, limit: int = RECENT_ALERTS) -> list[BudgetAlert]:
    return list(
        BudgetAlert.objects.filter(budget__team_id=team_id)
        .select_related("budget__user")
        .order_by("-created_at", "-id")[:limit]
    )


def team_top_prompts(
    *, team_id: int, since: date, until: date, limit: int = TOP_PROMPTS
) -> list[PromptSpend]:
    """The prompts the team spent most on from ``since`` to ``until``, from the per-prompt daily roll-up.

    Two small queries: the top prompt keys (summing short keys, not long prompt texts), then their texts.
    """
    window = DailyPromptSpend.objects.filter(team_id=team_id, day__gte=since, day__lte=until)
    top = list(
        window.values_list("prompt_key")
        .annotate(total=Sum("credits"))
        .filter(total__gt=0)
        .order_by("-total", "prompt_key")[:limit]
    )
    texts = dict(
        window.filter(prompt_key__in=[key for key, _ in top])
        .values_list("prompt_key")
        .annotate(text=Max("prompt"))
        .order_by()
    )
    rows = [PromptSpend(prompt=texts[key], credits=total) for key, total in top]
    return sorted(rows, key=lambda row: (-row.credits, row.prompt))


def ledger_export_rows(*, team_id: int, start: datetime, end: datetime):
    """The team's ledger rows from ``start`` (included) to ``end`` (excluded), oldest first, as tuples.

    An iterator over a server-side cursor (PostgreSQL), 5,000 rows at a time: memory stays flat however many
    rows there are.
    """
    return (
        LedgerEntry.objects.filter(team_id=team_id, created_at__gte=start, created_at__lt=end)
        .order_by("created_at", "id")
        .values_list(
            "created_at",
            "kind",
            "user__username",
            "model",
            "credits",
            "generation__code",
            "image__code",
            "note",
        )
        .iterator(chunk_size=5000)
    )


def team_ledger_totals(*, team_id: int) -> dict[str, int | Decimal]:
    """The team's ledger, which its deletion keeps (``teams.hooks`` summary fields): entries of any kind,
    and the credits spent in them (charges less refunds)."""
    entries = LedgerEntry.objects.filter(team_id=team_id)
    spent = entries.filter(kind__in=LedgerEntry.SPEND_KINDS).aggregate(total=Sum("credits"))["total"]
    return {"ledger_entries": entries.count(), "ledger_credits": tidy(spent or ZERO)}


LEDGER_FIELDS = (
    "id",
    "created_at",
    "kind",
    "user__username",
    "model",
    "credits",
    "generation__code",
    "image__code",
    "note",
)


def ledger_page(
    *, team_id: int | None, user_id: int, after: tuple[datetime, int] | None, limit: int
) -> list[dict]:
    """Up to ``limit`` ledger rows, newest first, after the position ``after`` (created_at, id): the team's
    (``team_id``), or the user's personal ones; one query (an index range on the team, or on the user)."""
    if team_id is not None:
        rows = LedgerEntry.objects.filter(team_id=team_id)
    else:
        rows = LedgerEntry.objects.filter(team__isnull=True, user_id=user_id)
    if after is not None:
        moment, entry_id = after
        rows = rows.filter(created_at__lte=moment).exclude(created_at=moment, id__gte=entry_id)
    return list(rows.order_by("-created_at", "-id").values(*LEDGER_FIELDS)[:limit])


def user_budgets(
    *, user_id: int, team_ids: list[int], generating_team_ids: list[int], now: datetime | None = None
) -> list[BudgetStatus]:
    """The budgets that limit the user, with their forecasts: their own in each of ``team_ids`` (the teams
    they belong to), and the team's budget of each of ``generating_team_ids`` (those they may generate in).
    By team name, the team's budget first; two queries (none without teams, one without budgets).

    Work in flight is not counted here (``reserved`` is 0): this is the user's view of spend and forecast.
    """
    if not team_ids:
        return []
    now = now or timezone.now()
    today = timezone.localdate(now)
    month, since = month_start(today), rate_since(today)
    budgets = list(
        Budget.objects.filter(
            Q(user_id=user_id, team_id__in=team_ids) | Q(user__isnull=True, team_id__in=generating_team_ids)
        )
        .select_related("team")
        .order_by("team__name", "team_id", "user_id")
    )
    if not budgets:
        return []
    rows = (
        DailySpend.objects.filter(
            team_id__in={budget.team_id for budget in budgets}, day__gte=min(month, since), day__lte=today
        )
        .values_list("team_id", "user_id")
        .annotate(
            month=Sum("credits", filter=Q(day__gte=month)), recent=Sum("credits", filter=Q(day__gte=since))
        )
        .order_by()
    )
    spent: dict[tuple[int, int | None], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for team_id, row_user_id, month_total, recent in rows:
        for key in ((team_id, None), (team_id, row_user_id)):
            spent[key][0] += month_total or ZERO
            spent[key][1] += recent or ZERO
    statuses = []
    for budget in budgets:
        used, recent = spent[(budget.team_id, budget.user_id)]
        statuses.append(
            BudgetStatus(
                budget=budget,
                used=used,
                reserved=ZERO,
                team_name=budget.team.name,
                forecast=forecast(spent=used, recent=recent, limit=budget.monthly_credits, now=now),
            )
        )
    return sorted(statuses, key=lambda status: (status.team_name.lower(), status.budget.user_id is not None))
