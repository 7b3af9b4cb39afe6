"""Logging set-up: personal data never reaches the output, and production lines are JSON."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
import structlog

from services.logging import (
    HANDLER_NAME,
    PERSONAL_KEYS,
    REDACTED,
    configure_logging,
    looks_personal,
    redact_personal_data,
)
from services.settings import Settings

PNR = "201001012383"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def production_lines(**settings: str) -> tuple[io.StringIO, structlog.stdlib.BoundLogger]:
    stream = io.StringIO()
    configure_logging(Settings(env="production", **settings), stream=stream)
    return stream, structlog.get_logger("test")


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("key", [*PERSONAL_KEYS, "guardian_name", "civicNo", "home-address"])
def test_personal_keys_are_recognised(key: str) -> None:
    assert looks_personal(key)


@pytest.mark.parametrize("key", ["child_id", "event_id", "topic", "partition", "nameless_count"])
def test_id_keys_are_kept(key: str) -> None:
    assert not looks_personal(key)


def test_redaction_masks_top_level_and_nested_values() -> None:
    event = {
        "event": "fact_released",
        "child_id": "c-1",
        "personnummer": PNR,
        "source": {"system": "school", "civicNo": PNR},
        "guardians": [{"name": "Anna"}],
    }
    assert redact_personal_data(None, "info", event) == {
        "event": "fact_released",
        "child_id": "c-1",
        "personnummer": REDACTED,
        "source": {"system": "school", "civicNo": REDACTED},
        "guardians": [{"name": REDACTED}],
    }


def test_production_output_is_json_with_iso_utc_time_and_no_pii() -> None:
    stream, log = production_lines()
    log.info("child_registered", child_id="c-1", personnummer=PNR, sealed=b"\x01secret")
    [record] = records(stream)
    assert record["event"] == "child_registered"
    assert record["child_id"] == "c-1"
    assert record["level"] == "info"
    assert str(record["timestamp"]).endswith("Z")
    assert PNR not in stream.getvalue()
    assert "secret" not in stream.getvalue()


def test_standard_library_loggers_share_the_json_output() -> None:
    stream, _ = production_lines()
    logging.getLogger("some.library").info("upgrade %s", "0001")
    [record] = records(stream)
    assert record["event"] == "upgrade 0001"
    assert record["logger"] == "some.library"


def test_chatty_libraries_keep_only_warnings() -> None:
    stream, _ = production_lines()
    logging.getLogger("aiokafka.consumer").info("joined group")
    logging.getLogger("aiokafka.consumer").warning("rebalancing")
    assert [r["event"] for r in records(stream)] == ["rebalancing"]


def test_level_comes_from_settings() -> None:
    stream, log = production_lines(log_level="WARNING")
    log.info("quiet")
    log.warning("loud")
    assert [r["event"] for r in records(stream)] == ["loud"]


def test_console_format_in_dev() -> None:
    stream = io.StringIO()
    configure_logging(Settings(env="dev"), stream=stream)
    structlog.get_logger("test").info("started", child_id="c-1", name="Alva")
    output = stream.getvalue()
    assert "started" in output and "c-1" in output
    assert "Alva" not in output
    with pytest.raises(json.JSONDecodeError):
        json.loads(output)


def test_log_format_overrides_env() -> None:
    stream = io.StringIO()
    configure_logging(Settings(env="dev", log_format="json"), stream=stream)
    structlog.get_logger("test").info("started")
    assert records(stream)[0]["event"] == "started"


def test_configuring_twice_keeps_one_handler() -> None:
    stream, log = production_lines()
    configure_logging(Settings(env="production"), stream=stream)
    log.info("once")
    ours = [h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME]
    assert len(ours) == 1
    assert len(records(stream)) == 1


def test_import_has_no_side_effects() -> None:
    probe = (
        "import logging, structlog\n"
        "before = list(logging.getLogger().handlers)\n"
        "import services.logging\n"
        "assert not structlog.is_configured(), 'structlog configured at import'\n"
        "assert logging.getLogger().handlers == before, 'handlers added at import'\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
