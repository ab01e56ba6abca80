"""`manage.py pixeldojo_sandbox`: run the PixelDojo sandbox server in the foreground."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer


class Command(BaseCommand):
    help = "Serve the local PixelDojo API sandbox (config from PIXELDOJO_SANDBOX_* variables) until Ctrl-C."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8765, help="Port to bind (default 8765, 0 = any).")
        parser.add_argument("--retention-seconds", type=float, help="How long image URLs keep working.")
        parser.add_argument("--rpm", type=int, help="Requests per minute of keys without an explicit rpm.")
        parser.add_argument("--latency-seconds", type=float, help="Delay of every successful /flux.")

    def handle(self, *args: Any, **options: Any) -> None:
        environ = dict(os.environ)
        if options["rpm"] is not None:
            environ["PIXELDOJO_SANDBOX_RPM"] = str(options["rpm"])
        try:
            config = SandboxConfig.from_env(environ)
            overrides = {
                name: options[name]
                for name in ("retention_seconds", "latency_seconds")
                if options[name] is not None
            }
            config = config.updated(**overrides)
            server = SandboxServer(host=options["host"], port=options["port"], config=config)
        except (ValueError, OSError) as exc:
            raise CommandError(f"Cannot start the PixelDojo sandbox: {exc}") from exc

        if options["verbosity"] >= 2:
            logging.getLogger("sandbox").setLevel(logging.DEBUG)
        server.start()
        keys = ", ".join(config.keys)
        self.stdout.write(
            f"PixelDojo sandbox listening on {server.base_url} "
            f"(key{'s' if len(config.keys) > 1 else ''}: {keys}, retention {config.retention_seconds:g}s)"
        )
        self.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            self.stdout.write("PixelDojo sandbox stopped.")
        finally:
            server.stop()
