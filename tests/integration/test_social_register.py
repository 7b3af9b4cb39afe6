"""The social register's import as the hub delivers into it (issue 19, item 2): the stand-in's
SQL register through ``connectors.social_register``, and the social connector reading it back."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from connectors.social import SocialConnector
from connectors.social_register import RegisterRejected, RegisterUnavailable, ReportForRegister, SqlReportRegister
from connectors.standins import social
from connectors.standins.county import County
from schemas.events import InvestigationOpened, ReportOfConcernReceived

COUNTY = County(children=150)
PNR = "20150309-9311"


def _report(code: str = "0780", observation: str = "Barnet berättar om slag hemma.") -> ReportForRegister:
    return ReportForRegister(
        report_id=uuid.uuid4(), municipality_code=code, personnummer=PNR, reporter_org="SE2321000065-SKOL0780",
        reporter_category="SCHOOL", reporter_name="Lärare Testsson", reporter_role="mentor",
        reporter_contact="0470-00 00 00", acute=True, observed_on=dt.date(2026, 12, 1), guardians_informed=False,
        guardians_not_informed_why="risk för barnet", observation=observation,
        filed_at=dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC))


@pytest.fixture
def register(tmp_path: Path) -> SqlReportRegister:
    social.prepare(tmp_path, COUNTY)
    return SqlReportRegister.from_url(social.url_for(tmp_path))


def _hub_rows(tmp_path: Path) -> int:
    engine = create_engine(social.url_for(tmp_path))
    with engine.connect() as c:
        return c.scalar(select(func.count()).select_from(social.reports).where(social.reports.c.hub_report_id.is_not(None)))


def test_a_report_is_delivered_once_however_often_it_is_given(register: SqlReportRegister, tmp_path: Path) -> None:
    report = _report()
    first = register.deliver(report)
    assert register.deliver(report) == first  # after a crash the same delivery comes again
    assert register.deliver(replace(report, acute=False)) == first  # by the hub's id, not the content
    other = register.deliver(_report())
    assert other != first
    assert _hub_rows(tmp_path) == 2


def test_the_register_refuses_what_breaks_its_rules(register: SqlReportRegister, tmp_path: Path) -> None:
    with pytest.raises(RegisterRejected, match="hub_report_has_observation"):
        register.deliver(_report(observation="   "))
    with pytest.raises(RegisterRejected, match="no cases for the child's municipality") as refused:
        register.deliver(_report(code="9999"))
    assert "9999" not in str(refused.value)  # the route may be a protected residence's
    assert _hub_rows(tmp_path) == 0


def test_a_register_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "social.db").mkdir()  # a directory where the file should be
    with pytest.raises(RegisterUnavailable):
        SqlReportRegister.from_url(social.url_for(tmp_path)).deliver(_report())


def test_decisions_come_back_and_the_connector_makes_no_second_report(register: SqlReportRegister,
                                                                       tmp_path: Path) -> None:
    cases = {register.deliver(_report()): None for _ in range(6)}
    assert register.assessments(list(cases)) == {}  # nobody has decided yet
    engine = create_engine(social.url_for(tmp_path))
    decided = social.assess_hub_reports(engine, random.Random(3), investigated=0.5, today=dt.date(2026, 12, 3))
    assert len(decided) == 6 and 0 < sum(decided.values()) < 6
    found = register.assessments(list(cases))
    assert {a.decided_on for a in found.values()} == {dt.date(2026, 12, 3)}
    assert sorted(a.investigation_opened for a in found.values()) == sorted(decided.values())

    connector = SocialConnector.from_config({"database_url": social.url_for(tmp_path)}, batch_size=50)

    async def facts() -> list:  # type: ignore[type-arg]
        out = []
        async for page in connector.read(None):
            for record in page.records:
                out += [(record.kind, record.data.get("hub_report_id"), f) for f in connector.map(record)]
        return out

    mapped = asyncio.run(facts())
    assert not [m for m in mapped if m[0] == "reports_of_concern" and m[1]]  # the hub's own: no event
    register_reports = [m for m in mapped if m[2].event is ReportOfConcernReceived]
    assert len(register_reports) == sum(1 for c in COUNTY for t, _ in social.cases_of(COUNTY, c) if t is social.reports)
    hub_cases = {f"UTR-{case}" for case in cases}
    opened = [m for m in mapped if m[2].event is InvestigationOpened and m[2].fields["case_id"] in cases]
    assert len(opened) == sum(decided.values()) and all(f"UTR-{m[2].fields['case_id']}" in hub_cases for m in opened)
