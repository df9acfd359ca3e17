"""Getting data in and out: streaming importers, column mappings, exports.

>>> from engagekit.io import import_contacts, import_events, SHOPIFY_ORDERS, export_members

Imports read CSV, JSON Lines and Parquet (``engagekit[parquet]``) in chunks of ``chunk_size``
records, each chunk one atomic store batch; bad rows are reported with their line (docs/import-export.md).
"""

from . import parse
from .exporter import DEFAULT_MEMBER_FIELDS, LOG_FIELDS, export_contacts, export_log, export_members
from .formats import FormatError
from .importer import ImportRejected, ImportRejection, ImportReport, import_contacts, import_events
from .mapping import (
    ENGAGEKIT_CONTACTS,
    ENGAGEKIT_EVENTS,
    SHOPIFY_CUSTOMERS,
    SHOPIFY_ORDERS,
    Column,
    FieldError,
    Mapping,
    MappingError,
    col,
    derived,
)

__all__ = [
    "DEFAULT_MEMBER_FIELDS", "ENGAGEKIT_CONTACTS", "ENGAGEKIT_EVENTS", "LOG_FIELDS", "SHOPIFY_CUSTOMERS",
    "SHOPIFY_ORDERS", "Column", "FieldError", "FormatError", "ImportRejected", "ImportRejection",
    "ImportReport", "Mapping", "MappingError", "col", "derived", "export_contacts", "export_log",
    "export_members", "import_contacts", "import_events", "parse",
]
