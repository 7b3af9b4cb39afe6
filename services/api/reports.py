"""Reports of concern through the hub (issue 19; DESIGN §6, STATUTORY facts): filing, the social
services' inbox and acknowledgement, the reporter's view of the status, and the follow-up figures.

* **Filing.** A coordinator of any participating organisation but the social services files a
  report about a child the hub knows -- in the caller's scope or not: a report needs no consent.
  It becomes one ``ReportOfConcernFiled`` on ``intake.reports`` with the free text, the reporter's
  name, role and contact and the child's personnummer sealed under the child's key; the gate
  routes it to the child's home municipality. Its event id is derived from the report id, so a
  retry files nothing new. A filing is a write: its event is its record, as for every command.
* **The inbox.** The social services of the route's municipality see the reports routed to it,
  acute first, then newest, each unread until someone of theirs has opened it
  (``concern_report_reads``), open them (a logged read) and acknowledge receipt.
* **The reporter.** The reporting organisation sees its own reports: routed, delivered, not
  delivered (and why: it must then reach the social services itself), acknowledged, and whether an
  investigation was opened; nothing else of the social services' case, and never the receiving
  municipality of a child with protected personal data.

The API speaks of the report id (the filer's); the read model keys a report by the filed event's
id (``concern_reports.report_id``), which ``filed_event_id`` derives from it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from projections.consent_rules import ADULT_AGE, birthday, swedish_day
from projections.read_model import children, concern_reports
from projections.report_figures import FigureRow, Summary, figures
from schemas.codec import Codec, DecodeError
from schemas.events import (
    Area,
    Basis,
    Category,
    Envelope,
    Protection,
    ReportOfConcernAcknowledged,
    ReportOfConcernFiled,
    Source,
)
from schemas.sealing import ChildErased, Erased, Personal, SealError
from services.api import errors, models, person, reads, views
from services.api.auth.tokens import Principal, Role
from services.api.store import utc
from services.api.ui import sv
from services.api.wiring import Hub
from services.commands import plan as plan_service
from services.sql.schema import concern_report_reads

log = structlog.get_logger(__name__)

SOURCE_SYSTEM = "kronobarn-web"
REPORT_NAMESPACE = uuid.UUID("7d0c5b8e-3f1a-4c62-9e07-5a4b2c1d9e83")
SOCIAL = "SOCIAL"
# The organisations that file, and how: the envelope's category and the register's reporter category.
FILERS: dict[str, tuple[Category, str]] = {
    "BHV": (Category.HEALTH, "HEALTH"), "MHV": (Category.HEALTH, "HEALTH"),
    "PRESCHOOL": (Category.SCHOOL, "PRESCHOOL"), "SCHOOL": (Category.SCHOOL, "SCHOOL"),
    "UPPER_SECONDARY": (Category.SCHOOL, "SCHOOL"), "KAA": (Category.SCHOOL, "MUNICIPALITY"),
}
PURPOSE = "report-of-concern"  # why a report's child was read, as the access log records it
LIST_PARTS = ("reports-of-concern",)
OPEN_PARTS = ("report-of-concern", person.IDENTITY)
LIST_MAX = 500  # reports on one list, newest first

# Reasons (English, for programs; ``sv`` translates them).
NOT_A_COORDINATOR = "only a coordinator files or reads reports of concern"
NOT_PARTICIPATING = "your organisation is not a participating organisation of the county directory"
SOCIAL_FILES = "social services do not file reports of concern to themselves: register it in your own case system"
CHILD_AND_PNR = "give either child_id or personnummer, not both"
NO_CHILD_GIVEN = "give the child: child_id or personnummer"
UNKNOWN_PNR = "no child known to the hub has this personnummer"
UNKNOWN_CHILD = "no child known to the hub has this id"
NO_PNR = "the hub holds no personnummer for this child: file the report with the child's personnummer"
BLANK = "{field} must not be blank"
FUTURE = plan_service.IN_FUTURE  # "{field} {day} lies in the future", as the plan's dates say it
NO_WHY = "guardians_not_informed_why is required when the guardians were not informed"
REPORT_ID_TAKEN = "report_id is already the id of another report"
NOT_ROUTE = "only the social services of the municipality the report was routed to acknowledge it"
NOT_FIGURES = "the figures are for the region's auditors and administrators"
ADULT = ("a report of concern is about a child, and this person is 18 or older: contact the social services "
         "directly")


def filed_event_id(report_id: uuid.UUID) -> uuid.UUID:
    """The filed event's id: one per report id, so a retry is the same event."""
    return uuid.uuid5(REPORT_NAMESPACE, f"ReportOfConcernFiled|{report_id}")


