"""``manage.py create_api_token USERNAME [--team CODE] [--scopes generate,read] [--name NAME]``: make a
token for scripts and tests; the token alone is printed on the last line."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from api.models import Scope
from api.services import token_create
from teams.models import Team


class Command(BaseCommand):
    help = "Create an API token for a user (in a team, or personal); prints the token on its last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--team", default="", help="The team's code (UUID) or exact name; default personal."
        )
        parser.add_argument("--scopes", default="read", help=f"Comma-separated, of {','.join(Scope.values)}.")
        parser.add_argument("--name", default="command line")
        parser.add_argument(
            "--expires-days", type=int, default=None, help="Days until it expires (default never)."
        )

    def handle(
        self, *args, username: str, team: str, scopes: str, name: str, expires_days, **options
    ) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        chosen = None
        if team:
            try:
                chosen = Team.objects.filter(code=uuid.UUID(team), deleted_at__isnull=True).first()
            except ValueError:
                chosen = Team.objects.filter(name=team, deleted_at__isnull=True).first()
            if chosen is None:
                raise CommandError(f"No team {team!r}.")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        try:
            created = token_create(
                user=user,
                name=name,
                scopes=[s.strip() for s in scopes.split(",") if s.strip()],
                team=chosen,
                expires_at=expires_at,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        where = chosen.name if chosen else "personal"
        self.stdout.write(f"Token “{name}” for {username} in {where}, scopes {created.token.scopes}:")
        self.stdout.write(created.secret)
