"""A connector's running totals and health: kept in the database beside its checkpoint, and
exported as Prometheus metrics.

``connector_status`` holds what ``kronobarn connector status NAME`` prints: records read,
events published, dead letters by error type, retries, the last successful poll, the last
error and since when the source has been down. It survives restarts; a crash between a page's
checkpoint and its status update undercounts that page, never the data. The checkpoint's age
comes from ``connector_checkpoints.updated_at``: how long since the checkpoint last moved.

The metrics (``ConnectorMetrics``) carry the same names under ``kronobarn_connector_*``, each
labelled with the connector; ``[run] metrics_port`` serves them. Errors are recorded by type and
the source system's own words never (a message might quote a record): no personal data leaves.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from services.sql.db import writing
from services.sql.schema import connector_checkpoints, connector_status

ERROR_MAX = 300


@dataclass(frozen=True)
class Status:
    connector: str
    records_read: int = 0
    events_published: int = 0
    dead_letters: Mapping[str, int] = field(default_factory=dict)
    retries: int = 0
    last_poll_at: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    down_since: dt.datetime | None = None
    checkpoint: str | None = None
    checkpoint_at: dt.datetime | None = None


def error_text(error: BaseException) -> str:
    """An error as the status shows it: its type, and our own message (connectors' messages name no
    personal data: ``MappingError`` and ``SourceUnavailable`` are written to that rule)."""
    return f"{type(error).__name__}: {error}"[:ERROR_MAX]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value  # SQLite


class SqlStatus:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def load(self, connector: str) -> Status | None:
        """The connector's status, or None if it never ran against this database."""
        with self._engine.connect() as c:
            row = c.execute(select(connector_status).where(connector_status.c.connector == connector)).first()
            mark = c.execute(select(connector_checkpoints.c.cursor, connector_checkpoints.c.updated_at)
                             .where(connector_checkpoints.c.connector == connector)).first()
        if row is None and mark is None:
            return None
        checkpoint = {"checkpoint": mark.cursor, "checkpoint_at": _utc(mark.updated_at)} if mark else {}
        if row is None:
            return Status(connector, **checkpoint)
        return Status(connector, row.records_read, row.events_published, json.loads(row.dead_letters), row.retries,
                      _utc(row.last_poll_at), row.last_error, _utc(row.last_error_at), _utc(row.down_since),
                      **checkpoint)

    def page(self, connector: str, read: int, published: int, dead_letters: Mapping[str, int]) -> None:
        with writing(self._engine) as c:
            self._ensure(c, connector)
            t = connector_status.c
            values: dict[str, object] = {"records_read": t.records_read + read,
                                         "events_published": t.events_published + published}
            if dead_letters:
                known = json.loads(c.scalar(select(t.dead_letters).where(t.connector == connector)) or "{}")
                for reason, n in dead_letters.items():
                    known[reason] = known.get(reason, 0) + n
                values["dead_letters"] = json.dumps(known, sort_keys=True)
            c.execute(update(connector_status).where(t.connector == connector).values(**values))

    def retry(self, connector: str, error: str, at: dt.datetime, down_since: dt.datetime) -> None:
        with writing(self._engine) as c:
            self._ensure(c, connector)
            t = connector_status.c
            c.execute(update(connector_status).where(t.connector == connector).values(
                retries=t.retries + 1, last_error=error, last_error_at=at, down_since=down_since))

    def polled(self, connector: str, at: dt.datetime) -> None:
        with writing(self._engine) as c:
            self._ensure(c, connector)
            c.execute(update(connector_status).where(connector_status.c.connector == connector)
                      .values(last_poll_at=at, down_since=None))

    @staticmethod
    def _ensure(c, connector: str) -> None:  # type: ignore[no-untyped-def]
        if c.scalar(select(connector_status.c.connector).where(connector_status.c.connector == connector)) is None:
            try:
                with c.begin_nested():
                    c.execute(connector_status.insert().values(connector=connector))
            except IntegrityError:  # another runner of the same connector made it first
                pass


class ConnectorMetrics:
    """The ``kronobarn_connector_*`` metrics, in ``registry`` (the default one when served)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        kw = {"registry": registry} if registry is not None else {}
        label = ["connector"]
        self.read = Counter("kronobarn_connector_records_read", "records read from the source", label, **kw)
        self.published = Counter("kronobarn_connector_events_published", "events published and acknowledged",
                                 label, **kw)
        self.dead_letters = Counter("kronobarn_connector_dead_letters", "records dead-lettered, by error type",
                                    [*label, "reason"], **kw)
        self.retries = Counter("kronobarn_connector_retries", "failed attempts to read the source", label, **kw)
        self.last_success = Gauge("kronobarn_connector_last_success_timestamp_seconds",
                                  "when a poll last read the source to its end", label, **kw)
        self.checkpoint_age = Gauge("kronobarn_connector_checkpoint_age_seconds",
                                    "seconds since the checkpoint last moved", label, **kw)
        self.source_up = Gauge("kronobarn_connector_source_up", "1 while the source answers, 0 while it is down",
                               label, **kw)


_DEFAULT: list[ConnectorMetrics] = []


def default_metrics() -> ConnectorMetrics:
    """The process's metrics in the default registry, made once (a registry refuses a name twice)."""
    if not _DEFAULT:
        _DEFAULT.append(ConnectorMetrics())
    return _DEFAULT[0]


class StatusObserver:
    """The runner's ``Observer``: the status row and the metrics, for one connector."""

    def __init__(self, connector: str, store: SqlStatus, metrics: ConnectorMetrics,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.connector, self.store, self.metrics, self.clock = connector, store, metrics, clock
        known = store.load(connector)
        saved = known.checkpoint_at if known is not None else None
        self._moved = saved.timestamp() if saved is not None else None
        for counter in (metrics.read, metrics.published, metrics.retries):
            counter.labels(connector)  # a series from the start, at 0, so a rate over it is defined
        self.metrics.checkpoint_age.labels(connector).set_function(self._age)
        if known is not None and known.last_poll_at is not None:
            self.metrics.last_success.labels(connector).set(known.last_poll_at.timestamp())

    def _age(self) -> float:
        return float("nan") if self._moved is None else max(0.0, time.time() - self._moved)

    def page(self, read: int, published: int, dead_letters: Mapping[str, int], *, moved: bool) -> None:
        self.store.page(self.connector, read, published, dead_letters)
        self.metrics.read.labels(self.connector).inc(read)
        self.metrics.published.labels(self.connector).inc(published)
        for reason, n in dead_letters.items():
            self.metrics.dead_letters.labels(self.connector, reason).inc(n)
        if moved:
            self._moved = time.time()

    def retry(self, error: BaseException, down_since: dt.datetime) -> None:
        self.store.retry(self.connector, error_text(error), self.clock(), down_since)
        self.metrics.retries.labels(self.connector).inc()
        self.metrics.source_up.labels(self.connector).set(0)

    def polled(self, at: dt.datetime) -> None:
        self.store.polled(self.connector, at)
        self.metrics.last_success.labels(self.connector).set(at.timestamp())
        self.metrics.source_up.labels(self.connector).set(1)
