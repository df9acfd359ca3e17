"""Dynamic segments (SPEC §6): saved segments, campaigns, the membership log and the live engine."""

from engagekit.live.engine import LiveEngine
from engagekit.live.segments import Campaign, LogEntry, Segment

__all__ = ["Campaign", "LiveEngine", "LogEntry", "Segment"]
