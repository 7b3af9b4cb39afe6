"""The named person is a person where the source knows one: a school unit's principal, read from
SS 12000 ``duties`` by the school connector's run and kept per unit (issue 15, item 8).

Checked against the county directory (the reference: which units have a principal) and the
stand-in's own duty records; a change at the source (a new principal, one whose duty ended)
replaces the list on the next run. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from connectors.standins.common import store_for
from connectors.standins.school.records import uid, unit_uid
from schemas.codec import Codec
from schemas.sealing import Sealer
from services.ingest.checkpoints import SqlCheckpoints
from services.ingest.contacts import SqlContacts
from services.ingest.identity import IdentityRegistry
from services.ingest.runner import ConnectorRunner
from services.sql.keystore import SqlKeyStore
from tests.support.standins import Harness, harness


class Dropped:
    async def publish(self, records: object) -> None:
        return None


def _run(h: Harness, engine: Engine) -> None:
    """One run of the school connector through the runner, as ``kronobarn connector run --once``."""
    sealer = Sealer(SqlKeyStore(engine, bytes(32)))
    runner = ConnectorRunner(h.connector(), Dropped(), SqlCheckpoints(engine),
                             IdentityRegistry(engine, bytes(32), sealer), Codec(sealer=sealer), sealer,
                             contacts=SqlContacts(engine))
    asyncio.run(runner.run_once())


def _duties(data_dir: Path) -> dict[str, dict]:
    store = store_for(data_dir, "school")
    return {i: store.get("duties", i).body for i in store.ids("duties")}  # type: ignore[union-attr]


def test_each_school_units_principal_is_kept_and_follows_the_source(tmp_path: Path, hub_engine: Engine) -> None:
    h = harness("school", tmp_path / "school", children=20)
    h.prepare()
    h.start()
    try:
        _run(h, hub_engine)
        contacts = SqlContacts(hub_engine)
        units = {u.id for u in h.county.units if u.principal_id is not None}
        named = contacts.of(units)
        assert set(named) == units
        duties = _duties(h.data_dir)
        ours = {unit_uid(u): u for u in units}  # SS 12000 ids are UUIDs; the hub's are the directory's
        assert named == {ours[d["dutyAt"]["id"]]: d["person"]["displayName"] for d in duties.values()}
        # The source changes: one unit gets a new principal, another's duty ended yesterday.
        store = store_for(h.data_dir, "school")
        new_one, ended = sorted(units)[:2]
        yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
        first = duties[uid(f"duty-{new_one}")]
        store.put("duties", uid(f"duty-{new_one}"), {**first, "person": {"id": uid("p2"), "displayName": "Nora Ek"}})
        store.put("duties", uid(f"duty-{ended}"), {**duties[uid(f"duty-{ended}")], "endDate": yesterday})
        _run(h, hub_engine)
        after = contacts.of(units)
        assert after[new_one] == "Nora Ek" and ended not in after
        assert len(after) == len(units) - 1
    finally:
        h.stop()


def test_the_plan_names_the_principal_beside_a_school_named_person_and_no_one_beside_a_unit(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from connectors.base import Contact
    from tests.support.api import BHV, COORDINATOR_BHV, COORDINATOR_SCHOOL, SCHOOL
    from tests.support.api import harness as api_harness

    h = api_harness(tmp_path)
    contacts = SqlContacts(h.world.engine)
    client = TestClient(h.app)
    with_school = client.get(f"/children/{h.county.d}", headers=h.headers(COORDINATOR_SCHOOL)).json()
    assert with_school["named_person"]["id"] == SCHOOL and with_school["named_person"]["person"] is None
    contacts.save("school", [Contact(SCHOOL, "principal", "Nora Ek"), Contact(BHV, "principal", "Ivar Lund")])
    with_school = client.get(f"/children/{h.county.d}", headers=h.headers(COORDINATOR_SCHOOL)).json()
    assert with_school["named_person"]["person"] == "Nora Ek"
    with_bvc = client.get(f"/children/{h.county.a}", headers=h.headers(COORDINATOR_BHV)).json()
    assert with_bvc["named_person"]["id"] == BHV and with_bvc["named_person"]["person"] is None  # a unit stays a unit
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_SCHOOL))
    page = client.get(f"/ui/children/{h.county.d}")
    assert page.status_code == 200 and "rektor Nora Ek" in page.text
