"""Durable state under `<project>/.polpo/state.db`."""

from .journal import Journal
from .sqlite import Store, Tx

__all__ = ["Journal", "Store", "Tx"]
