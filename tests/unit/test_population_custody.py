"""Custody in the population stand-in and its connector: the county's custody history, the
expectant parent who becomes a guardian, and the order of custody changes on one day."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from connectors import personnummer
from connectors.base import SourceRecord
from connectors.health_mapping import PNR_SYSTEM, Mapper
from connectors.population import PopulationConnector
from connectors.standins import population
from connectors.standins.county import CUSTODY_SHARE, County
from connectors.standins.health import generate
from schemas.events import CustodyRecorded, PregnancyRegistered

SOURCE = {"url": "http://navet", "token_url": "http://navet/oauth2/token", "client_id": "kronobarn",
          "client_secret": "dev-only-secret"}


@pytest.fixture(scope="module")
def county() -> list:
    return list(County(children=1_000))


def test_a_small_deterministic_share_of_children_has_custody_changes(county: list) -> None:
    born = [c for c in county if c.born]
    changed = [c for c in born if c.custody]
    assert CUSTODY_SHARE / 3 < len(changed) / len(born) < CUSTODY_SHARE * 2
    assert [c.custody for c in changed] == [County(children=1_000).child(c.index).custody for c in changed]
    assert all(not c.custody for c in county if not c.born)
    assert any(len(c.custody) == 2 for c in changed)  # a guardian replaced: two changes on one day
    window_start = County(children=1_000).window_start
    as_of = County(children=1_000).as_of
    for child in changed:
        registered = max(child.birth_date, window_start)
        previous = child.guardians
        for day, guardians in child.custody:
            assert registered < day < as_of
            assert guardians != previous and guardians[0] == child.mother  # the mother stays
            assert all(personnummer.normalise(g.personnummer) == g.personnummer for g in guardians)
            previous = guardians
        assert child.guardians_on(as_of) == child.custody[-1][1]
        assert child.guardians_on(registered) == child.guardians


def test_the_change_log_has_custody_changes_after_registration_in_register_order(county: list) -> None:
    county_spec = County(children=1_000)
    child = next(c for c in county if len(c.custody) == 2)
    changes = list(population.changes_of(county_spec, child))
    registered = next(row for row in changes if row[3]["kind"] == "REGISTERED")
    custody = [row for row in changes if row[3]["kind"] == "CUSTODY"]
    assert len(custody) == 2 and custody[0][2].date() == custody[1][2].date()
    assert registered[2] < custody[0][2] < custody[1][2]
    for (_, rid, _, body), (_, guardians) in zip(custody, child.custody, strict=True):
        assert rid.startswith(f"{child.index:06d}-cus")
        assert body == {"kind": "CUSTODY", "personnummer": child.person.personnummer, "synthetic": True,
                        "guardians": [{"personnummer": g.personnummer, "given_name": g.given_name,
                                       "family_name": g.family_name} for g in guardians]}
        assert set(body["guardians"][0]) == set(registered[3]["guardians"][0])  # REGISTERED's shape


def test_the_expectant_parent_is_a_guardian_of_the_born_child_with_the_same_party_id(county: list) -> None:
    """Health's pregnancy subject is the mother, the register lists her, both give her one id."""
    spec = County(children=1_000)
    registered = {c.index: c for c in county if c.born and c.pregnancy_registered_on is not None}
    assert len(registered) > 10
    people = PopulationConnector.from_config(SOURCE, 10)
    mapper = Mapper()
    for child in registered.values():
        [condition] = [r for r in generate.child_resources(spec, child) if r[0] == "Condition"
                       and r[1] == generate.resource_id(spec, "pregnancy", child.index)]
        subject = condition[3]["subject"]["identifier"]
        assert subject["system"] == PNR_SYSTEM
        assert personnummer.normalise(subject["value"]) == child.mother.personnummer
        [_, _, _, change] = next(population.changes_of(spec, child))
        assert change["kind"] == "REGISTERED"
        assert child.mother.personnummer in [g["personnummer"] for g in change["guardians"]]

        resource = {**condition[3], "meta": {"versionId": "1", "lastUpdated": condition[2].isoformat()}}
        [fact] = mapper.facts("Condition", resource)
        assert fact.event is PregnancyRegistered
        assert fact.fields["expectant_parent_id"] == people.guardian_id(child.mother.personnummer)
        [custody] = [f for f in people.map(SourceRecord("change", "r", "1", "2026-01-01T08:00:00+00:00|r", change))
                     if f.event is CustodyRecorded]
        assert fact.fields["expectant_parent_id"] in custody.fields["guardian_ids"]


# -- the order of custody records ------------------------------------------------------------


async def _read(connector: PopulationConnector) -> AsyncIterator[SourceRecord]:
    async for page in connector.read(None):
        for record in page:
            yield record


async def test_two_custody_changes_on_one_day_keep_the_register_order(tmp_path: Path) -> None:
    """The connector dates each change by the instant the register recorded it, so the second
    change of the day comes after the first whatever the record ids (or event ids) say."""
    child = personnummer.make(dt.date(2019, 4, 2), 931)
    mother = {"personnummer": personnummer.make(dt.date(1990, 1, 5), 942), "given_name": "Ebba",
              "family_name": "Berg"}
    father = {"personnummer": personnummer.make(dt.date(1988, 7, 9), 913), "given_name": "Nils",
              "family_name": "Berg"}
    day = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
    # Recorded in this order; the record ids sort the other way round.
    first = population.record_custody(tmp_path, child, [mother], at=day, record_id="z-custody")
    second = population.record_custody(tmp_path, child, [mother, father], at=day + dt.timedelta(microseconds=1),
                                       record_id="a-custody")
    assert first.modified < second.modified

    connector = PopulationConnector.from_config(SOURCE, 1)  # one change per page: resumes between them
    connector._client._http = httpx.AsyncClient(transport=httpx.ASGITransport(app=population.app(tmp_path)),
                                                base_url="http://navet/")
    try:
        records = [r async for r in _read(connector)]
    finally:
        await connector.aclose()
    assert [r.record_id for r in records] == ["z-custody", "a-custody"]  # change order, not id order
    facts = [f for r in records for f in connector.map(r)]
    assert [f.event for f in facts] == [CustodyRecorded, CustodyRecorded]
    assert [f.occurred_at for f in facts] == [day, day + dt.timedelta(microseconds=1)]
    assert facts[0].fields["recorded_on"] == facts[1].fields["recorded_on"] == day.date()
    assert facts[1].fields["guardian_ids"] == (connector.guardian_id(mother["personnummer"]),
                                               connector.guardian_id(father["personnummer"]))


def test_simulated_custody_changes(tmp_path: Path) -> None:
    spec = County(children=40)
    population.prepare(tmp_path, spec)
    store = population.store_for(tmp_path, population.NAME)
    before = store.count()
    population.simulate(tmp_path, spec, 5, custody_share=1.0)
    new = [store.get("change", rid) for rid in store.ids("change") if rid.startswith("custody-")]
    assert 1 <= len(new) == store.count() - before <= 5  # unborn picks make no change
    assert all(row is not None and row.body["kind"] == "CUSTODY" and row.body["guardians"] for row in new)
