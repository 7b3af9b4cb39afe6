"""Retries while a source is down: the jittered, bounded backoff and the source's ``Retry-After``."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.http import retry_after
from services.ingest.runner import Backoff

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def reference_bounds(attempt: int, initial: float, factor: float, cap: float, after: float | None,
                     after_cap: float) -> tuple[float, float]:
    """Where a wait must fall: the exponential step, capped, of which at least half is waited;
    never less than a Retry-After (itself capped)."""
    step = min(cap, initial * factor ** (attempt - 1))
    low, high = step / 2, step
    if after is not None:
        floor = min(after, after_cap)
        low, high = max(low, floor), max(high, floor)
    return low, high


@given(attempt=st.integers(1, 40), initial=st.floats(0.01, 5), factor=st.floats(1, 4), cap=st.floats(0.01, 120),
       after=st.none() | st.floats(0, 10_000), draw=st.floats(0, 1))
def test_a_wait_is_jittered_within_its_step_and_never_below_retry_after(
        attempt: int, initial: float, factor: float, cap: float, after: float | None, draw: float) -> None:
    backoff = Backoff(initial_s=initial, max_s=cap, factor=factor, uniform=lambda a, b: a + (b - a) * draw)
    low, high = reference_bounds(attempt, initial, factor, cap, after, backoff.retry_after_max_s)
    assert low - 1e-9 <= backoff.delay(attempt, after) <= high + 1e-9


def test_two_connectors_that_lost_the_source_together_do_not_come_back_together() -> None:
    waits = {Backoff(initial_s=1, max_s=30).delay(6) for _ in range(50)}
    assert len(waits) > 40 and all(15 <= w <= 30 for w in waits)


@pytest.mark.parametrize(("header", "expected"), [
    ("120", 120.0), (" 5 ", 5.0), ("0", 0.0),
    ("Sun, 06 Dec 2026 12:01:30 GMT", 90.0),  # an HTTP date
    ("Sun, 06 Dec 2026 11:59:00 GMT", 0.0),  # already past
    (None, None), ("", None), ("soon", None), ("-5", None), ("1.5", None),  # delay-seconds is a whole number
])
def test_retry_after_is_read_as_rfc_9110_writes_it(header: str | None, expected: float | None) -> None:
    assert retry_after(header, NOW) == expected
