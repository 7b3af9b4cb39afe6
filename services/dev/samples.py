"""Deterministic synthetic events of every type, for the demo, the benchmarks and tests.

Values are derived from the field types alone, from a seed, so the same seed always gives
the same event (golden-byte tests rely on that). No real person is described.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
import types
import typing
import uuid
from collections.abc import Iterable
from dataclasses import fields, replace

from schemas.events import (
    EVENT_TYPES,
    Area,
    Basis,
    Category,
    ConsentGranted,
    ConsentWithdrawn,
    Envelope,
    Event,
    Grantor,
    GrantorRole,
    Source,
)
from schemas.sealing import SealedBox
from schemas.topics import TOPIC_OF_EVENT

EPOCH = dt.datetime(2026, 1, 15, 8, 30, tzinfo=dt.UTC)
_CATEGORY_OF_TOPIC = {
    "intake.health": Category.HEALTH,
    "intake.school": Category.SCHOOL,
    "intake.social": Category.SOCIAL,
    "intake.population": Category.POPULATION,
    "consent": Category.CONSENT,
    "shared": Category.PLAN,
    "plan": Category.PLAN,
    "access": Category.ACCESS,
    "statutory.social": Category.SOCIAL,
    "intake.reports": Category.SCHOOL,
}
_STATUTORY = {"ReportOfConcernReceived", "ReportOfConcernFiled", *(n for n in EVENT_TYPES
              if TOPIC_OF_EVENT[EVENT_TYPES[n]].name == "statutory.social")}


def _value(tp: typing.Any, name: str, rng: random.Random) -> typing.Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = next(a for a in typing.get_args(tp) if a is not type(None))
        return _value(inner, name, rng)
    if origin is tuple:
        return tuple(_value(typing.get_args(tp)[0], name, rng) for _ in range(2))
    if tp is uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)
    if tp is bool:
        return rng.random() < 0.5
    if tp is str:
        return f"{name}-{rng.randrange(10_000):04d}"
    if tp is int:
        return rng.randrange(1, 6)
    if tp is float:
        return float(rng.randrange(0, 100))  # exact in Avro float, so round trips compare equal
    if tp is bytes:
        return rng.randbytes(24)
    if tp is dt.date:
        return (EPOCH + dt.timedelta(days=rng.randrange(365))).date()
    if tp is dt.datetime:
        return EPOCH + dt.timedelta(seconds=rng.randrange(10**7))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return rng.choice(list(tp))
    if tp is Grantor:
        return Grantor(_value(uuid.UUID, name, rng), rng.choice(list(GrantorRole)))
    raise TypeError(f"no sample value for {tp!r}")


def sample_envelope(name: str, rng: random.Random, child_id: uuid.UUID | None = None) -> Envelope:
    cls = EVENT_TYPES[name]
    topic = TOPIC_OF_EVENT[cls].name
    occurred = EPOCH + dt.timedelta(seconds=rng.randrange(10**7))
    return Envelope(
        event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        type=name,
        child_id=child_id or uuid.UUID(int=rng.getrandbits(128), version=4),
        occurred_at=occurred,
        recorded_at=occurred + dt.timedelta(seconds=rng.randrange(1, 600)),
        source=Source("sample", f"org-{rng.randrange(100):03d}", f"rec-{rng.randrange(10**6)}", "1"),
        basis=Basis.STATUTORY if name in _STATUTORY else Basis.CONSENT,
        category=_CATEGORY_OF_TOPIC[topic],
        area=rng.choice([None, *Area]),
        # Half the samples carry an opaque sealed box, so both union branches are exercised.
        sealed=SealedBox(rng.randbytes(48)) if rng.random() < 0.5 else None,
    )


def sample_event(name: str, seed: int = 0, child_id: uuid.UUID | None = None) -> Event:
    """One synthetic event of the named type; the same (name, seed) gives the same event."""
    rng = random.Random(f"{name}:{seed}")
    cls = EVENT_TYPES[name]
    hints = typing.get_type_hints(cls)
    values = {f.name: _value(hints[f.name], f.name, rng) for f in fields(cls) if f.name != "envelope"}
    return cls(envelope=sample_envelope(name, rng, child_id), **values)


def one_of_each(seed: int = 0) -> list[Event]:
    return [sample_event(name, seed) for name in sorted(EVENT_TYPES)]


# -- facts and consents with a chosen scope, for the gate's tests and benchmarks --------------

FACT_NAMESPACE = uuid.UUID("6a1d2f0e-3b4c-4e5f-8a9b-0c1d2e3f4a5b")
# One event type per (category, basis), so a caller can ask for any combination.
_EVENT_OF = {
    (Category.HEALTH, Basis.CONSENT): "HealthVisitRecorded",
    (Category.SCHOOL, Basis.CONSENT): "AbsenceSummarised",
    (Category.SOCIAL, Basis.CONSENT): "InvestigationOpened",
    (Category.SOCIAL, Basis.STATUTORY): "ReportOfConcernReceived",
    (Category.HEALTH, Basis.DIRECTORY): "HealthUnitListed",
    (Category.SCHOOL, Basis.DIRECTORY): "SchoolPlacementStarted",
}
_TEMPLATES: dict[str, Event] = {}


def scoped_fact(child: uuid.UUID, n: int, org: str, category: Category, area: Area | None, basis: Basis) -> Event:
    """A source fact about ``child`` from ``org``; ``n`` makes its (deterministic) event id."""
    name = _EVENT_OF[(category, basis)]
    template = _TEMPLATES.setdefault(name, sample_event(name, seed=1))
    env = replace(template.envelope, event_id=uuid.uuid5(FACT_NAMESPACE, f"{child}|{n}"), child_id=child,
                  basis=basis, category=category, area=area, sealed=None,
                  source=Source("sample", org, f"r{n}", "1"))
    return replace(template, envelope=env)


def scoped_grant(child: uuid.UUID, consent_id: uuid.UUID, categories: Iterable[Category], recipients: Iterable[str],
                 valid_from: dt.datetime, valid_to: dt.datetime, orgs: Iterable[str] | None = None,
                 areas: Iterable[Area] | None = None, grantors: Iterable[Grantor] | None = None) -> ConsentGranted:
    """A consent for ``child`` with the given scope, registered at ``valid_from``, granted by
    ``grantors`` -- by default one synthetic guardian (``scoped_guardian``), which the consent
    rules accept only if the child's register lists that guardian, or nothing of the child."""
    template = sample_event("ConsentGranted", seed=1, child_id=child)
    env = replace(template.envelope, event_id=uuid.uuid5(FACT_NAMESPACE, f"grant|{consent_id}"), sealed=None,
                  occurred_at=valid_from, recorded_at=valid_from)
    given = (Grantor(scoped_guardian(child), GrantorRole.GUARDIAN),) if grantors is None else tuple(grantors)
    return replace(template, envelope=env, consent_id=consent_id, categories=tuple(sorted(categories)),
                   recipients=tuple(sorted(recipients)), valid_from=valid_from, valid_to=valid_to,
                   source_organisations=None if orgs is None else tuple(sorted(orgs)),
                   areas=None if areas is None else tuple(sorted(areas)), grantors=given)


