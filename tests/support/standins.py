"""Harnesses that put each stand-in and its connector through the same contract tests.

Each harness knows how to serve its stand-in, configure its connector against it, make one
incremental change, inject one malformed record, and (school) delete one record.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from connectors.base import Connector
from connectors.registry import connector_class
from connectors.standins import health, population, school, social
from connectors.standins.common import store_for
from connectors.standins.county import County
from connectors.standins.registry import Standin, standin
from services.dev.demo.intake import DEPLOY, localise
from services.dev.http_server import BackgroundServer
from services.kafka.broker import free_port

BAD_PNR = "20150309-9312"  # check digit wrong on purpose


@dataclass
class Harness:
    name: str
    data_dir: Path
    county: County
    port: int | None = None
    _server: BackgroundServer | None = None

    @property
    def spec(self) -> Standin:
        return standin(self.name)

    def prepare(self) -> None:
        self.spec.prepare(self.data_dir, self.county)

    def start(self) -> None:
        if self.spec.app is None:
            return
        self.port = self.port or free_port()
        self._server = BackgroundServer(self.spec.app(self.data_dir), port=self.port).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def source(self) -> dict[str, Any]:
        """The shipped deploy/connectors file, pointed at this harness's port and data dir."""
        raw = tomllib.loads((DEPLOY / f"{self.name}.toml").read_text(encoding="utf-8"))
        return localise(raw["source"], self.spec.default_port, self.port, self.data_dir)

    def connector(self, batch_size: int = 50) -> Connector:
        return connector_class(self.name).from_config(self.source(), batch_size)

    @contextmanager
    def down(self) -> Iterator[None]:
        """The source is unavailable inside the block."""
        if self.name == "social":
            db = self.data_dir / "social.db"
            away = self.data_dir / "social.db.away"
            shutil.move(db, away)
            (self.data_dir / "social.db").mkdir()  # a directory where the file was: cannot open
            try:
                yield
            finally:
                (self.data_dir / "social.db").rmdir()
                shutil.move(away, db)
        else:
            self.stop()
            try:
                yield
            finally:
                pass

    def up(self) -> None:
        if self.name != "social":
            self.start()

    def change(self) -> set[str]:
        """One realistic change at the source; the event types it must produce."""
        now = dt.datetime.now(dt.UTC)
        if self.name == "population":
            child = next(c for c in self.county if c.person is not None)
            population.store_for(self.data_dir, "population").put("change", "test-move", {
                "kind": "MOVED", "personnummer": child.person.personnummer, "synthetic": True,
                "from_municipality_code": child.municipality_code, "to_municipality_code": "0760",
                "moved_on": now.date().isoformat()})
            return {"ChildMoved"}
        if self.name == "social":
            social.simulate(self.data_dir, self.county, 1)
            return {"ReportOfConcernReceived"}
        if self.name == "school":
            school.simulate(self.data_dir, self.county, 1)  # a new förskola placement
            return {"SchoolPlacementStarted"}
        health.simulate(self.data_dir, self.county, 1)
        return {"ObservationRecorded"}

    def malform(self) -> str:
        """Inject one record that cannot be mapped; returns what its source_ref contains."""
        if self.name == "population":
            store_for(self.data_dir, "population").put("change", "test-bad", {
                "kind": "REGISTERED", "personnummer": BAD_PNR, "given_name": "X", "family_name": "Y",
                "birth_date": "2015-03-09", "municipality_code": "0780", "guardians": []})
            return "change/test-bad"
        if self.name == "social":
            engine = create_engine(social.url_for(self.data_dir))
            with engine.begin() as c:
                c.execute(social.reports.insert().values(
                    id="ORO-BAD-1", version=1, updated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    personnummer=BAD_PNR, municipality_code="0780", reporter_category="SCHOOL",
                    received_on=dt.date.today()))
            engine.dispose()
            return "reports_of_concern/ORO-BAD-1"
        if self.name == "school":
            store = store_for(self.data_dir, "school")
            unit = store.feed("placements", None, 1)[0].body["placedAt"]
            store.put("placements", "placement-bad", {
                "id": "placement-bad", "child": {"id": str(uuid.uuid4())}, "placedAt": unit,
                "schoolType": "FS", "startDate": "2026-08-15", "meta": {}})
            return "placements/placement-bad"
        store_for(self.data_dir, "health").put("Encounter", "enc-bad", {
            "resourceType": "Encounter", "id": "enc-bad", "status": "finished",
            "class": {"code": "AMB"}, "subject": {"reference": "Patient/nobody"}})
        return "Encounter/enc-bad"

    def delete_one(self) -> str:
        """School only: delete an open förskola placement; returns its id."""
        store = store_for(self.data_dir, "school")
        pid = next(i for i in store.ids("placements") if (row := store.get("placements", i)) is not None
                   and row.body.get("endDate") is None and row.body["schoolType"] == "FS")
        store.delete("placements", pid)
        return pid


def harness(name: str, data_dir: Path, children: int = 150) -> Harness:
    data_dir.mkdir(parents=True, exist_ok=True)
    return Harness(name, data_dir, County(children=children))


@contextmanager
def serving(name: str, data_dir: Path, children: int = 150) -> Iterator[Harness]:
    """The stand-in ``name``, prepared and served for the block."""
    h = harness(name, data_dir, children)
    h.prepare()
    h.start()
    try:
        yield h
    finally:
        h.stop()


NAMES = ["health", "school", "social", "population"]
