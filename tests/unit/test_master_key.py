"""Where the key store's master key comes from, per environment."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from services.settings import Settings
from services.sql.keystore import MasterKeyError, _warn_dev_master_key, dev_master_key, master_key_from

KEY = bytes(range(32))


@pytest.fixture(autouse=True)
def fresh_warning() -> Iterator[None]:
    _warn_dev_master_key.cache_clear()
    yield
    _warn_dev_master_key.cache_clear()


def test_decodes_base64_from_settings() -> None:
    settings = Settings(master_key=base64.b64encode(KEY).decode())
    assert master_key_from(settings) == KEY


def test_dev_without_key_uses_the_fixed_dev_key_and_warns_once() -> None:
    with capture_logs() as logs:
        first = master_key_from(Settings(env="dev"))
        second = master_key_from(Settings(env="dev"))
    assert first == second == dev_master_key()
    assert len(first) == 32
    assert [entry["event"] for entry in logs] == ["dev_master_key_in_use"]


def test_production_without_key_refuses_to_start() -> None:
    with pytest.raises(MasterKeyError, match="KRONOBARN_MASTER_KEY"):
        master_key_from(Settings(env="production"))


def test_invalid_base64_is_rejected_without_echoing_it() -> None:
    with pytest.raises(MasterKeyError) as caught:
        master_key_from(Settings(master_key="not*base64*at*all!"))
    assert "not*base64" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_wrong_length_is_rejected() -> None:
    with pytest.raises(MasterKeyError, match="32 bytes"):
        master_key_from(Settings(master_key=base64.b64encode(b"short").decode()))


def test_settings_repr_masks_the_key() -> None:
    encoded = base64.b64encode(KEY).decode()
    assert encoded not in repr(Settings(master_key=encoded))
