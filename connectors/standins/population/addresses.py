"""Synthetic home addresses for the population stand-in: a street, a postal code and a town in
the child's municipality, deterministic per child and per home (the registration, then each move).

A statistical knob of the simulator, like the county's shares: the hub never needs these towns
or postal code areas; it only carries the register's address sealed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from connectors.standins.county import County

# Municipality code -> (town, the first digits of its postal codes). Kronoberg's eight, and the
# municipalities outside the county that children move to (``county.OUTSIDE_CODES``).
TOWNS: dict[str, tuple[str, str]] = {
    "0760": ("Åseda", "364"),
    "0761": ("Lessebo", "360"),
    "0763": ("Tingsryd", "362"),
    "0764": ("Alvesta", "342"),
    "0765": ("Älmhult", "343"),
    "0767": ("Markaryd", "285"),
    "0780": ("Växjö", "35"),
    "0781": ("Ljungby", "341"),
    "0680": ("Jönköping", "55"),
    "0880": ("Kalmar", "39"),
    "1280": ("Malmö", "21"),
    "1380": ("Halmstad", "30"),
}
STREETS = ("Storgatan", "Björkvägen", "Skolgatan", "Kyrkogatan", "Ekvägen", "Linnégatan", "Sjövägen",
           "Granvägen", "Ängsvägen", "Järnvägsgatan", "Tallvägen", "Bokvägen", "Hagagatan", "Parkvägen")


@dataclass(frozen=True, slots=True)
class Address:
    street: str  # street and number, e.g. "Björkvägen 12"
    postal_code: str  # five digits as written, e.g. "352 36"
    town: str

    def fields(self) -> dict[str, str]:
        """The change's fields for this address (the connector's sealed keys)."""
        return {"address": self.street, "postal_code": self.postal_code, "town": self.town}


def address(county: County, index: int, home: int, municipality_code: str) -> Address:
    """Child ``index``'s ``home``-th address (0: at registration, n: after its n-th move)."""
    rng = random.Random(f"{county.seed}:address:{index}:{home}")
    town, prefix = TOWNS.get(municipality_code) or (county.directory.municipality_name(municipality_code)
                                                    or "Orten", "3")
    digits = prefix + "".join(str(rng.randrange(10)) for _ in range(5 - len(prefix)))
    return Address(f"{rng.choice(STREETS)} {rng.randrange(1, 80)}", f"{digits[:3]} {digits[3:]}", town)
