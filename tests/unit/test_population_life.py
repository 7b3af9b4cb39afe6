"""The population stand-in's life events (issue 15): addresses, protected personal data, deaths,
emigrations and moves out of the county -- deterministic per child, in the shares asked for, and
mapped by the connector into the facts the hub folds."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest

from connectors.base import SourceRecord
from connectors.population import PopulationConnector
from connectors.standins import population
from connectors.standins.county import DIED_SHARE, EMIGRATED_SHARE, MOVED_OUT_SHARE, PROTECTED_SHARE, Child, County
from connectors.standins.population.addresses import TOWNS
from schemas.events import ChildDied, ChildEmigrated, ChildMoved, ChildRegistered, Protection, ProtectionRecorded

SOURCE = {"url": "http://navet", "token_url": "http://navet/oauth2/token", "client_id": "kronobarn",
          "client_secret": "dev-only-secret"}
POSTAL_CODE = re.compile(r"\d{3} \d{2}")
SF, SM = "SKYDDAD_FOLKBOKFORING", "SEKRETESSMARKERING"


@pytest.fixture(scope="module")
def county() -> County:
    return County()  # the demo's default: 2,000 children


@pytest.fixture(scope="module")
def born(county: County) -> list[Child]:
    return [c for c in county if c.born]


def ref_protection(child: Child, day: dt.date) -> str:
    """The protection on ``day``: the latest change on or before it (none dated: from the start)."""
    return ([kind for since, kind in child.protection if since is None or since <= day] or ["NONE"])[-1]


def _changes(county: County, child: Child) -> list[dict]:
    return [body for *_, body in population.changes_of(county, child)]


def test_the_default_county_has_several_of_each_life_event_in_the_shares_asked(born: list[Child]) -> None:
    n = len(born)
    protected = [c for c in born if c.protection]
    kinds = Counter(c.protection[0][1] for c in protected)
    assert PROTECTED_SHARE / 2 < len(protected) / n < PROTECTED_SHARE * 2
    assert kinds[SF] >= 5 and kinds[SM] >= 5
    assert sum(c.protection[0][0] is None for c in protected) >= 3  # protected before the window
    assert sum(c.protection[0][0] is not None for c in protected) >= 3  # recorded within it
    assert sum(len(c.protection) == 2 and c.protection[1][1] == "NONE" for c in protected) >= 2  # lifted again
    for share, ended in ((DIED_SHARE, [c for c in born if c.died_on]),
                         (EMIGRATED_SHARE, [c for c in born if c.emigrated_on]),
                         (MOVED_OUT_SHARE, [c for c in born if c.moved_out])):
        assert len(ended) >= 3 and len(ended) / n < share * 3
    assert all(sum(x is not None for x in (c.died_on, c.emigrated_on, c.moved_out)) <= 1 for c in born)
    assert sum(bool(c.custody) for c in born) >= 10 and sum(bool(c.moves) for c in born) >= 10


def test_life_events_are_deterministic_per_child(county: County, born: list[Child]) -> None:
    again = County()
    picked = [c for c in born if c.protection or c.left_on][:20]
    assert [again.child(c.index) for c in picked] == picked
    assert [_changes(again, again.child(c.index)) for c in picked] == [_changes(county, c) for c in picked]


def test_an_ending_comes_after_every_other_change_and_within_the_window(county: County, born: list[Child]) -> None:
    for child in (c for c in born if c.left_on):
        rows = list(population.changes_of(county, child))
        last = max(rows, key=lambda r: r[2])
        assert last[1] == f"{child.index:06d}-end" and last[3]["kind"] in ("DIED", "EMIGRATED", "MOVED")
        assert county.window_start < child.left_on < county.as_of
        if child.moved_out:
            assert last[3]["to_municipality_code"] == child.moved_out[1]
            assert child.moved_out[1] not in county.directory.codes


def test_addresses_lie_in_the_childs_municipality_and_are_withheld_under_skyddad_folkbokforing(
        county: County, born: list[Child]) -> None:
    for child in born[:300] + [c for c in born if c.protection or c.moves or c.moved_out]:
        for body in _changes(county, child):
            code = body.get("municipality_code") or body.get("to_municipality_code")
            if body["kind"] not in ("REGISTERED", "MOVED"):
                assert "address" not in body
                continue
            day = dt.date.fromisoformat(body["moved_on"]) if body["kind"] == "MOVED" else max(
                child.birth_date, county.window_start)
            if ref_protection(child, day) == SF:
                assert not {"address", "postal_code", "town"} & set(body), (child.index, body["kind"])
            else:
                assert body["town"] == TOWNS[code][0] and POSTAL_CODE.fullmatch(body["postal_code"])
                assert body["postal_code"].replace(" ", "").startswith(TOWNS[code][1])
                assert re.fullmatch(r"\w+ \d+", body["address"])


def test_protection_travels_with_the_registration_or_as_a_change_of_its_own(county: County,
                                                                            born: list[Child]) -> None:
    for child in (c for c in born if c.protection):
        bodies = _changes(county, child)
        registered = bodies[0]
        changes = [(b["recorded_on"], b["protection"]) for b in bodies if b["kind"] == "PROTECTION"]
        first_since, first_kind = child.protection[0]
        if first_since is None:
            assert registered["protection"] == first_kind
        else:
            assert "protection" not in registered
        assert changes == [(since.isoformat(), kind) for since, kind in child.protection if since is not None]


def test_the_connector_maps_every_change_of_the_county_into_its_facts(county: County, born: list[Child]) -> None:
    connector = PopulationConnector.from_config(SOURCE, 10)
    seen: Counter[str] = Counter()
    for child in (c for c in born if c.protection or c.left_on):
        for _, rid, at, body in population.changes_of(county, child):
            cursor = f"{at.isoformat()}|{rid}"
            facts = connector.map(SourceRecord("change", rid, "1", cursor, body))
            seen.update(f.event.__name__ for f in facts)
            for fact in facts:
                assert fact.subject.personnummer == child.person.personnummer
                if fact.event is ChildDied:
                    assert fact.fields["died_on"] == child.died_on
                elif fact.event is ChildEmigrated:
                    assert fact.fields["emigrated_on"] == child.emigrated_on
                elif fact.event is ProtectionRecorded:
                    assert fact.fields["protection"] in set(Protection)
                elif fact.event in (ChildRegistered, ChildMoved) and fact.personal:
                    assert set(fact.personal) - {"personnummer", "given_name", "family_name"} <= {
                        "address", "postal_code", "town"}
    assert seen["ChildDied"] >= 3 and seen["ChildEmigrated"] >= 3 and seen["ProtectionRecorded"] >= 10
    assert seen["ChildMoved"] >= 3  # the moves out, at least


def test_simulate_makes_each_new_kind_of_change_and_leaves_an_ended_child_alone(tmp_path: Path) -> None:
    spec = County(children=60)
    population.prepare(tmp_path, spec)
    store = population.store_for(tmp_path, population.NAME)
    for share, kind in (("protection_share", "PROTECTION"), ("death_share", "DIED"),
                        ("emigration_share", "EMIGRATED"), ("move_out_share", "MOVED")):
        before = set(store.ids("change"))
        population.simulate(tmp_path, spec, 30, **{share: 1.0})
        new = [store.get("change", rid) for rid in set(store.ids("change")) - before]
        assert new and all(row is not None and row.body["kind"] == kind for row in new), share
        if kind in ("DIED", "EMIGRATED"):
            assert all(row.id.endswith("-end") for row in new)
        if kind == "MOVED":
            assert all(row.body["to_municipality_code"] not in spec.directory.codes for row in new)
    ended = {store.get("change", rid).body["personnummer"] for rid in store.ids("change") if rid.endswith("-end")}
    before = {rid: store.get("change", rid) for rid in store.ids("change")}
    population.simulate(tmp_path, spec, 200, custody_share=0.5)  # moves and custody changes
    new = [store.get("change", rid) for rid in set(store.ids("change")) - set(before)]
    assert new and not {row.body["personnummer"] for row in new} & ended  # an ended child changes no more
    assert all(store.get("change", rid) == row for rid, row in before.items())
