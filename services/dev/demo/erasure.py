"""The demo's erasure stage: one child of the county erased while the worker runs, and the proof.

A child with a plan the demo opened gets a coordinator's note that names it, and is then erased
the way an administrator does it (``services.erasure.erase``: the audit event first, then every
id's key, then the read model's text), with the worker running. Its plaintext -- the name and
personnummer opened from the read model's sealed identity, and the note -- is looked for
everywhere (``services.dev.erasure_scan``): before the erasure as a control, which must find it,
and after the documented bound, which must not. (The demo's other plan texts are drawn from
shared templates, so they would be found in other children's plans too.) The stand-ins' data directory is left out:
it is the county's own source systems, which keep their records whatever the hub erases.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select

from projections.read_model import children
from schemas.codec import Codec
from schemas.sealing import Personal, Sealer
from services.api.orgs import OrgDirectory
from services.api.publishing import KafkaPublisher
from services.commands import plan as plan_service
from services.dev.erasure_scan import Found, needles_of, scan
from services.erasure.audit_text import AuditText
from services.erasure.erase import Eraser, erase
from services.erasure.watch import BOUND_S
from services.readmodel.engine import read_model, until_projected
from services.settings import Settings
from services.sql.keystore import SqlKeyStore, master_key_from
from services.sql.schema import organisation_contacts

JUSTIFICATION = "Demonstration: vårdnadshavarna har begärt radering (syntetiska uppgifter)."
NAME_MIN = 4  # a shorter name alone would match by chance somewhere in the bytes


async def erasure_stage(settings: Settings, engine: Engine, codec: Codec, plans: dict[uuid.UUID, uuid.UUID],
                        console: Console) -> bool:
    """Erase the first planned child with an identity, with the worker running (the caller's);
    True if the scan found its plaintext before and nowhere after."""
    console.rule("Erasure: a child of the county erased while the hub runs")
    master = master_key_from(settings)
    keys = SqlKeyStore(engine, master)
    child, identity, lead, staff = _with_identity(engine, Sealer(keys), list(plans))
    if child is None or lead is None:
        console.print("[red]Erasure: no planned child with an identity to erase.[/red]")
        return False
    given, family = identity.get("given_name", ""), identity.get("family_name", "")
    # The demo's plan texts are drawn from shared templates; a coordinator's note names the child.
    note = f"Uppföljning med {given} och vårdnadshavarna (ref {uuid.uuid4().hex[:12]})"
    # Alone, a name is looked for only if no staff member has it: staff names are not the child's.
    names = [f"{given} {family}", *(n for n in (given, family) if len(n) >= NAME_MIN and n not in staff)]
    needles = needles_of(identity.get("personnummer"), names, [note])
    home = Path(settings.demo_data_dir).parent
    store = read_model(engine, settings)
    region = OrgDirectory.from_settings(settings).region
    publish = KafkaPublisher(settings, codec)
    await publish.start()
    try:
        await plan_service.schedule_follow_up(child, plans[child], lead, dt.date.today() + dt.timedelta(days=30),
                                              None, note, publish=publish)
        await until_projected(settings, store, timeout=120)
        before = await scan(engine, settings, codec, needles, [child], [home], [settings.demo_data_dir])
        done = await erase(engine, keys, store, AuditText(master), publish,
                           Eraser("demo-administrator", "administrator", region[0] if region else "kronobarn"),
                           child, "GDPR_ART17", JUSTIFICATION)
        await asyncio.sleep(BOUND_S)
        await until_projected(settings, store, timeout=120)
        after = await scan(engine, settings, codec, needles, done.child_ids, [home], [settings.demo_data_dir])
    finally:
        await publish.stop()
    console.print(f"Erased child {str(child)[:8]} ({len(done.child_ids)} id(s)) with the worker running; audit event "
                  f"{str(done.event_id)[:8]}. Its name, personnummer and a note naming it, looked for {BOUND_S:g} s "
                  "later (the stand-ins' own data left out: they are the county's source systems):")
    console.print(_table(before, after))
    ok = before.total > 0 and after.total == 0
    console.print("Crypto-shredding holds: 0 occurrences of the child's plaintext anywhere the hub keeps data."
                  if ok else f"[red]Erasure: {after.total} occurrences left, or the control found none.[/red]")
    for (where, label), n in sorted(after.hits.items()):  # places and needle labels, never the values
        console.print(f"[red]  {where}: {label} x{n}[/red]")
    return ok


def _with_identity(engine: Engine, sealer: Sealer, planned: list[uuid.UUID],
                   ) -> tuple[uuid.UUID | None, dict[str, str], str | None, str]:
    """The first planned child, unprotected, whose identity opens; that identity, its plan's lead,
    and the names of staff (for the needles).
    Staff the sources name (``organisation_contacts``) are drawn from the same synthetic names: a
    child whose whole name is a staff member's is passed over."""
    with engine.connect() as c:
        rows = {r.child_id: r for r in c.execute(select(children.c.child_id, children.c.sealed_identity,
                                                         children.c.protection, children.c.lead_org))}
        staff = " ".join(c.scalars(select(organisation_contacts.c.name)))
    for child in planned:
        row = rows.get(str(child))
        if row is None or row.sealed_identity is None or row.protection != "NONE":
            continue
        opened = sealer.open(child, row.sealed_identity)
        if not isinstance(opened, Personal) or not opened.fields.get("personnummer"):
            continue
        if f"{opened.fields.get('given_name')} {opened.fields.get('family_name')}" not in staff:
            return child, opened.fields, row.lead_org, staff
    return None, {}, None, staff


def _table(before: Found, after: Found) -> Table:
    table = Table(title="Where the child's plaintext was looked for")
    for col in ("looked at (before / after)", "found before the erasure", "after"):
        table.add_column(col, justify="left" if col.startswith("looked") else "right")
    for kind in ("rows", "records", "opened fields", "files"):
        table.add_row(f"{kind} ({before.looked[kind]:,} / {after.looked[kind]:,})", f"{_hits(before, kind):,}",
                      f"{_hits(after, kind):,}")
    return table


PLACE = {"rows": "table ", "records": "topic ", "opened fields": "topic ", "files": "file "}


def _hits(found: Found, kind: str) -> int:
    opened = kind == "opened fields"
    return sum(n for (where, _), n in found.hits.items()
               if where.startswith(PLACE[kind]) and where.endswith("(opened)") == opened)
