"""Into the social services' own case register: the import a municipality connects for reports of
concern filed through the hub (DESIGN §6, STATUTORY facts; docs/statutory-route.md).

``ReportRegister`` is the port: ``deliver`` puts one report into the register and gives the
register's own id of it; given a report it already has (the same hub report id), it gives that id
again and adds nothing, so a delivery repeated after a crash is harmless. ``assessments`` tells,
for reports delivered earlier, whether the social services have decided to open an investigation.
A municipality whose system has another import (a vendor's API, an e-service inbox) replaces
``SqlReportRegister`` with an adapter of its own that keeps these two promises.

``SqlReportRegister`` writes the register's ``reports_of_concern`` table as the stand-in
(``kronobarn standin social``) lays it out. Its errors are sorted into two kinds: the register
could not be reached or was busy (``RegisterUnavailable``: try again later), or it refused this
report (``RegisterRejected``: trying again changes nothing). Their messages are ours and name no
person: a register's own error text might quote the report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Boolean, Date, DateTime, Engine, Integer, String, Text, column, create_engine, select, table
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

NOT_SERVED = "the register keeps no cases for the child's municipality"  # never which: it may be protected
REFUSED = "the register refused the report ({error})"
DOWN = "the register did not answer ({error})"


class RegisterUnavailable(Exception):
    """The register could not take the report now; the same delivery may succeed later."""


class RegisterRejected(Exception):
    """The register refused this report; delivering it again gives the same answer."""


@dataclass(frozen=True, slots=True)
class ReportForRegister:
    """A report of concern as a case register needs it: the child by personnummer, what was seen,
    and who reports it. Personal data: it exists only between the hub's key store and the register."""

    report_id: UUID
    municipality_code: str
    personnummer: str
    reporter_org: str
    reporter_category: str
    reporter_name: str
    reporter_role: str
    reporter_contact: str
    acute: bool
    observed_on: dt.date
    guardians_informed: bool
    guardians_not_informed_why: str | None
    observation: str
    filed_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Assessment:
    investigation_opened: bool
    decided_on: dt.date


class ReportRegister(Protocol):
    def deliver(self, report: ReportForRegister) -> str: ...

    def assessments(self, case_ids: Sequence[str]) -> dict[str, Assessment]: ...

    def close(self) -> None: ...


_reports = table(
    "reports_of_concern",
    *(column(n, String()) for n in ("id", "personnummer", "municipality_code", "reporter_category", "hub_report_id",
                                    "reporter_org", "reporter_name", "reporter_role", "reporter_contact",
                                    "assessment")),
    column("version", Integer()), column("updated_at", DateTime()), column("received_on", Date()),
    column("acute", Boolean()), column("observed_on", Date()), column("guardians_informed", Boolean()),
    column("guardians_not_informed_why", Text()), column("observation", Text()), column("assessed_on", Date()),
)
_served = table("served_municipalities", column("municipality_code", String()))


class SqlReportRegister:
    """The stand-in's layout over SQLAlchemy; a real register's URL needs write access to it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def from_url(cls, url: str) -> SqlReportRegister:
        options: dict[str, Any] = {"poolclass": NullPool} if url.startswith("sqlite") else {"pool_pre_ping": True}
        return cls(create_engine(url, **options))

    def deliver(self, report: ReportForRegister) -> str:
        hub_id = str(report.report_id)
        try:
            with self._engine.begin() as c:
                known = self._case_of(c, hub_id)
                if known is not None:
                    return known
                if c.scalar(select(_served.c.municipality_code)
                            .where(_served.c.municipality_code == report.municipality_code)) is None:
                    raise RegisterRejected(NOT_SERVED)
                case_id = f"ORO-{report.municipality_code}-HUB-{report.report_id.hex[:24]}"  # 96 bits: no collision
                now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # the register keeps naive UTC
                c.execute(_reports.insert().values(
                    id=case_id, version=1, updated_at=now, personnummer=report.personnummer,
                    municipality_code=report.municipality_code, reporter_category=report.reporter_category,
                    received_on=now.date(), hub_report_id=hub_id, reporter_org=report.reporter_org,
                    reporter_name=report.reporter_name, reporter_role=report.reporter_role,
                    reporter_contact=report.reporter_contact, acute=report.acute, observed_on=report.observed_on,
                    guardians_informed=report.guardians_informed,
                    guardians_not_informed_why=report.guardians_not_informed_why, observation=report.observation))
                return case_id
        except IntegrityError as exc:
            # Another deliverer may have just inserted the same report: then it is there.
            with self._engine.connect() as c:
                known = self._case_of(c, hub_id)
            if known is not None:
                return known
            raise RegisterRejected(REFUSED.format(error=_constraint(exc))) from None
        except (OperationalError, DBAPIError) as exc:
            raise RegisterUnavailable(DOWN.format(error=type(exc).__name__)) from None

    def assessments(self, case_ids: Sequence[str]) -> dict[str, Assessment]:
        if not case_ids:
            return {}
        query = (select(_reports.c.id, _reports.c.assessment, _reports.c.assessed_on)
                 .where(_reports.c.id.in_(list(case_ids)), _reports.c.assessment.is_not(None),
                        _reports.c.assessed_on.is_not(None)))  # a decision without its day is not made yet
        try:
            with self._engine.connect() as c:
                return {r.id: Assessment(r.assessment == "INVESTIGATION", r.assessed_on) for r in c.execute(query)}
        except (OperationalError, DBAPIError) as exc:
            raise RegisterUnavailable(DOWN.format(error=type(exc).__name__)) from None

    def close(self) -> None:
        self._engine.dispose()

    @staticmethod
    def _case_of(c: Any, hub_id: str) -> str | None:
        return c.scalar(select(_reports.c.id).where(_reports.c.hub_report_id == hub_id))


def _constraint(exc: IntegrityError) -> str:
    """Which of the register's rules the report broke, by the constraint's name if the driver
    says it (SQLite: "CHECK constraint failed: NAME"), never the values."""
    text = str(exc.orig) if exc.orig is not None else ""
    for rule in ("hub_report_has_observation", "known_assessment", "NOT NULL"):
        if rule in text:
            return rule
    return type(exc.orig).__name__ if exc.orig is not None else "IntegrityError"
