"""Reports of concern as the web service files them, for tests that drive the statutory route
without it (the route's workers, the social register)."""

from __future__ import annotations

import datetime as dt
import uuid

from schemas.events import Area, Basis, Category, Envelope, ReportOfConcernFiled, Source
from schemas.sealing import Personal
from services.api.reports import filed_event_id

NAMESPACE = uuid.UUID("5d0b7c0e-1f7a-4c53-9a55-2b1c8e7f6a10")
CATEGORY_OF_KIND = {"BHV": "HEALTH", "MHV": "HEALTH", "PRESCHOOL": "PRESCHOOL", "SCHOOL": "SCHOOL",
                    "UPPER_SECONDARY": "SCHOOL", "KAA": "MUNICIPALITY"}


def filed(child: uuid.UUID, n: int, org: str, kind: str, org_municipality: str, personnummer: str,
          at: dt.datetime, *, observation: str = "Barnet har blåmärken och berättar om bråk hemma.",
          acute: bool = False, informed: bool = True) -> ReportOfConcernFiled:
    """Report ``n`` about ``child`` from ``org`` (of ``kind``), sealed fields in plaintext, with the
    event id the web service derives from the report id."""
    report_id = uuid.uuid5(NAMESPACE, f"{child}|{n}")
    envelope = Envelope(
        event_id=filed_event_id(report_id), type="ReportOfConcernFiled", child_id=child,
        occurred_at=at, recorded_at=at, source=Source("kronobarn-web", org, str(report_id), "1"),
        basis=Basis.STATUTORY, category=Category.HEALTH if kind in ("BHV", "MHV") else Category.SCHOOL,
        area=Area.SAFETY,
        sealed=Personal({"observation": observation, "personnummer": personnummer, "reporter_name": "Anna Anmälare",
                         "reporter_role": "kurator", "reporter_contact": "0470-123 45",
                         **({} if informed else {"guardians_not_informed_why": "Risk för barnet."})}),
    )
    return ReportOfConcernFiled(envelope=envelope, report_id=report_id, reporter_category=CATEGORY_OF_KIND[kind],
                                reporter_municipality_code=org_municipality, acute=acute,
                                observed_on=at.date() - dt.timedelta(days=1), guardians_informed=informed)
