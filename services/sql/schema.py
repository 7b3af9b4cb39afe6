"""SQL tables owned by the runtime: key store, identity registry, connector checkpoints, and the
consents the web service accepted that the read model does not hold yet.

These Core definitions are the model that ``services/sql/migrations`` must reproduce exactly; a
test compares a migrated database against this ``metadata`` so the two cannot drift apart.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, LargeBinary, String, Table, Text, func

import projections.audit_store  # noqa: F401 - registers the audit tables on the shared metadata
import projections.people  # noqa: F401 - registers the people table (issue 16) on the shared metadata
import projections.read_model  # noqa: F401 - registers the read-model tables on the shared metadata
from projections.tables import CHILD_ID_LENGTH, metadata

HMAC_HEX_LENGTH = 64  # HMAC-SHA256 as hex

child_keys = Table(
    "child_keys",
    metadata,
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True),
    # The child's data key, AES-256-GCM-wrapped under the master key; never stored in clear.
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# A tombstone makes erasure final: no key may ever be created again for this child.
erased_children = Table(
    "erased_children",
    metadata,
    Column("child_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("reason_code", String(64), nullable=True),
)

# Source identities -> child_id (DESIGN §5). A handle is a personnummer, or a source-local
# pregnancy reference for an unborn child; a born child keeps its unborn id, so one child may
# have several handles. Lookup is by HMAC-SHA256 under the county secret; the handle itself is
# kept only sealed with the child's own key, so erasing the child shreds it too.
identity_handles = Table(
    "identity_handles",
    metadata,
    Column("handle_hmac", String(HMAC_HEX_LENGTH), primary_key=True),
    Column("child_id", String(CHILD_ID_LENGTH), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # PERSONNUMMER or PREGNANCY
    Column("handle_sealed", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Two ids found to be one child (an unborn child's id and the id its personnummer got first):
# the merged id's handles now point at the surviving one. ``announced_at`` is set once a
# connector runner has published ``ChildIdentitiesMerged``; until then a runner claims it for a
# while (``claimed_at``) and announces it (the event id is deterministic, so a repeat after a
# crash is one event downstream).
identity_links = Table(
    "identity_links",
    metadata,
    Column("merged_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("surviving_id", String(CHILD_ID_LENGTH), nullable=False, index=True),
    Column("linked_at", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=True),  # a runner is announcing it (a lease)
    Column("announced_at", DateTime(timezone=True), nullable=True),
)

# The people sources name for their organisations (a school unit's principal, from SS 12000
# duties): staff in their public role, not children, so kept in clear. Replaced whole per source.
organisation_contacts = Table(
    "organisation_contacts",
    metadata,
    Column("source", String(32), primary_key=True),
    Column("organisation_id", String(64), primary_key=True),
    Column("role", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("since", Date, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Where each connector resumes: written only after the events before it were acknowledged.
connector_checkpoints = Table(
    "connector_checkpoints",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# A connector's running totals and health, beside its checkpoint (``services.ingest.status``).
connector_status = Table(
    "connector_status",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("records_read", BigInteger, nullable=False, server_default="0"),
    Column("events_published", BigInteger, nullable=False, server_default="0"),
    Column("dead_letters", Text, nullable=False, server_default="{}"),  # JSON: error type -> count
    Column("retries", BigInteger, nullable=False, server_default="0"),
    Column("last_poll_at", DateTime(timezone=True), nullable=True),
    Column("last_error", String(300), nullable=True),
    Column("last_error_at", DateTime(timezone=True), nullable=True),
    Column("down_since", DateTime(timezone=True), nullable=True),
)

# Read your own writes (issue 14, rule 9): a consent the web service accepted (202) is shown as
# pending, and can be withdrawn, until the projector has it. Shared by every API replica through
# the database; a row goes once its consent is in the read model, or after an hour at the latest.
# Pending consents never count for access or visibility: only the gate puts a consent in force.
pending_consents = Table(
    "pending_consents",
    metadata,
    Column("consent_id", String(CHILD_ID_LENGTH), primary_key=True),
    Column("child_id", String(CHILD_ID_LENGTH), nullable=False, index=True),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
    # The published ConsentGranted as the hub's codec encodes it (Avro, as on the topic).
    Column("granted", LargeBinary, nullable=False),
    # When it was withdrawn through this service before the read model showed the withdrawal.
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
)

# Sessions that end (issue 17): a token revoked at logout, by its SHA-256 (the token itself is a
# credential), kept until it would have expired anyway; and a user whose every session an
# administrator ended, by the token subject: tokens issued before ``ended_at`` no longer count.
revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
)
ended_sessions = Table(
    "ended_sessions",
    metadata,
    Column("subject", String(200), primary_key=True),
    Column("ended_at", DateTime(timezone=True), nullable=False),
)

# Reports of concern (issue 19): the first time someone of an organisation opened a report, so the
# social services' inbox marks the reports nobody of theirs has read yet. No personal data.
concern_report_reads = Table(
    "concern_report_reads",
    metadata,
    Column("report_id", String(CHILD_ID_LENGTH), primary_key=True),  # the filed event's id, as in concern_reports
    Column("organisation_id", String(64), primary_key=True),
    Column("first_read_at", DateTime(timezone=True), nullable=False),
)
