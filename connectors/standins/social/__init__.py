"""Stand-in for a municipality's social-services case register: a relational database.

Three tables -- reports of concern, investigations, interventions -- each row with ``id``,
``version`` and ``updated_at``, which is what the connector polls on. The database is its
own (SQLite file ``social.db`` under the data directory by default, or any SQLAlchemy URL).

Reports filed through the hub come in as rows of ``reports_of_concern`` with ``hub_report_id``
set (the register's import, ``connectors.social_register``); like a real register it refuses a
row that breaks its rules (no observation, a municipality it does not serve). ``assessment``
holds the social services' first decision on a report: an investigation opened or not.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    select,
)

from connectors.standins.common import label
from connectors.standins.county import Child, County
from connectors.standins.registry import Standin

NAME = "social"
REPORT_RATE = 0.05  # of children per year
REPORTERS = ("SCHOOL", "PRESCHOOL", "HEALTH", "POLICE", "PRIVATE", "SOCIAL_SERVICES")
INTERVENTIONS = ("CONTACT_PERSON", "FAMILY_SUPPORT", "PARENTING_PROGRAMME", "FAMILY_HOME")
CHUNK = 2_000

metadata = MetaData()


def _case_columns() -> list[Column[Any]]:
    return [
        Column("id", String(40), primary_key=True),
        Column("version", Integer, nullable=False),
        Column("updated_at", DateTime, nullable=False, index=True),
        Column("personnummer", String(13), nullable=False),
        Column("municipality_code", String(4), nullable=False),
    ]


SCHEMA = "2"  # the register's layout: a store of another layout is made anew
ASSESSMENTS = ("INVESTIGATION", "NO_INVESTIGATION")

reports = Table("reports_of_concern", metadata, *_case_columns(),
                Column("reporter_category", String(32), nullable=False), Column("received_on", Date, nullable=False),
                # A report that came through the hub: its id there, and what the reporter wrote.
                Column("hub_report_id", String(36), unique=True),
                Column("reporter_org", String(64)), Column("reporter_name", String(200)),
                Column("reporter_role", String(200)), Column("reporter_contact", String(200)),
                Column("acute", Boolean), Column("observed_on", Date), Column("guardians_informed", Boolean),
                Column("guardians_not_informed_why", Text), Column("observation", Text),
                # The first decision on the report (förhandsbedömning).
                Column("assessment", String(20)), Column("assessed_on", Date),
                CheckConstraint("hub_report_id IS NULL OR length(trim(coalesce(observation, ''))) > 0",
                                name="hub_report_has_observation"),
                CheckConstraint("assessment IS NULL OR assessment IN ('INVESTIGATION', 'NO_INVESTIGATION')",
                                name="known_assessment"))
# The municipalities whose social services keep their cases here.
served = Table("served_municipalities", metadata, Column("municipality_code", String(4), primary_key=True))
investigations = Table("investigations", metadata, *_case_columns(),
                       Column("report_id", String(40), nullable=False), Column("opened_on", Date, nullable=False),
                       Column("closed_on", Date), Column("outcome", String(32)))
interventions = Table("interventions", metadata, *_case_columns(),
                      Column("investigation_id", String(40), nullable=False),
                      Column("intervention_type", String(40), nullable=False),
                      Column("started_on", Date, nullable=False), Column("ended_on", Date))
meta = Table("standin_meta", metadata, Column("key", String(32), primary_key=True), Column("value", String(200)))
TABLES = (reports, investigations, interventions)


def url_for(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'social.db'}"


def _updated(day: dt.date, index: int) -> dt.datetime:
    """Naive UTC, as many case systems store it; spread within the working day."""
    return dt.datetime(day.year, day.month, day.day, 9) + dt.timedelta(seconds=index % 25_000)


def cases_of(county: County, child: Child) -> Iterator[tuple[Table, dict[str, Any]]]:
    if child.person is None:
        return
    rng = county.rng(NAME, child.index)
    if rng.random() >= REPORT_RATE:
        return
    pnr, code = child.person.personnummer, child.municipality_code
    start = max(county.window_start, child.birth_date)
    span = (county.as_of - start).days
    if span <= 1:
        return
    received = start + dt.timedelta(days=rng.randrange(span))
    rid = f"ORO-{code}-{child.index:06d}"
    base = {"version": 1, "personnummer": pnr, "municipality_code": code}
    report = {**base, "id": rid, "updated_at": _updated(received, child.index),
              "reporter_category": rng.choice(REPORTERS), "received_on": received, "assessment": None,
              "assessed_on": None}
    if rng.random() >= 0.5:
        yield reports, report
        return
    opened = received + dt.timedelta(days=rng.randrange(1, 15))
    if opened >= county.as_of:
        yield reports, report
        return
    yield reports, {**report, "assessment": "INVESTIGATION", "assessed_on": opened}
    closed = opened + dt.timedelta(days=rng.randrange(30, 120))
    closed_on = closed if closed < county.as_of else None
    outcome = rng.choice(("INTERVENTION", "NO_ACTION", "REFERRED")) if closed_on else None
    iid = f"UTR-{code}-{child.index:06d}"
    yield investigations, {**base, "id": iid, "updated_at": _updated(closed_on or opened, child.index),
                           "report_id": rid, "opened_on": opened, "closed_on": closed_on, "outcome": outcome}
    if outcome == "INTERVENTION" and closed_on is not None:
        ended = closed_on + dt.timedelta(days=rng.randrange(60, 300))
        ended_on = ended if ended < county.as_of else None
        yield interventions, {**base, "id": f"INS-{code}-{child.index:06d}",
                              "updated_at": _updated(ended_on or closed_on, child.index),
                              "investigation_id": iid, "intervention_type": rng.choice(INTERVENTIONS),
                              "started_on": closed_on, "ended_on": ended_on}


def prepare_database(engine: Engine, county: County) -> int:
    """Create the register's tables and fill them from the county (no-op if already filled)."""
    wanted = f"{label(county)};schema={SCHEMA}"
    metadata.create_all(engine)
    with engine.connect() as c:
        if c.scalar(select(meta.c.value).where(meta.c.key == "prepared")) == wanted:
            return 0
    metadata.drop_all(engine)  # an earlier layout, or another county
    metadata.create_all(engine)
    with engine.begin() as c:
        c.execute(served.insert(), [{"municipality_code": code} for code in county.directory.codes])
        batches: dict[str, list[dict[str, Any]]] = {t.name: [] for t in TABLES}
        count = 0
        for child in county:
            for table, row in cases_of(county, child):
                batches[table.name].append(row)
                count += 1
        for table in TABLES:
            for i in range(0, len(batches[table.name]), CHUNK):
                c.execute(table.insert(), batches[table.name][i : i + CHUNK])
        c.execute(meta.insert().values(key="prepared", value=wanted))
    return count


