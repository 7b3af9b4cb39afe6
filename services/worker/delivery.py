"""The delivery of reports of concern as a task of a worker that reads (``services.reports.delivery``).

It is a plain consumer beside Faust's agents, in a group of its own: a register that keeps the
delivery waiting then holds back no other agent's records.
"""

from __future__ import annotations

import asyncio

import faust
import structlog
from sqlalchemy import Engine

from schemas.codec import Codec
from services.county import county_directory_path, load_county_directory
from services.reports.delivery import Delivery, Registers
from services.settings import Settings

log = structlog.get_logger(__name__)


def register_delivery(app: faust.App, settings: Settings, sealing: Codec, engine: Engine) -> None:
    registers = Registers.from_settings(settings)
    if not registers.configured:
        log.info("delivery.off", hint="set KRONOBARN_SOCIAL_REGISTER_URL: reports of concern wait on statutory.social")
        return
    delivery = Delivery(settings, sealing, registers, engine, load_county_directory(county_directory_path(settings)),
                        assess_every_s=settings.report_assess_every_s)
    stop = asyncio.Event()

    @app.task
    async def deliver_reports() -> None:
        await delivery.run(stop)

    @app.on_before_shutdown.connect
    async def stop_delivering(_app: faust.App, **_kwargs: object) -> None:
        stop.set()
