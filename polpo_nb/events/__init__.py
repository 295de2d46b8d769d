"""The event stream: store-backed, globally ordered, glob-filtered."""

from .bus import EventBus, Subscription
from .filters import EventFilter
from .model import Event, format_event_id, parse_event_id

__all__ = ["Event", "EventBus", "EventFilter", "Subscription", "format_event_id", "parse_event_id"]
