"""Streamed answers: a body written piece by piece, for exports too large to hold at once.

A handler returns a :class:`Stream` (an iterable of ``bytes`` or ``str`` pieces and
its content type) instead of a value; the router answers it as is, without the JSON
envelope, and sends each piece as the iterable yields it (chunked transfer), so a
handler that pages through Firestore and yields as it goes never holds the whole
answer in memory. A route that streams declares the media types it can answer with
as ``response=Streamed(...)``, which is what its OpenAPI document lists.

The first piece is taken before the answer starts: whatever fails before anything
was produced (the account does not exist, a query is refused) is still answered as
a problem document with its status. Once the status line is out no problem document
can follow: a failure later is logged (``http.stream_failed``) and the connection
ends without the last chunk, so a client sees a broken transfer, never a short file
that looks whole. The access log line is written when the answer starts, so its
duration does not include the time the body takes to send.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.logger import get_logger

_log = get_logger("shared.http")


@dataclass(frozen=True, slots=True)
class Streamed:
    """A route's declaration that it streams: media type -> what its body is."""

    media_types: Mapping[str, str]

    def __post_init__(self) -> None:
        if not self.media_types:
            raise ValueError("a streamed route names at least one media type")


@dataclass(slots=True)
class Stream:
    """A handler's streamed answer: pieces of the body, in order, and its type.

    ``filename`` adds ``Content-Disposition: attachment``, so a browser saves the
    body under that name instead of showing it.
    """

    pieces: Iterable[bytes | str]
    content_type: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    filename: str | None = None

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.filename is not None:
            safe = "".join(c for c in self.filename if c.isalnum() or c in "._-") or "export"
            headers["Content-Disposition"] = f'attachment; filename="{safe}"'
        # Intermediaries must not buffer or transform an export on its way.
        headers.setdefault("Cache-Control", "no-store")
        headers.setdefault("X-Accel-Buffering", "no")
        return headers

    def started(self) -> Iterator[bytes]:
        """The body as bytes, with its first piece already produced (see the module)."""
        pieces = iter(self.pieces)
        first = _encoded(next(pieces, b""))
        return _continue(first, pieces)


def _encoded(piece: bytes | str) -> bytes:
    return piece.encode("utf-8") if isinstance(piece, str) else piece


def _continue(first: bytes, rest: Iterator[bytes | str]) -> Iterator[bytes]:
    if first:
        yield first
    try:
        for piece in rest:
            encoded = _encoded(piece)
            if encoded:
                yield encoded
    except Exception:
        _log.exception("http.stream_failed")
        raise
    finally:
        close: Any = getattr(rest, "close", None)
        if callable(close):
            close()