def prepare(data_dir: Path, county: County) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url_for(data_dir))
    try:
        return prepare_database(engine, county)
    finally:
        engine.dispose()


def simulate(data_dir: Path, county: County, n: int) -> None:
    """``n`` new reports of concern, received now."""
    engine = create_engine(url_for(data_dir))
    rng = random.Random()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with engine.begin() as c:
        for _ in range(n):
            child = county.child(rng.randrange(county.children))
            while child.person is None:  # an unborn child has no case file; every report must land
                child = county.child(rng.randrange(county.children))
            c.execute(reports.insert().values(
                id=f"ORO-{child.municipality_code}-{child.index:06d}-{now.timestamp():.6f}", version=1,
                updated_at=now, personnummer=child.person.personnummer,
                municipality_code=child.municipality_code, reporter_category=rng.choice(REPORTERS),
                received_on=now.date()))
    engine.dispose()


def touch(engine: Engine, table: Table, row_id: str, **values: Any) -> None:
    """Update one row as the case system would: new version, updated_at now (tests, demo)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with engine.begin() as c:
        c.execute(table.update().where(table.c.id == row_id)
                  .values(version=table.c.version + 1, updated_at=now, **values))


def assess_hub_reports(engine: Engine, rng: random.Random, investigated: float = 0.5,
                       today: dt.date | None = None) -> dict[str, bool]:
    """The social services decide on every report from the hub still undecided, as their
    caseworkers would (demo, tests): an investigation opened for about ``investigated`` of them
    (a row in ``investigations``), none for the rest. Returns hub report id -> opened."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    day = today or now.date()
    decided: dict[str, bool] = {}
    with engine.begin() as c:
        rows = c.execute(select(reports).where(reports.c.hub_report_id.is_not(None), reports.c.assessment.is_(None))
                         .order_by(reports.c.id)).all()
        for row in rows:
            opened = rng.random() < investigated
            c.execute(reports.update().where(reports.c.id == row.id).values(
                version=reports.c.version + 1, updated_at=now, assessed_on=day,
                assessment="INVESTIGATION" if opened else "NO_INVESTIGATION"))
            if opened:
                c.execute(investigations.insert().values(
                    id=f"UTR-{row.id}", version=1, updated_at=now, personnummer=row.personnummer,
                    municipality_code=row.municipality_code, report_id=row.id, opened_on=day))
            decided[row.hub_report_id] = opened
    return decided


def max_updated(engine: Engine) -> dt.datetime | None:
    with engine.connect() as c:
        return max((c.scalar(select(func.max(t.c.updated_at))) for t in TABLES), default=None, key=lambda v: v or dt.datetime.min)


STANDIN = Standin(NAME, "social-services case register (SQL)", None, prepare, None, simulate)
