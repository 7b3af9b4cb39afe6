"""Bench result rows, their table, and their JSON record."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from services.dev.bench.cpu import describe
from services.readmodel.replay import usable_cores

RESULTS_DIR = Path("var") / "bench"


@dataclass(frozen=True, slots=True)
class Row:
    measure: str
    baseline: str
    baseline_rate: float
    candidate: str
    candidate_rate: float
    target: float | None = None  # minimum ratio, or None when only reported
    unit: str = "events/s"

    @property
    def ratio(self) -> float:
        return self.candidate_rate / self.baseline_rate if self.baseline_rate else 0.0

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "reported"
        return "meets target" if self.ratio >= self.target else "BELOW TARGET"


@dataclass(frozen=True, slots=True)
class Latency:
    """A latency distribution at a fixed offered rate, against an absolute p99 target."""

    measure: str
    rate: float  # offered events (or requests) per second
    samples: int
    p50_ms: float
    p99_ms: float
    target_p99_ms: float
    # Cores each process used while the load was offered (``bench.cpu``), where measured.
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "meets target" if self.p99_ms <= self.target_p99_ms else "ABOVE TARGET"


def print_latencies(title: str, rows: list[Latency], console: Console | None = None) -> None:
    console = console or wide_console()
    table = Table(title=title)
    for col in ("measure", "offered rate", "samples", "p50", "p99", "target p99", "verdict"):
        table.add_column(col, justify="left" if col in {"measure", "verdict"} else "right")
    for r in rows:
        table.add_row(r.measure, f"{r.rate:,.0f}/s", f"{r.samples:,}", f"{r.p50_ms:,.1f} ms", f"{r.p99_ms:,.1f} ms",
                      f"≤ {r.target_p99_ms:,.0f} ms", r.verdict)
    console.print(table)
    for r in rows:
        if r.cpu:
            console.print(f"{r.measure.split(',')[0]}: CPU while offered, {describe(r.cpu, usable_cores())}")


def print_table(title: str, rows: list[Row], console: Console | None = None) -> None:
    console = console or wide_console()
    table = Table(title=title)
    for col in ("measure", "baseline", "rate", "kronobarn", "rate", "ratio", "target", "verdict"):
        table.add_column(col, justify="right" if col in {"rate", "ratio", "target"} else "left")
    for r in rows:
        table.add_row(
            r.measure,
            r.baseline,
            f"{r.baseline_rate:,.0f}",
            r.candidate,
            f"{r.candidate_rate:,.0f}",
            f"{r.ratio:.2f}×",
            "—" if r.target is None else f"≥ {r.target:.1f}×",
            r.verdict,
        )
    console.print(table)


def wide_console() -> Console:
    """Rich wraps to 80 columns when output is not a terminal (CI logs); tables need more."""
    console = Console()
    return console if console.is_terminal else Console(width=140)


def save(rows: list[Row], meta: dict[str, object], directory: Path = RESULTS_DIR,
         latencies: list[Latency] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "LATEST.json"
    record = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "cpus": usable_cores()},
        **meta,
        "rows": [asdict(r) | {"ratio": r.ratio, "verdict": r.verdict} for r in rows],
        "latencies": [asdict(r) | {"verdict": r.verdict} for r in latencies or []],
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path

