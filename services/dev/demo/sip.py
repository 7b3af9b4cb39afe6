"""The demo's SIP stage: what the plans hold as a samordnad individuell plan, counted from the
read model; one plan printed for the family through the web service, as its lead would; and the
day's reminders mailed to the units' mailboxes, into a local SMTP server (aiosmtpd) that keeps them.

Only counts and a pseudonym prefix are printed: the plans' free text is personal data. The PDF
is written next to the demo's database, where only the person running the demo reads it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from email import message_from_bytes
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select

from projections.plan import AGREED, CANCELLED, COMPLETED, ONGOING, OPEN
from projections.read_model import (
    action_evaluations,
    actions,
    assessment_history,
    children,
    follow_up_reviews,
    invitation_answers,
    invitations,
    plan_participants,
)
from services.api.app import create_app
from services.api.auth.tokens import Principal, Role
from services.county import county_directory
from services.dev.demo.plans import PRIVATE_TEXTS
from services.reminders.sending import send_reminders
from services.settings import Settings

PDF_NAME = "barnets-plan.pdf"


def _counts(engine: Engine) -> dict[str, int]:
    def count(table, *where) -> int:  # type: ignore[no-untyped-def]
        return c.execute(select(func.count()).select_from(table).where(*where)).scalar_one()

    with engine.connect() as c:
        return {
            "open plans": count(children, children.c.plan_status == OPEN),
            "kallelser": count(invitations),
            "answers": count(invitation_answers),
            "participants with responsibilities": count(plan_participants, plan_participants.c.active),
            "actions planned": count(actions, actions.c.status == AGREED),
            "actions ongoing": count(actions, actions.c.status == ONGOING),
            "actions done": count(actions, actions.c.status == COMPLETED),
            "actions cancelled": count(actions, actions.c.status == CANCELLED),
            "actions by others (a club, a relative)": count(actions, actions.c.by_others),
            "follow-ups held": count(follow_up_reviews),
            "actions evaluated": count(action_evaluations),
            "wheel ratings (history)": count(assessment_history),
        }


def _a_plan_to_print(engine: Engine) -> tuple[str, str] | None:
    """An open plan with a follow-up held and a kallelse ahead, and its lead: (child id, lead org)."""
    query = (select(children.c.child_id, children.c.lead_org)
             .where(children.c.plan_status == OPEN, children.c.lead_org.is_not(None),
                    children.c.child_id.in_(select(follow_up_reviews.c.child_id)),
                    children.c.child_id.in_(select(invitations.c.child_id)))
             .order_by(children.c.child_id).limit(1))
    with engine.connect() as c:
        row = c.execute(query).first()
    return None if row is None else (row.child_id, row.lead_org)


def _print(settings: Settings, engine: Engine, console: Console) -> bool:
    console.rule("Barnets plan as a SIP: kallelser, responsibilities, follow-ups, evaluations, a printed plan")
    counts = _counts(engine)
    table = Table(title="What the plans hold (all organisations)")
    table.add_column("SIP part")
    table.add_column("count", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
    chosen = _a_plan_to_print(engine)
    if chosen is None:
        console.print("[red]No plan with a follow-up held and a kallelse to print.[/red]")
        return False
    child_id, lead = chosen
    data_dir = Path(settings.demo_data_dir)
    directory = county_directory(settings)
    app = create_app(settings, engine=engine, dev_key_file=data_dir.parent / "dev-login.json")
    unit = directory.organisation(lead)
    principal = Principal(f"demo-lead-{lead}", Role.COORDINATOR, lead, unit.kind if unit else "")
    token = app.state.hub.dev_idp.issue(principal)
    with TestClient(app) as client:
        r = client.get(f"/ui/children/{child_id}/plan.pdf", headers={"Authorization": f"Bearer {token}"})
    printed = r.status_code == 200 and r.content.startswith(b"%PDF")
    if printed:
        out = data_dir.parent / PDF_NAME
        out.write_bytes(r.content)
        console.print(f"The plan of child {child_id[:8]}… printed by its lead ({directory.name(lead) or lead}) "
                      f"for the family: {out} ({len(r.content) // 1024} KiB), logged as a read with purpose "
                      f"'print'. The same page in the UI: /ui/children/{child_id}/print")
    else:
        console.print(f"[red]The printable plan failed: {r.status_code}.[/red]")
    return printed and all(counts[k] for k in ("kallelser", "answers", "participants with responsibilities",
                                               "actions by others (a club, a relative)", "follow-ups held",
                                               "actions evaluated"))


class _Sink:
    """The demo's mail server: keeps every message it is given (aiosmtpd's handler protocol)."""

    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _remind(settings: Settings, engine: Engine, console: Console) -> bool:
    """``kronobarn reminders send`` against a local mail server; every mail checked for the
    children's ids and the plans' text, which must never be in one."""
    from aiosmtpd.controller import Controller  # the development room's mail server (the [test] extra)

    sink, port = _Sink(), _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailing = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
        outcome = send_reminders(mailing, engine, county_directory(settings), dt.datetime.now(dt.UTC))
    finally:
        controller.stop()
    with engine.connect() as c:
        ids = [cid for (cid,) in c.execute(select(children.c.child_id))]
    texts = [m.get_body(("plain",)).get_content() + str(m["Subject"]) for m in sink.mails]  # type: ignore[union-attr]
    leaks = sum(any(i in t or i[:8] in t for i in ids) or any(p in t for p in PRIVATE_TEXTS) for t in texts)
    console.print(f"Reminders: {len(sink.mails)} mail(s) to the units' mailboxes through a local SMTP server "
                  f"(127.0.0.1:{port}), {len(outcome.idle)} mailbox(es) with nothing to do; each mail holds a count "
                  f"and the link to /ui/att-gora. Mails with a child's id or plan text in them: {leaks}.")
    return bool(sink.mails) and len(sink.mails) == len(outcome.sent) and leaks == 0


async def sip_stage(settings: Settings, engine: Engine, console: Console) -> bool:
    printed = await asyncio.to_thread(_print, settings, engine, console)
    reminded = await asyncio.to_thread(_remind, settings, engine, console)
    return printed and reminded
