"""A failed delivery is logged with its topic (``services.kafka.producer.delivery_watch``)."""

from __future__ import annotations

import asyncio

from aiokafka.errors import NotLeaderForPartitionError
from structlog.testing import capture_logs

from services.kafka.producer import delivery_watch


async def test_a_failed_delivery_is_logged_and_a_good_one_is_not() -> None:
    loop = asyncio.get_running_loop()
    failed, delivered, cancelled = loop.create_future(), loop.create_future(), loop.create_future()
    watch = delivery_watch("shared")
    with capture_logs() as logs:
        failed.set_exception(NotLeaderForPartitionError())
        delivered.set_result(object())
        cancelled.cancel()
        for future in (failed, delivered, cancelled):
            watch(future)
    assert logs == [{"event": "kafka.send_failed", "topic": "shared", "error_type": "NotLeaderForPartitionError",
                     "log_level": "error"}]
