"""A project: a directory with `.polpo/`, its store, event bus, engine and public API."""

from .aproject import AsyncProject
from .handles import RunHandle
from .sync import Project

__all__ = ["AsyncProject", "Project", "RunHandle"]
