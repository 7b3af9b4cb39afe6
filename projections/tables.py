"""The one SQLAlchemy ``MetaData`` for every table the hub owns, and the read-model tables.

Runtime tables (``services.sql.schema``) and the read-model and audit tables (``projections``)
all hang off this ``metadata``, so one comparison against the migrated database
(``tests/integration/test_keystore.py``) keeps every migration honest. Defining tables does no
I/O: nothing connects at import time.
"""

from __future__ import annotations

from sqlalchemy import MetaData

CHILD_ID_LENGTH = 36  # canonical UUID text, e.g. "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

# Fixed constraint names, so migrations and reflection agree on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
