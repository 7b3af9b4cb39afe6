"""What a viewer is shown of a child as a person (DESIGN §7): its name and personnummer, its
address, its guardians' names -- opened at read time, with the child's own key, from the read
model's sealed columns, which hold ciphertext only.

Who sees what (``identity_entitled``):

* A viewer who may see the child (any access ground, emergency access included) sees its name
  and personnummer, its address and its guardians' names -- on the pages that show them.
* A child with **protected personal data** (sekretessmarkering, skyddad folkbokföring): the
  name, the personnummer and the guardians' names only to the named person's organisation (from
  18 to 19, the organisation that was: ``young_person_org``) and the plan lead; every other
  viewer sees the child marked as protected and without them. The address and the municipality
  of residence are shown to no one, and an export carries none of these details, to anyone.
* Lists of children outside the viewer's circle (a municipality's gaps list) show no identity.

A child whose key was erased shows ``erased`` ("raderad"); bytes that cannot be opened show
nothing, and are logged by child id only.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
import uuid
from collections.abc import Collection
from dataclasses import dataclass

import structlog

from projections.consent_rules import age_on
from schemas.events import Protection
from schemas.sealing import Erased, KeyStore, Personal, Sealer, SealError
from services.api.models import AddressOut, GuardianOut, IdentityState, PersonOut
from services.api.store import ChildRow

log = structlog.get_logger(__name__)

IDENTITY, ADDRESS, GUARDIANS = "identity", "address", "guardians"  # also the access log's parts
PAGE = frozenset({IDENTITY, ADDRESS, GUARDIANS})  # the plan page and the JSON plan
FORMS = frozenset({IDENTITY, GUARDIANS})  # forms about the child, the consent page
LIST = frozenset({IDENTITY})  # lists and the personnummer lookup
EXPORT = frozenset({IDENTITY})  # the FHIR export: never of a protected child
GUARDIAN_KEY = "guardian:"  # CustodyRecorded's sealed key per guardian, "guardian:<party id>"


def is_protected(row: ChildRow) -> bool:
    return row.protection != Protection.NONE.value


def identity_entitled(viewer_org: str, row: ChildRow) -> bool:
    """For a viewer who may see the child: may they see its name, personnummer and guardians'
    names? Always, unless the child's personal data are protected; then only the named person's
    organisation (or, 18 to 19, the one that was) and the plan lead."""
    if not is_protected(row):
        return True
    return viewer_org in {o for o in (row.named_person_org, row.young_person_org, row.lead_org) if o is not None}


def municipality_shown(row: ChildRow) -> str | None:
    """The municipality of residence, unless the child is protected: then never."""
    return None if is_protected(row) else row.municipality_code


def age_of(row: ChildRow, today: dt.date) -> int | None:
    if row.unborn or row.birth_date is None:
        return None
    return age_on(row.birth_date, today)


class _OnePage:
    """The key store, each child's key looked up once for one page's boxes (identity, address,
    guardians); the next page looks again, so an erasure shows from the next read on."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        self._seen: dict[uuid.UUID, bytes | None] = {}

    def get(self, child_id: uuid.UUID) -> bytes | None:
        if child_id not in self._seen:
            self._seen[child_id] = self._keys.get(child_id)
        return self._seen[child_id]

    def get_or_create(self, child_id: uuid.UUID) -> bytes:
        raise NotImplementedError("opening only: nothing is sealed here")

    def erase(self, child_id: uuid.UUID) -> bool:
        raise NotImplementedError("opening only")

    def is_erased(self, child_id: uuid.UUID) -> bool:
        return self.get(child_id) is None and self._keys.is_erased(child_id)


def open_sealed(sealer: Sealer, child_id: uuid.UUID, sealed: bytes | None) -> Personal | Erased | None:
    if sealed is None:
        return None
    try:
        return sealer.open(child_id, sealed)
    except SealError:
        log.warning("api.identity_unreadable", child_id=str(child_id))
        return None


@dataclass(frozen=True)
class Shown:
    """What one page shows of one child as a person, and the access log's parts for it."""

    person: PersonOut
    address: AddressOut | None = None
    guardians: tuple[GuardianOut, ...] = ()

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(part for part, shown in ((IDENTITY, self.person.identity is IdentityState.SHOWN),
                                              (ADDRESS, self.address is not None),
                                              (GUARDIANS, bool(self.guardians))) if shown)


