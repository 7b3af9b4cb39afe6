"""Contract tests of the stand-ins' own APIs over real HTTP: auth, paging, change filters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from connectors.standins import population, social
from connectors.standins.common import store_for
from tests.support.standins import Harness, harness

TOKEN_FORM = {"grant_type": "client_credentials", "client_id": "kronobarn", "client_secret": "dev-only-secret"}


@pytest.fixture(params=["population", "school"])
def http_standin(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = harness(request.param, tmp_path, children=120)
    h.prepare()
    h.start()
    yield h
    h.stop()


def _client(h: Harness) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{h.port}", timeout=10)


def _token(h: Harness) -> dict[str, str]:
    with _client(h) as c:
        response = c.post("/oauth2/token", data=TOKEN_FORM)
    assert response.status_code == 200 and response.json()["token_type"] == "Bearer"
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


LIST = {"population": ("/navet/v1/changes", "changes"), "school": ("/ss12000/v2/placements", "data")}


def test_every_call_needs_a_valid_token(http_standin: Harness) -> None:
    path, _ = LIST[http_standin.name]
    with _client(http_standin) as c:
        for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic a2I6eA=="}):
            response = c.get(path, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
        wrong = c.post("/oauth2/token", data={**TOKEN_FORM, "client_secret": "guess"})
        assert wrong.status_code == 401
        assert c.get(path, headers=_token(http_standin)).status_code == 200


def _walk(h: Harness, limit: int) -> list[dict]:
    path, key = LIST[h.name]
    headers = _token(h)
    items: list[dict] = []
    params: dict = {"limit": limit}
    with _client(h) as c:
        while True:
            body = c.get(path, params=params, headers=headers).json()
            items.extend(body[key])
            if h.name == "population":
                if not body["next"]:
                    return items
                params = {"limit": limit, "after": body["next"]}
            else:
                if "pageToken" not in body:
                    return items
                params = {"limit": limit, "pageToken": body["pageToken"]}


def test_pages_are_disjoint_ordered_and_complete(http_standin: Harness) -> None:
    small, large = _walk(http_standin, 7), _walk(http_standin, 1000)
    assert [i["id"] for i in small] == [i["id"] for i in large]
    assert len({i["id"] for i in small}) == len(small) > 7


def test_change_filter_returns_only_newer(http_standin: Harness) -> None:
    before = len(_walk(http_standin, 1000))
    http_standin.change()
    headers = _token(http_standin)
    path, key = LIST[http_standin.name]
    with _client(http_standin) as c:
        if http_standin.name == "school":
            since = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
            newer = c.get("/ss12000/v2/placements", params={"meta.modified.after": since}, headers=headers).json()["data"]
            assert len(newer) == 1 and newer[0]["schoolType"] == "FS"
            bad = c.get("/ss12000/v2/placements", params={"meta.modified.after": "yesterday"}, headers=headers)
            assert bad.status_code == 400 and set(bad.json()) == {"code", "message"} and "RFC 3339" in bad.text
        else:
            last = _walk(http_standin, 1000)[-2]["changeNumber"]
            newer = c.get(path, params={"after": last}, headers=headers).json()[key]
            assert [n["kind"] for n in newer] == ["MOVED"]
            assert len(_walk(http_standin, 1000)) == before + 1


def test_school_reports_deleted_entities(tmp_path: Path) -> None:
    h = harness("school", tmp_path, children=120)
    h.prepare()
    h.start()
    try:
        since = dt.datetime.now(dt.UTC).isoformat()
        placement = h.delete_one()
        with _client(h) as c:
            body = c.get("/ss12000/v2/deletedEntities", params={"after": since}, headers=_token(h)).json()
            remaining = [p["id"] for p in _walk(h, 1000)]
    finally:
        h.stop()
    assert body["data"] == {"placements": [placement]}  # SS 12000's object of id lists
    assert placement not in remaining


def test_social_register_polls_exactly_on_updated_at_and_id(tmp_path: Path) -> None:
    """Rows sharing one updated_at are split across pages without loss or repeat."""
    h = harness("social", tmp_path, children=300)
    h.prepare()
    engine = create_engine(social.url_for(tmp_path))
    same = dt.datetime(2026, 5, 5, 12, 0)
    with engine.begin() as c:
        ids = [r.id for r in c.execute(select(social.reports.c.id)).all()]
        c.execute(social.reports.update().values(updated_at=same))  # every row ties
    engine.dispose()
    import asyncio

    connector = h.connector(batch_size=3)

    async def walk() -> list[str]:
        seen = []
        async for page in connector.read(None):
            seen.extend(r.record_id for r in page if r.kind == "reports_of_concern")
        await connector.aclose()
        return seen

    seen = asyncio.run(walk())
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


def test_prepare_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    a, b = harness("school", tmp_path / "a", 80), harness("school", tmp_path / "b", 80)
    a.prepare()
    b.prepare()
    a.prepare()  # a second prepare of the same county changes nothing
    rows_a = store_for(a.data_dir, "school").feed("placements", None, 10_000)
    rows_b = store_for(b.data_dir, "school").feed("placements", None, 10_000)
    assert [(r.id, r.modified, r.body) for r in rows_a] == [(r.id, r.modified, r.body) for r in rows_b]


# -- the population register's life events over HTTP (issue 15) ---------------------------------

def test_the_population_feed_serves_every_kind_of_change_and_withholds_protected_addresses(tmp_path: Path) -> None:
    h = harness("population", tmp_path, children=2_000)  # the demo's county: several of each kind
    h.prepare()
    h.start()
    try:
        changes = _walk(h, 1_000)
    finally:
        h.stop()
    kinds = {c["kind"] for c in changes}
    assert kinds == {"REGISTERED", "CUSTODY", "MOVED", "PROTECTION", "DIED", "EMIGRATED"}
    assert [c["changeNumber"] for c in changes] == sorted(c["changeNumber"] for c in changes)
    hidden = {c["personnummer"] for c in changes if c.get("protection") == "SKYDDAD_FOLKBOKFORING"
              and c["kind"] == "REGISTERED"}
    assert hidden and not any("address" in c for c in changes if c["kind"] == "REGISTERED" and c["personnummer"]
                              in hidden)
    assert all({"address", "postal_code", "town"} <= set(c) for c in changes
               if c["kind"] == "REGISTERED" and "protection" not in c)
    died = [c for c in changes if c["kind"] == "DIED"]
    assert all(c["id"].endswith("-end") for c in died)
    last = {c["personnummer"]: c for c in changes}
    assert all(last[c["personnummer"]] == c for c in died)  # nothing after a death


def test_a_population_store_filled_by_an_older_generator_refills(tmp_path: Path) -> None:
    h = harness("population", tmp_path, children=60)
    h.prepare()
    store = store_for(h.data_dir, "population")
    label, filled = store.prepared_as(), store.count()
    assert label is not None and label.endswith(population.GENERATION) and filled > 0
    with store._tx() as c:  # as an earlier generator left it: no addresses yet
        c.execute("UPDATE meta SET value = ? WHERE key = 'prepared'", (label.replace(population.GENERATION,
                                                                                      "population=2"),))
        c.execute("DELETE FROM records")
    h.prepare()
    assert store.prepared_as() == label and store.count() == filled
