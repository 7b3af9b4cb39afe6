"""``kronobarn reminders send``: one mail per organisation that has a mailbox and something to do.

Every organisation of the county directory with a ``reminder_email`` gets its to-do list counted
(``services.api.todo.collect``, the page's own query) and, if anything waits, one mail
(``services.reminders.mail``) through the configured SMTP server, all over one connection. The
server is reached only when there is something to send. A server that cannot be reached stops
the run with its host and port; a mailbox it refuses is reported and the others still get theirs.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Engine

from schemas.codec import Codec
from schemas.county import CountyDirectory
from services.api.orgs import OrgDirectory
from services.api.todo import PAGE, collect
from services.reminders.mail import page_link, reminder
from services.settings import Settings

log = structlog.get_logger(__name__)

OFF = "reminders are off: KRONOBARN_SMTP_HOST is not set"
UNREACHABLE = "cannot reach the mail server {host}:{port}: {error}"
REFUSED = "the mail server {host}:{port} refused the reminder to {org}: {error}"
COUNTED = "{org}: {count} item(s) to do"
SENT = "sent {sent} reminder(s); {idle} organisation(s) with nothing to do; {failed} refused"


class ReminderError(Exception):
    """The mail server could not be reached or would not take us; nothing more was sent."""


@dataclass(frozen=True)
class Due:
    organisation_id: str
    address: str
    count: int


@dataclass
class Outcome:
    sent: list[str] = field(default_factory=list)  # organisation ids
    idle: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def due(engine: Engine, county: CountyDirectory, at: dt.datetime, codec: Codec | None = None) -> list[Due]:
    """Each organisation with a mailbox, and how many items wait on its to-do list at ``at``."""
    directory, codec = OrgDirectory.from_county(county), codec or Codec()
    return [Due(org, address, collect(engine, directory, codec, org, at).total)
            for org, address in county.reminder_addresses().items()]


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _connect(settings: Settings) -> smtplib.SMTP:
    host, port = settings.smtp_host or "", settings.smtp_port
    try:
        smtp = smtplib.SMTP(host, port, timeout=settings.smtp_timeout_s)
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_user, password)
    except (OSError, smtplib.SMTPException) as exc:
        raise ReminderError(UNREACHABLE.format(host=host, port=port, error=_why(exc))) from None
    return smtp


def send(settings: Settings, todo: Sequence[Due], at: dt.datetime,
         progress: Callable[[str], None] = lambda _: None) -> Outcome:
    """Mail each organisation in ``todo`` with a count above 0; ``ReminderError`` if the server
    cannot be reached (before the first mail or between two)."""
    if settings.smtp_host is None:
        raise ReminderError(OFF)
    outcome = Outcome(idle=[d.organisation_id for d in todo if d.count == 0])
    waiting = [d for d in todo if d.count > 0]
    if not waiting:
        return outcome
    link = page_link(settings.public_url, PAGE)
    host, port = settings.smtp_host, settings.smtp_port
    smtp = _connect(settings)
    try:
        for d in waiting:
            progress(COUNTED.format(org=d.organisation_id, count=d.count))
            try:
                smtp.send_message(reminder(d.address, settings.smtp_from, d.count, link, at))
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                outcome.refused.append(d.organisation_id)
                progress(REFUSED.format(host=host, port=port, org=d.organisation_id, error=_why(exc)))
                log.warning("reminders.refused", organisation_id=d.organisation_id, error=type(exc).__name__)
                continue
            except (OSError, smtplib.SMTPException) as exc:
                raise ReminderError(UNREACHABLE.format(host=host, port=port, error=_why(exc))) from None
            outcome.sent.append(d.organisation_id)
            log.info("reminders.sent", organisation_id=d.organisation_id, count=d.count)
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return outcome


def send_reminders(settings: Settings, engine: Engine, county: CountyDirectory, at: dt.datetime,
                   progress: Callable[[str], None] = lambda _: None) -> Outcome:
    """Count every mailbox's list, then mail those with something to do."""
    if settings.smtp_host is None:
        raise ReminderError(OFF)
    outcome = send(settings, due(engine, county, at), at, progress)
    progress(SENT.format(sent=len(outcome.sent), idle=len(outcome.idle), failed=len(outcome.refused)))
    return outcome
