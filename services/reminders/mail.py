"""The reminder mail: a count and a link, nothing else.

A mail leaves the hub's protection (it is stored and forwarded outside it, and read on phones),
so it carries no child's id, name or personnummer and none of a plan's text: only how many items
wait and where to log in to see them. The text is fixed Swedish; the count is its one variable.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

SUBJECT = "Barnens bästa gäller!: {count} {things} att göra"
BODY = """\
Hej!

Det finns {count} {things} att göra för er enhet i Barnens bästa gäller! i Kronoberg:
kallelser att svara på, möten den här veckan, uppföljningar, försenade insatser eller
orosanmälningar att kvittera.

Logga in och se listan:
{link}

Brevet skickas automatiskt och säger bara hur många saker som väntar. Det går inte att svara på.
"""


def things(count: int) -> str:
    return "sak" if count == 1 else "saker"


def page_link(public_url: str, page: str) -> str:
    return public_url.rstrip("/") + page


def reminder(to: str, sender: str, count: int, link: str, at: dt.datetime) -> EmailMessage:
    """The mail to one organisation's mailbox; ``count`` > 0 items wait behind ``link``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = SUBJECT.format(count=count, things=things(count))
    message["Date"] = format_datetime(at)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies back to the hub
    message.set_content(BODY.format(count=count, things=things(count), link=link))
    return message
