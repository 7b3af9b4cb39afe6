"""What the hub may show of a child as a person: its identity and address, still sealed, and
whether the population register protects them. A pure fold.

The read model keeps no plaintext identity (DESIGN §7): ``identity`` and ``address`` are the
sealed bytes of the population register's facts, exactly as they travelled, and the web
service opens them with the child's key at read time for a viewer entitled to see them. Once
the child is erased they open as ``ERASED``. The projector hands this fold its facts unopened
(``services.readmodel.engine``), so a ``SealedBox`` is what arrives here; anything else (an
opened or erased field) stores nothing.

Order: a newer registration replaces the identity, and the address follows the home
municipality's order (the fact's ``occurred_at``, then its event id), so a late fact never
overwrites a newer one. The guardians' names are those of the latest custody record, and
protection is the register's latest word, both by the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from schemas.events import ChildMoved, ChildRegistered, CustodyRecorded, Event, Protection, ProtectionRecorded
from schemas.sealing import SealedBox

Stamp = tuple[str, str]  # (occurred_at ISO, event id): the register's order, then a tie-break


@dataclass(frozen=True, slots=True)
class Person:
    identity: bytes | None = None  # sealed {personnummer, given_name, family_name}
    identity_at: Stamp | None = None
    address: bytes | None = None  # sealed {address, postal_code, town}
    address_at: Stamp | None = None
    guardians: bytes | None = None  # sealed {"guardian:<party id>": "given family"}
    guardians_at: Stamp | None = None
    protection: Protection = Protection.NONE
    protection_at: Stamp | None = None

    @property
    def protected(self) -> bool:
        return self.protection is not Protection.NONE


PERSON_FACTS = (ChildRegistered, ChildMoved, CustodyRecorded, ProtectionRecorded)


def _stamp(event: Event) -> Stamp:
    return event.envelope.occurred_at.isoformat(), str(event.event_id)


def _newer(stamp: Stamp, than: Stamp | None) -> bool:
    return than is None or stamp > than


def apply(person: Person, event: Event) -> Person:
    """Fold one population fact; a repeat or an older fact changes nothing."""
    stamp = _stamp(event)
    if isinstance(event, ProtectionRecorded):
        if not _newer(stamp, person.protection_at):
            return person
        return replace(person, protection=event.protection, protection_at=stamp)
    sealed = event.envelope.sealed
    box = sealed.ciphertext if isinstance(sealed, SealedBox) else None
    if isinstance(event, CustodyRecorded):
        if not _newer(stamp, person.guardians_at):
            return person
        return replace(person, guardians=box, guardians_at=stamp)
    if isinstance(event, ChildRegistered) and box is not None and _newer(stamp, person.identity_at):
        person = replace(person, identity=box, identity_at=stamp)
    if _newer(stamp, person.address_at):  # a move without an address leaves none, not the old one
        person = replace(person, address=box, address_at=stamp)
    return person
