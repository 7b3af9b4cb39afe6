"""Personnummer: validation and normalisation, and synthetic numbers for the stand-ins.

Synthetic numbers have a valid format and check digit and a birth number (serial) of 900-999;
every stand-in also marks its people as synthetic. The check digit is the Luhn digit over
YYMMDDNNN as Skatteverket specifies.
"""

from __future__ import annotations

import datetime as dt
import re

SYNTHETIC_SERIALS = range(900, 1000)
PATTERN = re.compile(r"^(\d{4})(\d{2})(\d{2})-?(\d{3})(\d)$")
BAD_FORMAT = "not a 12-digit personnummer (YYYYMMDD-NNNC)"
BAD_CHECK = "check digit does not match"


class PersonnummerError(ValueError):
    """The value is not a valid personnummer; the message never repeats the value."""


def luhn_digit(nine_digits: str) -> int:
    total = 0
    for i, ch in enumerate(nine_digits):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


def make(birth_date: dt.date, serial: int) -> str:
    """YYYYMMDD-NNNC for a synthetic person; ``serial`` must be in ``SYNTHETIC_SERIALS``."""
    if serial not in SYNTHETIC_SERIALS:
        raise ValueError("synthetic serials are 900-999")
    body = f"{birth_date:%y%m%d}{serial:03d}"
    return f"{birth_date:%Y%m%d}-{serial:03d}{luhn_digit(body)}"


def normalise(value: str) -> str:
    """Canonical YYYYMMDD-NNNC, or ``PersonnummerError``. Used before hashing for identity."""
    m = PATTERN.match(value.strip())
    if not m:
        raise PersonnummerError(BAD_FORMAT)
    year, month, day, serial, check = m.groups()
    try:
        dt.date(int(year), int(month), int(day))
    except ValueError:
        raise PersonnummerError(BAD_FORMAT) from None
    if luhn_digit(f"{year[2:]}{month}{day}{serial}") != int(check):
        raise PersonnummerError(BAD_CHECK)
    return f"{year}{month}{day}-{serial}{check}"


def birth_date_of(value: str) -> dt.date:
    norm = normalise(value)
    return dt.date(int(norm[:4]), int(norm[4:6]), int(norm[6:8]))