def acknowledged_event_id(event_id: uuid.UUID) -> uuid.UUID:
    """One acknowledgement per report, whoever clicks and however often."""
    return uuid.uuid5(REPORT_NAMESPACE, f"ReportOfConcernAcknowledged|{event_id}")


def _kind(hub: Hub, principal: Principal) -> str | None:
    return hub.directory.kinds.get(principal.organisation_id)


def _coordinator(principal: Principal) -> None:
    if principal.role is not Role.COORDINATOR:
        raise errors.Forbidden([NOT_A_COORDINATOR])


def filer_kind(hub: Hub, principal: Principal) -> str:
    """The caller's kind of organisation, if it may file; else ``Forbidden`` with the reason."""
    _coordinator(principal)
    kind = _kind(hub, principal)
    if kind == SOCIAL:
        raise errors.Forbidden([SOCIAL_FILES])
    if kind not in FILERS or hub.directory.municipality_of(principal.organisation_id) is None:
        raise errors.Forbidden([NOT_PARTICIPATING])
    return kind  # type: ignore[return-value]  # in FILERS


# -- filing ------------------------------------------------------------------------------------------

def problems(body: models.FileReportOfConcern, today: dt.date) -> list[str]:
    """What the request alone shows is wrong, every reason at once."""
    found = []
    if body.child_id is not None and body.personnummer is not None:
        found.append(CHILD_AND_PNR)
    if body.child_id is None and body.personnummer is None:
        found.append(NO_CHILD_GIVEN)
    for name in ("observation", "reporter_role", "reporter_contact"):
        if not getattr(body, name).strip():
            found.append(BLANK.format(field=name))
    if body.observed_on > today:
        found.append(FUTURE.format(field="observed_on", day=body.observed_on))
    if not body.guardians_informed and not (body.guardians_not_informed_why or "").strip():
        found.append(NO_WHY)
    return found


@dataclass(frozen=True)
class Child:
    """The child a report is about, as the hub knows it."""

    child_id: uuid.UUID
    personnummer: str
    protected: bool
    municipality_code: str | None
    birth_date: dt.date | None = None  # unknown for a child the read model does not hold yet


def _child_by_id(hub: Hub, child_id: uuid.UUID) -> Child:
    with hub.reader.reading() as r:
        row = r.child(child_id)
        seen = {child_id}
        while row is not None and row.merged_into is not None and row.merged_into not in seen:
            seen.add(row.merged_into)  # one child, one id: the report goes on the id it lives on
            row = r.child(row.merged_into)
    if row is None:
        raise errors.NotFound([UNKNOWN_CHILD])
    if hub.keystore.is_erased(row.child_id):
        raise errors.Rejected([errors.CHILD_ERASED])
    opened = person.open_sealed(hub.opener, row.child_id, row.sealed_identity)
    if isinstance(opened, Erased):
        raise errors.Rejected([errors.CHILD_ERASED])
    pnr = opened.fields.get("personnummer") if isinstance(opened, Personal) else None
    if not pnr:
        raise errors.Rejected([NO_PNR])
    return Child(row.child_id, pnr, person.is_protected(row), row.municipality_code, row.birth_date)


def _child_by_pnr(hub: Hub, pnr: str) -> Child:
    child_id = hub.registry.find(pnr)
    if child_id is None:
        raise errors.NotFound([UNKNOWN_PNR])
    if hub.keystore.is_erased(child_id):
        raise errors.Rejected([errors.CHILD_ERASED])
    with hub.reader.reading() as r:
        row = r.child(child_id)
    if row is not None and row.merged_into is not None:
        return _child_by_id(hub, child_id)
    # Without a read-model row the route is unknown here: say "socialtjänsten", name no municipality.
    protected = row is None or person.is_protected(row)
    return Child(child_id, pnr, protected, None if row is None else row.municipality_code,
                 None if row is None else row.birth_date)


