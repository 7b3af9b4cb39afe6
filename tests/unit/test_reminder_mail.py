"""The reminder mail carries a count and a link and nothing else; the county directory's
``reminder_email`` is an address or the file is refused at its line; the hub's public address."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.county import CountyDirectory, DirectoryFault, Municipality, Organisation, Region, is_email
from services.county import SYNTHETIC_COUNTY, DirectoryError, read_county_directory
from services.reminders.mail import page_link, reminder
from services.settings import Settings

AT = dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.UTC)
LINK = "https://barnensbasta.example/ui/att-gora"


@pytest.mark.parametrize(("count", "words"), [(1, "1 sak"), (2, "2 saker"), (17, "17 saker")])
def test_the_mail_says_how_many_and_where_and_nothing_else(count: int, words: str) -> None:
    mail = reminder("bvc.vaxjo@region.example", "kronobarn@hub.example", count, LINK, AT)
    body = mail.get_content()
    assert mail["To"] == "bvc.vaxjo@region.example" and mail["From"] == "kronobarn@hub.example"
    assert f"{words} att göra" in mail["Subject"] and f"{words} att göra" in body
    assert LINK in body and mail["Auto-Submitted"] == "auto-generated"
    # The count is the one variable: apart from the link, the only number in subject and body.
    assert set(re.findall(r"\d+", (mail["Subject"] + body).replace(LINK, ""))) == {str(count)}


def test_the_link_is_the_public_address_and_the_page() -> None:
    assert page_link("https://hub.example", "/ui/att-gora") == "https://hub.example/ui/att-gora"
    assert page_link("https://hub.example/", "/ui/att-gora") == "https://hub.example/ui/att-gora"
    assert Settings(_env_file=None, public_url="https://hub.example/").public_url == "https://hub.example"  # type: ignore[call-arg]
    for bad in ("hub.example", "ftp://hub.example", "https://hub example"):
        with pytest.raises(ValidationError, match="public_url"):
            Settings(_env_file=None, public_url=bad)  # type: ignore[call-arg]


@pytest.mark.parametrize("address", ["bvc.vaxjo@region.example", "elevhalsa+skola1@vaxjo.se", "a@b.se"])
def test_plain_addresses_are_addresses(address: str) -> None:
    assert is_email(address)


@pytest.mark.parametrize("address", ["", "bvc", "bvc@", "@region.se", "bvc@region", "two@at@region.se",
                                     "Anna <anna@region.se>", "bvc @region.se", "bvc@region.se\nBcc: x@y.se",
                                     "bvc@-region.se", "x" * 250 + "@a.se"])
def test_anything_else_is_not(address: str) -> None:
    assert not is_email(address)


def test_the_directory_refuses_a_reminder_email_that_is_no_address() -> None:
    region, m = Region("r", "R"), (Municipality("0780", "Växjö"),)
    bhv = Organisation("b", "BHV", "BVC", "0780", reminder_email="bvc@region.example")
    county = CountyDirectory(region, m, (bhv,))
    assert county.reminder_addresses() == {"b": "bvc@region.example"}
    with pytest.raises(DirectoryFault, match="not an e-mail address"):
        CountyDirectory(region, m, (Organisation("b", "BHV", "BVC", "0780", reminder_email="BVC Växjö"),))


def test_a_directory_file_with_a_bad_reminder_email_is_refused_at_its_line(tmp_path: Path) -> None:
    lines = [line for line in SYNTHETIC_COUNTY.read_text(encoding="utf-8").splitlines()
             if not line.startswith("reminder_email")]  # the synthetic county's own mailboxes left out
    at = lines.index('id = "SE2321000065-BHV0780"')
    lines.insert(at + 1, 'reminder_email = "bvc vaxjo"')
    path = tmp_path / "county.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DirectoryError, match=rf"^{re.escape(str(path))}:{at + 2}: .*not an e-mail address"):
        read_county_directory(path)
    lines[at + 1] = 'reminder_email = "bvc.vaxjo@region.example"'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_county_directory(path).reminder_addresses() == {"SE2321000065-BHV0780": "bvc.vaxjo@region.example"}
