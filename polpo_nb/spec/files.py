"""A project directory as the API shows it: listings and previews of its files."""

from __future__ import annotations

from pydantic import Field

from ._base import WireModel


class FileEntry(WireModel):
    name: str
    path: str = Field(description="Relative to the project root.")
    type: str = Field(description="`file` or `directory`.")
    size: int | None = None
    modified: str | None = None


class FileListing(WireModel):
    path: str
    entries: list[FileEntry]


class FilePreview(WireModel):
    path: str
    type: str = Field(description="`text`, `json`, `image`, `pdf`, `audio`, `video` or `binary`.")
    mime_type: str
    size: int
    content: str | None = Field(default=None, description="Text files: the first `maxLines` lines.")
    url: str | None = Field(default=None, description="Binary files: where `files/read` serves it.")
    truncated: bool = False