def _existing(hub: Hub, event_id: uuid.UUID) -> Any:
    with hub.engine.connect() as c:
        return c.execute(select(concern_reports).where(concern_reports.c.report_id == str(event_id))).first()


def filed_event(principal: Principal, kind: str, municipality: str, child: Child, body: models.FileReportOfConcern,
                report_id: uuid.UUID, now: dt.datetime) -> ReportOfConcernFiled:
    category, reporter_category = FILERS[kind]
    why = (body.guardians_not_informed_why or "").strip() if not body.guardians_informed else ""
    sealed = Personal({
        "observation": body.observation.strip(), "guardians_not_informed_why": why,
        "reporter_name": (principal.name_hint or principal.subject).strip(), "reporter_role": body.reporter_role.strip(),
        "reporter_contact": body.reporter_contact.strip(), "personnummer": child.personnummer,
    })
    envelope = Envelope(
        event_id=filed_event_id(report_id), type=ReportOfConcernFiled.__name__, child_id=child.child_id,
        occurred_at=now, recorded_at=now, source=Source(SOURCE_SYSTEM, principal.organisation_id, str(report_id), "1"),
        basis=Basis.STATUTORY, category=category, area=Area.SAFETY, sealed=sealed,
    )
    return ReportOfConcernFiled(envelope=envelope, report_id=report_id, reporter_category=reporter_category,
                                reporter_municipality_code=municipality, acute=body.acute,
                                observed_on=body.observed_on, guardians_informed=body.guardians_informed)


def receiver(hub: Hub, child: Child) -> str:
    """Who receives the report, as the reporter is told: never the municipality of a protected child."""
    name = None if child.protected else hub.directory.municipality_name(child.municipality_code)
    return sv.REPORT_TO.format(where=name) if name else sv.REPORT_TO_SOCIAL


async def file_report(hub: Hub, principal: Principal, body: models.FileReportOfConcern) -> models.Accepted:
    """File a report: 202 with the report id, or 4xx with every reason and nothing published."""
    kind = filer_kind(hub, principal)
    now = hub.now()
    reasons = problems(body, swedish_day(now))
    pnr = None
    if body.personnummer is not None and body.child_id is None:
        try:
            pnr = reads.typed_personnummer(body.personnummer, now)
        except errors.Rejected as exc:
            reasons += exc.reasons
    if reasons:
        raise errors.Rejected(reasons)
    if pnr is not None:
        child = await hub.run(_child_by_pnr, hub, pnr)
    else:
        assert body.child_id is not None
        child = await hub.run(_child_by_id, hub, body.child_id)
    # SoL 14 kap. 1 §: a report of concern is about a child. From the 18th birthday (Swedish day)
    # the young person is an adult; an unborn child may be reported (SoL 14 kap. 1 c §).
    if child.birth_date is not None and swedish_day(now) >= birthday(child.birth_date, ADULT_AGE):
        raise errors.Rejected([ADULT])
    report_id = body.report_id or uuid.uuid4()
    event_id = filed_event_id(report_id)
    before = await hub.run(_existing, hub, event_id)
    if before is not None:
        if before.child_id != str(child.child_id) or before.reporter_org != principal.organisation_id:
            raise errors.Rejected([REPORT_ID_TAKEN])
        return models.Accepted(event_id=event_id, event_type=ReportOfConcernFiled.__name__, id=report_id,
                               message=sv.REPORT_ALREADY)  # routed already: not filed again
    municipality = hub.directory.municipality_of(principal.organisation_id)
    assert municipality is not None  # filer_kind checked it
    event = filed_event(principal, kind, municipality, child, body, report_id, now)
    try:
        await reads.emit(hub, [event])
    except ChildErased:
        raise errors.Rejected([errors.CHILD_ERASED]) from None
    return models.Accepted(event_id=event_id, event_type=ReportOfConcernFiled.__name__, id=report_id,
                           message=receiver(hub, child))


