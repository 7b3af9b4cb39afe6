"""Two ids of one child become one, through a real broker, worker and read model (issue 15).

The county's worst order: an unborn child U (pregnancy, a prenatal consent, a plan opened by the
MHV unit, a health fact) and, before the health system's birth record, the population register
and a health centre see the newborn by personnummer, which gets an id X of its own (registration,
custody, a health fact, a consent by the mother as guardian). The birth links them: the registry
announces ``ChildIdentitiesMerged`` (built here exactly as the connector runner builds it), and a
fact about X that was on its way arrives after the announcement.

Expected, as the county would see it: one child U, born, with the mother as guardian, the BHV
unit as its named person, both consents, its plan, and every fact of both ids that a consent
covers -- the late one too; X is only a pointer to U; U's identity opens with U's own key. The
web service sends a request about X to U, for those who may see U, and to nobody else; and an
auditor's log extract for U shows who saw the child while it was X.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from projections.read_model import assessments, children, consents, released_facts
from schemas.events import Area, Basis, Category, Event, Grantor, GrantorRole
from schemas.sealing import Personal, Sealer
from services.api.auth.tokens import Principal, Role
from services.dev.samples import scoped_grant
from services.ingest.identity import Link
from services.ingest.runner import merge_announcement
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from services.sql.keystore import SqlKeyStore, master_key_from
from services.worker.linker import carried_id
from tests.support.api import Collecting
from tests.support.gate import Workers
from tests.support.history import event
from tests.support.projector import caught_up, hub, publish

MHV, BVC, SOURCE = "SE2321000065-MHV0780", "SE2321000065-BHV0780", "vc-2"
D, C = Basis.DIRECTORY, Basis.CONSENT


@pytest.mark.timeout(600)
def test_a_newborn_seen_first_by_personnummer_becomes_its_unborn_self(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    now = dt.datetime.now(dt.UTC)
    yesterday, born = now - dt.timedelta(days=1), (now - dt.timedelta(hours=2)).date()
    unborn, newborn, mother = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    plan_id = uuid.uuid4()

    def consent(child: uuid.UUID, n: int, role: GrantorRole) -> Event:
        return scoped_grant(child, uuid.uuid5(child, f"consent-{n}"), [Category.HEALTH], [MHV, BVC],
                            yesterday, now + dt.timedelta(days=90), grantors=(Grantor(mother, role),))

    def assessed(area: Area, n: int) -> Event:
        return event("AreaAssessed", newborn, n, basis=C, org=BVC, area=area, at=now, plan_id=plan_id, rating=3,
                     assessed_by_org=BVC)

    def visit(child: uuid.UUID, n: int, at: dt.datetime) -> Event:
        return event("HealthVisitRecorded", child, n, basis=C, org=SOURCE, area=Area.HEALTH, at=at)

    before_birth = [
        event("PregnancyRegistered", unborn, 1, basis=D, org=MHV, at=yesterday, unit_id=MHV, municipality_code="0780",
              expected_birth_date=born, expectant_parent_id=mother),
        consent(unborn, 1, GrantorRole.EXPECTANT_PARENT),
        event("PlanOpened", unborn, 2, basis=C, org=MHV, at=yesterday, plan_id=plan_id, opened_by_org=MHV,
              consent_ids=()),
        visit(unborn, 3, yesterday),
    ]
    seen_apart = [
        event("ChildRegistered", newborn, 1, basis=D, org="navet", at=now, birth_date=born, municipality_code="0780",
              sealed=Personal({"personnummer": "20261205-0000", "given_name": "Saga", "family_name": "Berg"})),
        event("CustodyRecorded", newborn, 2, basis=D, org="navet", at=now, recorded_on=born, guardian_ids=(mother,)),
        visit(newborn, 3, now),
        consent(newborn, 2, GrantorRole.GUARDIAN),
        event("ChildDataViewed", newborn, 5, basis=D, org=BVC, at=now, viewer_id="bvc-nurse", role="coordinator",
              organisation_id=BVC, purpose="care", parts=("summary",)),
        assessed(Area.HEALTH, 6),  # a coordinator who knew the newborn by its own id, on the child's plan
    ]
    link = Link(merged=newborn, surviving=unborn, linked_at=now)
    late = visit(newborn, 4, now)
    late_entry = assessed(Area.HOME, 7)
    with EmbeddedBroker(port=free_port()) as broker:
        cfg = Settings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(kafka.create_topics(cfg))
        engine, codec, store = hub(url)
        with Workers(broker.bootstrap, tmp_path, tick_s=1.0, database_url=url) as workers:
            workers.start()
            asyncio.run(publish(cfg, codec, before_birth + seen_apart))
            assert caught_up(cfg, store, timeout=120, quiet_s=2.0), workers.dump()
            asyncio.run(publish(cfg, codec, [merge_announcement(link, now), late]))
            assert caught_up(cfg, store, timeout=120, quiet_s=3.0), workers.dump()
            asyncio.run(publish(cfg, codec, [late_entry]))  # once the projector has folded the merge
            assert caught_up(cfg, store, timeout=120, quiet_s=3.0), workers.dump()
            assert workers.alive(), workers.dump()

    with engine.connect() as c:
        rows = {r.child_id: r for r in c.execute(select(children))}
        facts = {(r.child_id, r.fact_event_id) for r in c.execute(select(released_facts))}
        consent_rows = {(r.child_id, r.consent_id) for r in c.execute(select(consents))}
        areas = {(r.child_id, r.area) for r in c.execute(select(assessments))}
    u, x = str(unborn), str(newborn)
    assert rows[x].merged_into == u and rows[x].named_person_org is None
    assert not {f for f in facts if f[0] == x} and not {k for k in consent_rows if k[0] == x}
    one = rows[u]
    assert (one.unborn, one.birth_date, one.merged_into) == (False, born, None)
    assert one.named_person_org == BVC, one.named_person_rule
    assert {k[1] for k in consent_rows if k[0] == u} == {str(uuid.uuid5(unborn, "consent-1")),
                                                          str(uuid.uuid5(newborn, "consent-2"))}
    assert one.plan_id == str(plan_id)
    assert {(u, "health"), (u, "home")} <= areas and not {a for a in areas if a[0] == x}  # the plan's entries too
    assert {f[1] for f in facts if f[0] == u} >= {str(carried_id(visit(newborn, 3, now).event_id, unborn)),
                                                  str(carried_id(late.event_id, unborn))}
    sealer = Sealer(SqlKeyStore(engine, master_key_from(Settings(_env_file=None))))  # type: ignore[call-arg]
    assert sealer.open(unborn, one.sealed_identity).fields["given_name"] == "Saga"

    from services.api.app import create_app

    app = create_app(Settings(_env_file=None, database_url=url), publish=Collecting(codec), engine=engine)  # type: ignore[call-arg]
    client = TestClient(app, follow_redirects=False)

    def bearer(org: str) -> dict[str, str]:
        token = app.state.hub.dev_idp.issue(Principal("e2e-" + org, Role.COORDINATOR, org))
        return {"Authorization": f"Bearer {token}"}

    moved = client.get(f"/children/{newborn}", headers=bearer(BVC))
    assert moved.status_code == 308 and moved.headers["location"] == f"/children/{unborn}"
    assert client.get(moved.headers["location"], headers=bearer(BVC)).json()["child_id"] == u
    assert client.get(f"/children/{newborn}", headers=bearer("skola-1")).status_code == 404
    auditor = app.state.hub.dev_idp.issue(Principal("e2e-auditor", Role.AUDITOR, "SE2321000065"))
    extract = client.get(f"/audit/children/{unborn}/log", headers={"Authorization": f"Bearer {auditor}"})
    assert extract.status_code == 200, extract.text
    assert any(e["child_id"] == x and e["viewer_id"] == "bvc-nurse" for e in extract.json()["entries"])
