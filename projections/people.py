"""The people the web service has seen log in (``people``): a user's display name as their
token gave it, with their role and organisation, so the auditors' pages can say who someone is
instead of showing a login subject.

Staff in their working role, never children: kept in clear, one row per subject, the latest
token's values. Only the table is defined here (no I/O); ``services.api.people`` fills and reads it.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Table

from projections.tables import metadata

SUBJECT_LENGTH = 200
NAME_LENGTH = 200

people = Table(
    "people",
    metadata,
    Column("subject", String(SUBJECT_LENGTH), primary_key=True),  # the token's ``sub``
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("role", String(32), nullable=False),
    Column("organisation_id", String(64), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),  # when these values were last stored
)