# -- reading ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One report of the read model, with the child's protection and the filer's report id."""

    report_id: uuid.UUID
    event_id: uuid.UUID
    child_id: uuid.UUID
    values: Any
    protected: bool


def report_id_of(codec: Codec, report: bytes | None) -> uuid.UUID | None:
    """The filer's report id, from the filed event's plain fields (nothing sealed is opened)."""
    if report is None:
        return None
    try:
        event = codec.decode(bytes(report))
    except (DecodeError, ValueError, TypeError):
        return None
    return event.report_id if isinstance(event, ReportOfConcernFiled) else None


_QUERY = (select(concern_reports, children.c.protection)
          .select_from(concern_reports.outerjoin(children, children.c.child_id == concern_reports.c.child_id))
          .where(concern_reports.c.filed_in_hub.is_(True)))


def _rows(hub: Hub, *where: Any) -> list[Row]:
    with hub.engine.connect() as c:
        # What a full list leaves out is the oldest acknowledged: never an open acute report.
        t = concern_reports.c
        found = c.execute(_QUERY.where(*where).order_by(t.acknowledged_at.is_(None).desc(), t.acute.desc(),
                                                        t.reported_at.desc()).limit(LIST_MAX)).all()
    out = []
    for v in found:
        report_id = report_id_of(hub.fact_codec, v.report)
        if report_id is None:
            log.warning("reports.unreadable", event_id=v.report_id)
            continue
        out.append(Row(report_id, uuid.UUID(v.report_id), uuid.UUID(v.child_id), v,
                       (v.protection or Protection.NONE.value) != Protection.NONE.value))
    return out