def scoped_guardian(child: uuid.UUID) -> uuid.UUID:
    """The synthetic guardian ``scoped_grant`` names by default."""
    return uuid.uuid5(FACT_NAMESPACE, f"guardian|{child}")


def scoped_register(child: uuid.UUID, at: dt.datetime, age_years: int = 10) -> list[Event]:
    """What the population register says of ``child`` for ``scoped_grant``'s default consent to
    be in force: born ``age_years`` before ``at``, in the custody of ``scoped_guardian`` alone.
    The gate holds every consent of a child until register facts like these support it."""
    born = (at - dt.timedelta(days=round(365.25 * age_years))).date()
    out: list[Event] = []
    for name, values in (("ChildRegistered", {"birth_date": born, "municipality_code": "0780"}),
                         ("CustodyRecorded", {"guardian_ids": (scoped_guardian(child),), "recorded_on": at.date()})):
        template = _TEMPLATES.setdefault(name, sample_event(name, seed=1))
        env = replace(template.envelope, event_id=uuid.uuid5(FACT_NAMESPACE, f"{name}|{child}"), child_id=child,
                      basis=Basis.DIRECTORY, category=Category.POPULATION, area=None, sealed=None,
                      occurred_at=at, recorded_at=at, source=Source("sample", "navet", f"{name}|{child}", "1"))
        out.append(replace(template, envelope=env, **values))
    return out


def scoped_withdrawal(child: uuid.UUID, consent_id: uuid.UUID, at: dt.datetime) -> ConsentWithdrawn:
    template = sample_event("ConsentWithdrawn", seed=1, child_id=child)
    env = replace(template.envelope, event_id=uuid.uuid5(FACT_NAMESPACE, f"withdraw|{consent_id}"), occurred_at=at,
                  sealed=None)
    return replace(template, envelope=env, consent_id=consent_id)
