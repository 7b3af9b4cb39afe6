"""Personnummer: validation and normalisation, and synthetic numbers for the stand-ins.

Synthetic numbers have a valid format and check digit and a birth number (serial) of 900-999;
every stand-in also marks its people as synthetic. The check digit is the Luhn digit over
YYMMDDNNN as Skatteverket specifies.

A samordningsnummer (coordination number) has the same form with 60 added to the day of birth;
it is an identity like a personnummer and is kept as written (day + 60). ``normalise`` takes
the 12-digit forms the source systems send; ``typed`` also takes what a person types: 10
digits, where the separator gives the century (``-`` or none: under 100 years old in the
current year; ``+``: 100 or older, as Skatteverket writes it from the year a person turns 100).
"""

from __future__ import annotations

import datetime as dt
import re

SYNTHETIC_SERIALS = range(900, 1000)
PATTERN = re.compile(r"^(\d{4})(\d{2})(\d{2})-?(\d{3})(\d)$")
TYPED = re.compile(r"^(\d{2})?(\d{2})(\d{2})(\d{2})([-+]?)(\d{3})(\d)$")
COORDINATION_DAY = 60  # a samordningsnummer's day of birth is the day + 60
BAD_FORMAT = "not a 12-digit personnummer (YYYYMMDD-NNNC)"
BAD_TYPED = "not a personnummer or samordningsnummer (10 or 12 digits: YYMMDD-NNNC or YYYYMMDD-NNNC)"
BAD_DATE = "the date of birth does not exist"
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


def _birth(year: int, month: str, day: str) -> dt.date:
    """The date of birth a personnummer (or, day + 60, a samordningsnummer) names."""
    d = int(day)
    try:
        return dt.date(year, int(month), d - COORDINATION_DAY if d > COORDINATION_DAY else d)
    except ValueError:
        raise PersonnummerError(BAD_DATE) from None


def _checked(year: int, month: str, day: str, serial: str, check: str) -> str:
    _birth(year, month, day)
    if luhn_digit(f"{year % 100:02d}{month}{day}{serial}") != int(check):
        raise PersonnummerError(BAD_CHECK)
    return f"{year:04d}{month}{day}-{serial}{check}"


def normalise(value: str) -> str:
    """Canonical YYYYMMDD-NNNC, or ``PersonnummerError``. Used before hashing for identity."""
    m = PATTERN.match(value.strip())
    if not m:
        raise PersonnummerError(BAD_FORMAT)
    year, month, day, serial, check = m.groups()
    return _checked(int(year), month, day, serial, check)


def typed(value: str, today: dt.date) -> str:
    """A personnummer or samordningsnummer as a person types it -- 10 or 12 digits, with or
    without ``-`` or ``+`` -- in the canonical form ``normalise`` gives, or ``PersonnummerError``.
    ``today`` (Swedish calendar day) places a 10-digit number in its century."""
    m = TYPED.match(value.strip())
    if not m:
        raise PersonnummerError(BAD_TYPED)
    century, yy, month, day, sign, serial, check = m.groups()
    if century is not None:
        year = int(century + yy)
    else:  # the latest year with these two digits, not after this one; + means a century earlier
        year = today.year - (today.year - int(yy)) % 100 - (100 if sign == "+" else 0)
    return _checked(year, month, day, serial, check)


def birth_date_of(value: str) -> dt.date:
    norm = normalise(value)
    return _birth(int(norm[:4]), norm[4:6], norm[6:8])