def _read_by(hub: Hub, org: str, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    ids = [str(e) for e in event_ids]
    found: set[uuid.UUID] = set()
    with hub.engine.connect() as c:
        for first in range(0, len(ids), 500):
            query = select(concern_report_reads.c.report_id).where(
                concern_report_reads.c.organisation_id == org, concern_report_reads.c.report_id.in_(ids[first:first + 500]))
            found |= {uuid.UUID(r) for r in c.execute(query).scalars()}
    return found


def _mark_read(hub: Hub, event_id: uuid.UUID, org: str, now: dt.datetime) -> None:
    # The insert first, never a look before it: on SQLite a read-then-write transaction fails at
    # once when the worker writes in between ("database is locked"); a write waits its turn.
    try:
        with hub.engine.begin() as c:
            c.execute(insert(concern_report_reads).values(report_id=str(event_id), organisation_id=org,
                                                          first_read_at=now))
    except IntegrityError:
        pass  # read before, by them or on another replica: the first read stands


def status_of(v: Any) -> models.ReportStatus:
    if v.acknowledged_at is not None:
        return models.ReportStatus.ACKNOWLEDGED
    if v.delivered_at is not None:
        return models.ReportStatus.DELIVERED
    if v.undelivered_at is not None:
        return models.ReportStatus.UNDELIVERED
    return models.ReportStatus.ROUTED


def _out(hub: Hub, row: Row, social: bool, unread: bool | None = None) -> dict[str, Any]:
    """The report as the social services of its route (``social``) or its reporter see it."""
    v, directory = row.values, hub.directory
    return dict(
        report_id=row.report_id, child_id=row.child_id, reporter=views.org(directory, v.reporter_org),
        reporter_category=v.reporter_category, acute=bool(v.acute), reported_at=utc(v.reported_at),
        municipality_code=v.municipality_code if social or not row.protected else None, status=status_of(v),
        delivered_at=utc(v.delivered_at), undelivered_at=utc(v.undelivered_at),
        undelivered_reason=v.undelivered_reason, acknowledged_at=utc(v.acknowledged_at),
        acknowledged_by=views.org(directory, v.acknowledged_by_org), investigation_opened=v.investigation_opened,
        unread=unread if social else None, register_case_id=v.register_case_id if social else None,
        decided_on=v.decided_on if social else None,
    )


def social_municipality(hub: Hub, principal: Principal) -> str | None:
    """The municipality whose social services the caller is, if the caller is (a social services'
    coordinator opens only reports routed there: ``_one``)."""
    return hub.directory.municipality_of(principal.organisation_id) if _kind(hub, principal) == SOCIAL else None


def _newest(rows: list[Row]) -> list[Row]:
    never = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(rows, key=lambda r: (utc(r.values.reported_at) or never, str(r.report_id)), reverse=True)


def _order(rows: list[Row]) -> list[Row]:
    """Acute first, then newest."""
    return sorted(_newest(rows), key=lambda r: not r.values.acute)


def _listing(hub: Hub, principal: Principal) -> models.ReportOfConcernList:
    code, org = social_municipality(hub, principal), principal.organisation_id
    if code is not None:
        rows = _order(_rows(hub, concern_reports.c.municipality_code == code))
        seen = _read_by(hub, org, [r.event_id for r in rows])
        out = [models.ReportOfConcernOut(**_out(hub, r, True, r.event_id not in seen)) for r in rows]
        return models.ReportOfConcernList(reports=out, view="inbox", unread=sum(bool(r.unread) for r in out))
    rows = _newest(_rows(hub, concern_reports.c.reporter_org == org))
    return models.ReportOfConcernList(reports=[models.ReportOfConcernOut(**_out(hub, r, False)) for r in rows],
                                      view="filed")


async def list_reports(hub: Hub, principal: Principal) -> models.ReportOfConcernList:
    """The social services' inbox, or the reports the caller's organisation filed; each child on
    the list is a logged read."""
    _coordinator(principal)
    found = await hub.run(_listing, hub, principal)
    await reads.record_reads(hub, principal, list(dict.fromkeys(r.child_id for r in found.reports)), PURPOSE,
                             LIST_PARTS)
    return found


def _one(hub: Hub, principal: Principal, report_id: uuid.UUID) -> tuple[Row, bool]:
    """The report and whether the caller reads it as the route's social services; else 404."""
    found = _rows(hub, concern_reports.c.report_id == str(filed_event_id(report_id)))
    if not found:
        raise errors.NotFound()
    row = found[0]
    code = social_municipality(hub, principal)
    if code is not None and code == row.values.municipality_code:
        return row, True
    if row.values.reporter_org == principal.organisation_id:
        return row, False
    raise errors.NotFound()


def content(hub: Hub, row: Row, identity: bool = True) -> models.ReportOfConcernContent:
    """The report as filed, its sealed fields opened with the child's key; the child's
    personnummer only with ``identity``."""
    try:
        event = hub.codec.decode(bytes(row.values.report))
    except (DecodeError, SealError, ValueError, TypeError):
        log.warning("reports.unopenable", event_id=str(row.event_id))
        return models.ReportOfConcernContent()
    if not isinstance(event, ReportOfConcernFiled):
        return models.ReportOfConcernContent()
    sealed = event.envelope.sealed
    fields = sealed.fields if isinstance(sealed, Personal) else {}
    return models.ReportOfConcernContent(
        erased=isinstance(sealed, Erased), personnummer=fields.get("personnummer") if identity else None,
        observation=fields.get("observation"), observed_on=event.observed_on,
        guardians_informed=event.guardians_informed,
        guardians_not_informed_why=fields.get("guardians_not_informed_why") or None,
        reporter_name=fields.get("reporter_name"), reporter_role=fields.get("reporter_role"),
        reporter_contact=fields.get("reporter_contact"))


def _opened(hub: Hub, principal: Principal, report_id: uuid.UUID, now: dt.datetime) -> models.ReportOfConcernView:
    row, social = _one(hub, principal, report_id)
    _mark_read(hub, row.event_id, principal.organisation_id, now)
    # The reporter of a child with protected personal data may have filed from the child's page
    # without ever being shown the number: it is the social services' to see, not theirs.
    shown = content(hub, row, identity=social or not row.protected)
    return models.ReportOfConcernView(**_out(hub, row, social, False), content=shown)


async def open_report(hub: Hub, principal: Principal, report_id: uuid.UUID) -> models.ReportOfConcernView:
    """One report, opened (a logged read of the child's data: its identity too, when shown)."""
    _coordinator(principal)
    view = await hub.run(_opened, hub, principal, report_id, hub.now())
    parts = OPEN_PARTS if view.content.personnummer else OPEN_PARTS[:1]
    await reads.record_reads(hub, principal, [view.child_id], PURPOSE, parts)
    return view


def acknowledgement(principal: Principal, row: Row, now: dt.datetime) -> ReportOfConcernAcknowledged:
    envelope = Envelope(
        event_id=acknowledged_event_id(row.event_id), type=ReportOfConcernAcknowledged.__name__,
        child_id=row.child_id, occurred_at=now, recorded_at=now,
        source=Source(SOURCE_SYSTEM, principal.organisation_id, str(row.report_id), "acknowledged"),
        basis=Basis.STATUTORY, category=Category.SOCIAL, area=Area.SAFETY,
    )
    return ReportOfConcernAcknowledged(envelope=envelope, report_event_id=row.event_id,
                                       acknowledged_by_org=principal.organisation_id)


async def acknowledge(hub: Hub, principal: Principal, report_id: uuid.UUID) -> models.Accepted:
    """The route's social services confirm receipt; once is enough (a second click changes nothing)."""
    _coordinator(principal)
    row, social = await hub.run(_one, hub, principal, report_id)
    if not social:
        raise errors.Forbidden([NOT_ROUTE])
    now = hub.now()
    await hub.run(_mark_read, hub, row.event_id, principal.organisation_id, now)
    if row.values.acknowledged_at is not None:
        return models.Accepted(event_id=None, event_type=None, id=report_id, message=sv.REPORT_ACKNOWLEDGED_BEFORE,
                               moot="the report was acknowledged already")
    event = acknowledgement(principal, row, now)
    await reads.emit(hub, [event])
    return models.Accepted(event_id=event.event_id, event_type=ReportOfConcernAcknowledged.__name__, id=report_id,
                           message=sv.PENDING)


# -- the follow-up's figures -------------------------------------------------------------------------------

def _figure_rows(hub: Hub) -> list[FigureRow]:
    c = concern_reports.c
    with hub.engine.connect() as conn:
        found = conn.execute(select(c.municipality_code, c.reporter_category, c.filed_in_hub, c.routed_at,
                                    c.reported_at, c.delivered_at, c.acknowledged_at)).all()
    return [FigureRow(r.municipality_code, r.reporter_category, bool(r.filed_in_hub), utc(r.routed_at),
                      utc(r.reported_at), utc(r.delivered_at), utc(r.acknowledged_at)) for r in found]


def _summary_out(code: str, s: Summary) -> models.FiguresByMunicipality:
    def hours(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return models.FiguresByMunicipality(municipality_code=code, reports=s.reports, filed_in_hub=s.filed_in_hub,
                                        delivered=s.delivered, acknowledged=s.acknowledged,
                                        hours_to_acknowledgement_median=hours(s.hours_median),
                                        hours_to_acknowledgement_p90=hours(s.hours_p90))


async def report_figures(hub: Hub, principal: Principal) -> models.ReportFiguresOut:
    """For the region's auditors and administrators; counts and hours, no child."""
    region = hub.directory.region
    if principal.role not in (Role.AUDITOR, Role.ADMINISTRATOR) or region is None \
            or principal.organisation_id != region[0]:
        raise errors.Forbidden([NOT_FIGURES])
    found = figures(await hub.run(_figure_rows, hub))
    return models.ReportFiguresOut(
        by_category=[models.FiguresByCategory(municipality_code=m, reporter_category=k, reports=n)
                     for (m, k), n in found.by_category.items()],
        by_municipality=[_summary_out(code, s) for code, s in found.by_municipality.items()],
        total=_summary_out("", found.total))


def may_file(hub: Hub, principal: Principal) -> bool:
    """For the pages' links: a coordinator of an organisation that files."""
    try:
        filer_kind(hub, principal)
    except errors.Forbidden:
        return False
    return True

