"""engagekit: e-commerce contact segmentation on any store.

>>> from engagekit import MemoryStore, Contact, ordered, last
>>> store = MemoryStore(currency="PLN")
>>> store.add_contacts([Contact(id="c1", created_at="2026-01-01T00:00:00+00:00")]).added
1
>>> store.members(~ordered(within=last(days=30)), at="2026-06-30T12:00:00+00:00")
frozenset({'c1'})
"""

from .campaigns import CampaignResult, CampaignResults, compare
from .errors import (
    BatchRejected,
    EngagekitError,
    InvalidContact,
    InvalidEvent,
    InvalidFilter,
    InvalidInstant,
    InvalidRecord,
    InvalidTables,
    SchemaVersionError,
    SegmentCycle,
    SegmentInUse,
    StoreUnavailable,
    UnknownContact,
    UnknownSegment,
    UnsupportedFilter,
)
from .explain import Explanation, Preview
from .filters import (
    AttributeRef,
    Filter,
    added_to_cart,
    all_of,
    any_of,
    aov,
    attr,
    blocked,
    city,
    clicked,
    country,
    engaged,
    everyone,
    gender,
    has_email,
    has_phone,
    in_segment,
    joined,
    language,
    opened,
    ordered,
    received,
    spent,
    status,
    subscribed,
    subscribed_via,
    tag,
    unengaged,
    viewed,
)
from .live import Campaign, LiveEngine, LogEntry, Segment
from .metrics import Metrics
from .model import Contact, Event, EventType, Item
from .reports import Dashboard, DashboardGroup, LoadReport, Rejection, SegmentReport, SegmentReportRow
from .stores.base import Store
from .stores.memory import MemoryStore
from .time import Instant, Window, before, between, ever, last

__version__ = "0.1.0"

__all__ = [
    "Campaign", "LiveEngine", "LogEntry", "Segment",  # SPEC §6 (live/)
    "CampaignResults", "SegmentReport", "SegmentReportRow",  # issue #10 (campaigns.py, reports.py)
    "AttributeRef", "BatchRejected", "CampaignResult", "Contact", "Dashboard", "DashboardGroup", "EngagekitError",
    "Event", "EventType", "Explanation", "Filter", "Instant", "InvalidContact", "InvalidEvent", "InvalidFilter",
    "InvalidInstant", "InvalidRecord", "Item", "LoadReport", "MemoryStore", "Metrics", "Preview", "Rejection",
    "InvalidTables", "SchemaVersionError", "SegmentCycle", "SegmentInUse", "Store", "StoreUnavailable",
    "UnknownContact", "UnknownSegment", "UnsupportedFilter", "Window", "added_to_cart", "all_of",
    "any_of", "aov", "attr", "before", "between", "blocked", "city", "clicked", "compare", "country", "engaged",
    "ever", "everyone", "gender", "has_email", "has_phone", "in_segment", "joined", "language",
    "last", "opened", "ordered", "received", "spent", "status", "subscribed", "subscribed_via",
    "tag", "unengaged", "viewed",
]
