"""What a download returns: the bytes, what they claim to be, and where they came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

__all__ = ["Downloaded"]


@final
@dataclass(frozen=True, slots=True)
class Downloaded:
    """A downloaded body: ``content_type`` is the media type without parameters (``image/png``),
    ``url`` the final URL after redirects (or the path as given, for a local file)."""

    data: bytes
    content_type: str
    url: str

    def __repr__(self) -> str:
        # The default would print every byte of the image.
        return f"Downloaded({len(self.data)} bytes, {self.content_type!r}, {self.url!r})"
