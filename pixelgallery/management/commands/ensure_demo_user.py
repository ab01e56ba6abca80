"""Create (or reset) the demo login for a first run, and print it."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from pixelgallery.env import env_str


class Command(BaseCommand):
    help = "Create or reset the demo user (DEMO_USERNAME / DEMO_PASSWORD) and print the login."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="Where the app will be served.")
        parser.add_argument(
            "--login-only",
            action="store_true",
            help="Print only 'username / password' (bin/run prints it once the app answers).",
        )

    def handle(self, *args, url: str, login_only: bool = False, **options) -> None:
        username = env_str("DEMO_USERNAME", "demo")
        password = env_str("DEMO_PASSWORD", "pixel-demo-2026")
        user, created = get_user_model().objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@example.com", "is_staff": True, "is_superuser": True},
        )
        user.set_password(password)
        user.save()
        if login_only:
            self.stdout.write(f"{username} / {password}")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login ({'created' if created else 'reset'}): open {url}  user: {username}  "
                f"password: {password}  (also an admin at {url}admin/)"
            )
        )
