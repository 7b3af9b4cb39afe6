"""The demo's last stage: serve the UI at http://127.0.0.1:8080 with dev login, until Ctrl-C.

Only when someone is there to use it: stdin is a terminal, or ``KRONOBARN_DEMO_SERVE=1``
(``KRONOBARN_DEMO_SERVE=0`` never serves). In CI and other non-interactive runs the demo says
so and returns, so ``make demo`` still ends on its own. While the UI is served a
``kronobarn worker`` runs beside it, so what the forms publish reaches the read model (the
projector) and the audit log (the audit projector).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import uvicorn
from rich.console import Console

from services.api.app import create_app
from services.api.auth.devlogin import dev_login_enabled
from services.settings import Settings
from services.worker.process import hub_env, kronobarn_command, running

SERVE_ENV = "KRONOBARN_DEMO_SERVE"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080
# Who to log in as, by organisation id (the synthetic county's Växjö, 0780, has the most children).
SUGGESTED = (
    ("SE2321000065-BHV0780", "Barnavårdscentralen Växjö: barnensbästa-ansvarig för de yngsta barnen"),
    ("kommun-0780-soc", "Socialtjänsten Växjö: deltar i många planer"),
    ("skolenhet-07802001", "Växjö grundskola 1: rektor som barnensbästa-ansvarig för eleverna"),
    ("dev-auditor", "Granskare: loggutdrag, nödöppningar, historik och tidsresa"),
    ("dev-administrator", "Administratör: ser inga barnuppgifter"),
)
SKIPPED = ("Web UI: not served (stdin is not a terminal). Run with {env}=1 to serve it at http://{host}:{port} "
           "until Ctrl-C.")
NO_DEV_LOGIN = "Web UI: not served: dev login is off (KRONOBARN_ENV=dev and KRONOBARN_DEV_LOGIN unset or on)."


def wanted(stdin_is_tty: bool | None = None) -> bool:
    """Serve when asked to, or when someone is at the terminal; never when told not to."""
    choice = os.environ.get(SERVE_ENV, "").strip()
    if choice in ("0", "false", "no"):
        return False
    if choice in ("1", "true", "yes"):
        return True
    return sys.stdin.isatty() if stdin_is_tty is None else stdin_is_tty


def serve_ui(settings: Settings, console: Console | None = None, *, host: str = DEFAULT_HOST,
             port: int = DEFAULT_PORT) -> bool:
    """Serve the UI on the demo's broker and database until Ctrl-C; False if it could not start.
    Returns at once (True) when not wanted."""
    console = console or Console()
    if not wanted():
        console.print(SKIPPED.format(env=SERVE_ENV, host=host, port=port))
        return True
    if not dev_login_enabled(settings):
        console.print(NO_DEV_LOGIN)
        return False
    app = create_app(settings)
    log = Path(settings.demo_data_dir).parent / "ui-worker.log"
    env = hub_env(settings, database_url=settings.resolved_database_url)
    console.rule("Web UI")
    console.print(f"Serving the UI at [bold]http://{host}:{port}[/bold] (dev login). Log in as, for example:")
    subjects = {u.organisation_id: u.subject for u in _users()} | {"dev-auditor": "dev-auditor",
                                                                   "dev-administrator": "dev-administrator"}
    for org, why in SUGGESTED:
        console.print(f"  • {subjects.get(org, org)} — {why}")
    console.print(f"A worker runs beside it (log: {log}), so what the forms record appears after a moment. "
                  "Press Ctrl-C to stop.")
    with running(kronobarn_command("worker", "--tick", "5"), env, log, "the UI's worker"):
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        except SystemExit as exc:  # uvicorn exits when the port is taken
            console.print(f"[red]Web UI: could not serve on {host}:{port} (exit {exc.code}).[/red]")
            return False
        except KeyboardInterrupt:
            pass
    console.print("Web UI stopped.")
    return True


def _users():  # type: ignore[no-untyped-def]
    from services.api.auth.devlogin import dev_users

    return dev_users()
