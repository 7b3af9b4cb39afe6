"""The kinds of ``kronobarn worker`` (``--role``); no Faust here, so the CLI can name them cheaply."""

from __future__ import annotations

import enum

from services.settings import Settings


class Role(enum.StrEnum):
    """Which agents a worker runs. ``all`` is one kind of worker for everything; a hub under load
    runs ``gate`` and ``read`` workers instead (never beside ``all`` ones): Faust feeds every
    agent of a worker from one consumer, so a projector busy with a batch held the gate's
    records back too (intake → shared p50 ≈ 1.7 s at 1,000 facts/s beside it, 62 ms alone)."""

    ALL = "all"  # the consent gate, the projector and the audit projector
    GATE = "gate"  # the consent gate only
    READ = "read"  # the projector and the audit projector


def group_for(settings: Settings, role: Role) -> str:
    """The consumer group of a worker of ``role``. The gate keeps the hub's group, since its table's
    changelog topic is named after it; read workers keep their positions in the database."""
    return f"{settings.worker_group}-read" if role is Role.READ else settings.worker_group