def shown(row: ChildRow, viewer_org: str | None, keys: KeyStore, asks: Collection[str] = PAGE, *,
          export: bool = False) -> Shown:
    """What ``viewer_org`` is shown of ``row``'s child on a page that ``asks`` for those parts;
    ``viewer_org`` None: a list outside the viewer's circle, which shows no identity."""
    protected = is_protected(row)
    sealer = Sealer(_OnePage(keys))
    if viewer_org is None or not asks:
        return Shown(PersonOut(identity=IdentityState.WITHHELD, protected=protected))
    if (protected and export) or not identity_entitled(viewer_org, row):
        return Shown(PersonOut(identity=IdentityState.PROTECTED, protected=protected))
    opened = open_sealed(sealer, row.child_id, row.sealed_identity) if IDENTITY in asks else None
    if isinstance(opened, Erased):
        return Shown(PersonOut(identity=IdentityState.ERASED, protected=protected))
    person = PersonOut(identity=IdentityState.MISSING, protected=protected)
    if isinstance(opened, Personal):
        f = opened.fields
        person = PersonOut(identity=IdentityState.SHOWN, protected=protected, personnummer=f.get("personnummer"),
                           given_name=f.get("given_name"), family_name=f.get("family_name"))
    address = None
    if ADDRESS in asks and not protected and not export:
        place = open_sealed(sealer, row.child_id, row.sealed_address)
        if isinstance(place, Personal) and place.fields.get("address"):
            address = AddressOut(address=place.fields.get("address"), postal_code=place.fields.get("postal_code"),
                                 town=place.fields.get("town"))
    guardians: tuple[GuardianOut, ...] = ()
    if GUARDIANS in asks and not export:
        names = open_sealed(sealer, row.child_id, row.sealed_guardians)
        if isinstance(names, Personal):
            guardians = tuple(guardians_named(names))
    return Shown(person, address, guardians)


def guardians_named(names: Personal) -> list[GuardianOut]:
    """The new form only ("guardian:<party id>" -> name); older records' keys show no name."""
    out = []
    for key, name in sorted(names.fields.items()):
        if not key.startswith(GUARDIAN_KEY) or not name:
            continue
        try:
            out.append(GuardianOut(party_id=uuid.UUID(key[len(GUARDIAN_KEY):]), name=name))
        except ValueError:
            continue
    return out


# -- names: search and order -----------------------------------------------------------------------

SWEDISH_LAST = {"å": "{", "ä": "|", "æ": "|", "ö": "}", "ø": "}"}  # after z, in the Swedish order
_WORDS = re.compile(r"[\s\-]+")


def swedish_key(text: str) -> str:
    """A sort key in the Swedish alphabet: case and other accents ignored, å ä ö after z."""
    out = []
    for ch in text.casefold():
        if ch in SWEDISH_LAST:
            out.append(SWEDISH_LAST[ch])
        else:
            out.append("".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c)))
    return "".join(out)


def _words(text: str) -> list[str]:
    return [w for w in _WORDS.split(swedish_key(unicodedata.normalize("NFKC", text))) if w]


def name_matches(person: PersonOut, query: str) -> bool:
    """Every word typed begins a word of the child's name (given or family), in any order."""
    if person.identity is not IdentityState.SHOWN:
        return False
    words = _words(f"{person.given_name or ''} {person.family_name or ''}")
    wanted = _words(query)
    return bool(wanted) and all(any(w.startswith(q) for w in words) for q in wanted)


class _Rank(enum.IntEnum):
    NAMED = 0
    UNNAMED = 1


def list_order(person: PersonOut, child_id: uuid.UUID) -> tuple[int, str, str, str]:
    """Children by family name, then given name, in the Swedish order; those whose name is not
    shown after them, by id."""
    if person.identity is IdentityState.SHOWN and (person.family_name or person.given_name):
        return (_Rank.NAMED, swedish_key(person.family_name or ""), swedish_key(person.given_name or ""),
                str(child_id))
    return (_Rank.UNNAMED, "", "", str(child_id))
