"""The demo's reports-of-concern stage (issue 19): schools and BVCs file reports through the web
service, the worker routes and delivers them into the social-services register (the stand-in's
SQL database), the social services acknowledge most of them and decide on all, and the reporters
see what came back. Printed: filed, delivered, acknowledged and investigations opened per
municipality, and how long a report took from filing to the social services' inbox.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import statistics
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, select

from connectors.standins import social
from projections.consent_rules import ADULT_AGE, birthday
from projections.read_model import children, concern_reports
from schemas.county import BHV, SCHOOL, SOCIAL
from services.api.app import create_app
from services.api.auth.tokens import Principal, Role
from services.county import county_directory
from services.settings import Settings

REPORTS = 40
ACKNOWLEDGED_SHARE = 0.75  # the social services acknowledge most at once; the rest wait in the inbox
WAIT_S = 120.0
OBSERVATIONS = ("Barnet kommer ofta hungrigt och utan ytterkläder.", "Barnet berättar om bråk och slag hemma.",
                "Stora blåmärken på armarna, oförklarade.", "Vårdnadshavaren kom påverkad till hämtningen.")


def _children(engine: Engine) -> list[tuple[uuid.UUID, str]]:
    """Children the hub knows with an identity, unprotected, alive, with a home municipality, and
    under 18 (a report of concern is about a child)."""
    today = dt.date.today()
    adult_born = birthday(today, -ADULT_AGE) + dt.timedelta(days=1)  # born after it: under 18, a day to spare
    with engine.connect() as c:
        rows = c.execute(select(children.c.child_id, children.c.municipality_code).where(
            children.c.birth_date > adult_born,
            children.c.merged_into.is_(None), children.c.died_on.is_(None), children.c.emigrated_on.is_(None),
            children.c.sealed_identity.is_not(None), children.c.protection == "NONE",
            children.c.municipality_code.is_not(None), children.c.unborn.is_(False))
            .order_by(children.c.child_id)).all()
    return [(uuid.UUID(r.child_id), r.municipality_code) for r in rows]


def _wait(check, timeout: float = WAIT_S) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _rows(engine: Engine) -> dict[str, object]:
    with engine.connect() as c:
        return {r.report_id: r for r in c.execute(select(concern_reports).where(concern_reports.c.filed_in_hub))}


def register_settings(settings: Settings) -> Settings:
    """``settings`` with the stand-in social register to deliver into, asked often for decisions."""
    return settings.model_copy(update={"social_register_url": social.url_for(Path(settings.demo_data_dir)),
                                       "report_assess_every_s": 1.0})


async def reports_stage(settings: Settings, engine: Engine, console: Console) -> bool:
    """With a worker of ``register_settings`` running (the caller's)."""
    return await asyncio.to_thread(_stage, settings, engine, console)


def _stage(settings: Settings, engine: Engine, console: Console) -> bool:
    console.rule("Reports of concern: from schools and BVCs into the social services' own register")
    data_dir = Path(settings.demo_data_dir)
    register_url = settings.social_register_url or social.url_for(data_dir)
    directory = county_directory(settings)
    pool = [(child, code) for child, code in _children(engine) if code in directory.codes]  # moved away: not ours
    if not pool:
        console.print("[red]Reports of concern: no child to report about.[/red]")
        return False
    rng = random.Random(19)
    chosen = rng.sample(pool, min(REPORTS, len(pool)))
    app = create_app(settings, engine=engine, dev_key_file=data_dir.parent / "dev-login.json")
    idp = app.state.hub.dev_idp

    def headers(kind: str, code: str) -> dict[str, str]:
        org = directory.units_of(kind, code)[0].id
        return {"Authorization": f"Bearer {idp.issue(Principal(f'demo-{kind.lower()}-{code}', Role.COORDINATOR, org, kind))}"}

    filed: dict[str, tuple[str, str, float]] = {}  # event id -> (municipality, reporter kind, filed at)
    seen: dict[str, float] = {}  # event id -> when it was in the read model the inbox reads
    ours: set[str] = set()  # the report ids (the register keeps earlier demos' reports too)

    def routed() -> bool:
        for rid in _rows(engine):
            if rid in filed and rid not in seen:
                seen[rid] = time.monotonic()
        return len(seen) == len(filed)

    with TestClient(app) as client:
        def file(n: int, child: uuid.UUID, code: str) -> bool:
            kind = SCHOOL if n % 2 == 0 and directory.units_of(SCHOOL, code) else BHV
            informed = n % 3 != 0
            answer = client.post("/reports-of-concern", headers=headers(kind, code), json={
                "child_id": str(child), "observation": rng.choice(OBSERVATIONS),
                "observed_on": dt.date.today().isoformat(), "guardians_informed": informed,
                **({} if informed else {"guardians_not_informed_why": "Risk att barnet utsätts för mer våld."}),
                "reporter_role": "skolsköterska" if kind == SCHOOL else "BVC-sjuksköterska",
                "reporter_contact": "0470-70 00 00", "acute": n % 5 == 0})
            if answer.status_code != 202:
                said = answer.json()
                console.print(f"[red]Filing refused: {answer.status_code} {said.get('reasons') or said.get('detail')}[/red]")
                return False
            filed[str(answer.json()["event_id"])] = (code, kind, time.monotonic())
            ours.add(str(answer.json()["id"]))
            return True

        # The first report waits for the worker to start; the others are timed from a running hub.
        if not (file(0, *chosen[0]) and _wait(routed)):
            return False
        first = set(filed)
        if not all(file(n, child, code) for n, (child, code) in enumerate(chosen[1:], start=1)):
            return False
        delivered = _wait(routed) and _wait(lambda: all(r.delivered_at for r in _rows(engine).values()))
        # The social services of each municipality go through their inbox and acknowledge most of it.
        acknowledged: Counter[str] = Counter()
        for code in sorted({c for c, _, _ in filed.values()}):
            inbox = client.get("/reports-of-concern", headers=headers(SOCIAL, code)).json()["reports"]
            for item in inbox[: round(len(inbox) * ACKNOWLEDGED_SHARE)]:
                client.get(f"/reports-of-concern/{item['report_id']}", headers=headers(SOCIAL, code))
                ack = client.post(f"/reports-of-concern/{item['report_id']}/acknowledgement",
                                  headers=headers(SOCIAL, code), json={})
                acknowledged[code] += ack.status_code == 202
        decided = social.assess_hub_reports(create_engine(register_url), rng)
        back = _wait(lambda: sum(1 for r in _rows(engine).values() if r.acknowledged_at) == sum(acknowledged.values())
                     and all(r.decided_on for r in _rows(engine).values()))
        # One reporter's own view: what came back to the school.
        school_code = next(c for c, k, _ in filed.values() if k == SCHOOL)
        mine = client.get("/reports-of-concern", headers=headers(SCHOOL, school_code)).json()["reports"]

    rows = _rows(engine)
    latency = [seen[rid] - filed[rid][2] for rid in seen if rid not in first]
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for rid, (code, kind, _) in filed.items():
        row = rows.get(rid)
        per[code]["filed"] += 1
        per[code][kind] += 1
        per[code]["delivered"] += bool(row and row.delivered_at)
        per[code]["acknowledged"] += bool(row and row.acknowledged_at)
        per[code]["investigations"] += bool(row and row.investigation_opened)
    table = Table(title="Reports of concern filed through the hub, per municipality")
    for col in ("municipality", "filed", "by schools", "by BVCs", "delivered", "acknowledged", "investigation opened"):
        table.add_column(col, justify="left" if col == "municipality" else "right")
    for code in sorted(per):
        p = per[code]
        table.add_row(f"{code} {directory.municipality_name(code)}", *(str(p[k]) for k in (
            "filed", SCHOOL, BHV, "delivered", "acknowledged", "investigations")))
    console.print(table)
    console.print(f"Filing to the social services' inbox (with the worker running, polled after the last filing): median "
                  f"{statistics.median(latency):.2f} s, slowest {max(latency):.2f} s. The register decided on "
                  f"{len(ours & set(decided))} of them; "
                  f"a school coordinator sees {len(mine)} report(s) of its own with their status.")
    ok = delivered and back and all(p["delivered"] == p["filed"] for p in per.values()) and \
        sum(p["acknowledged"] for p in per.values()) == sum(acknowledged.values()) and ours <= set(decided)
    if not ok:
        console.print("[red]Reports of concern: not every report was delivered, acknowledged as asked, "
                      "or decided on.[/red]")
    return ok
