"""Splitting an asset into chunks: ~``size`` words each, consecutive chunks sharing ``overlap``
words, the title prefixed to the first chunk's embedded text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str        # the chunk's words, as stored and shown in snippets
    embedded: str    # what the model reads (the title prefixed to chunk 0)


def chunk(title: str, content: str, *, size: int = 400, overlap: int = 80) -> list[Chunk]:
    title = " ".join(title.split())
    words = content.split()
    if not words:
        return [Chunk(0, "", title)] if title else []
    step = size - overlap
    pieces = []
    start = 0
    while True:
        pieces.append(" ".join(words[start:start + size]))
        if start + size >= len(words):
            break
        start += step
    return [Chunk(i, piece, f"{title}\n{piece}" if i == 0 and title else piece) for i, piece in enumerate(pieces)]
