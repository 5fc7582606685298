"""The records that cross module boundaries. All frozen; none is a bare dict or tuple."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

Scalar = str | int | float | bool


@dataclass(frozen=True, eq=False)
class Article:
    """One article as read from a source, text already cleaned.

    ``lang`` and ``date`` come from the source's metadata when it has them; a missing ``lang``
    is detected during ingest. ``date`` is ISO ``YYYY-MM-DD``. ``path`` is the resolved file the
    article came from (used by ``--prune``), or for a page read by ``newsrag sync`` its
    canonical URL (never pruned); ``line`` the line or row inside record files.
    ``extra`` keeps the source's other fields as metadata.
    """

    id: str
    text: str
    title: str = ""
    lang: str | None = None
    date: str | None = None
    url: str | None = None
    source: str | None = None
    path: str = ""
    line: int | None = None
    extra: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class Problem:
    """Something in the input that could not be used; the rest of the input still is.

    With ``warning`` the input WAS used, and this says what to check (a file read as
    Windows-1252 because it was not UTF-8).
    """

    path: str
    reason: str
    line: int | None = None
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class Chunk:
    """A span of an article: ``text == article.text[start:end]``.

    ``embed_text`` is what the embedding model sees (a short title/date header plus the span);
    ``text`` is what a citation shows.
    """

    id: str
    article_id: str
    n: int
    start: int
    end: int
    text: str
    embed_text: str


def chunk_id(article_id: str, n: int) -> str:
    return f"{article_id}:{n}"


def date_number(iso: str | None) -> int | None:
    """``"2017-04-05"`` -> ``20170405``: Chroma range filters compare numbers only."""
    if not iso:
        return None
    d = date.fromisoformat(iso[:10])
    return d.year * 10000 + d.month * 100 + d.day


@dataclass(frozen=True)
class Filters:
    """What a person can restrict a search to. Dates are ISO ``YYYY-MM-DD``, inclusive."""

    lang: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    source: str | None = None

    def is_empty(self) -> bool:
        return not (self.lang or self.date_from or self.date_to or self.source)


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with everything a citation needs. Higher ``score`` is better."""

    chunk_id: str
    article_id: str
    text: str
    start: int
    end: int
    title: str
    date: str | None
    lang: str
    source: str | None
    url: str | None
    story_id: str | None
    score: float
    dense: float | None = None  # cosine to the question's own vector (never the moved one)
    lexical: float | None = None
    also_in: tuple[str, ...] = ()  # languages the same story is also available in


@dataclass(frozen=True)
class Citation:
    """One ``[n]`` of an answer: the passage it points to, quoted exactly.

    ``quote`` is ``article text[start:end]``; ``highlight`` is the span (relative to the
    quote) of the sentence that supports the claim, when one was identified.
    """

    n: int
    article_id: str
    chunk_id: str
    title: str
    date: str | None
    url: str | None
    lang: str
    source: str | None
    quote: str
    start: int
    end: int
    highlight: tuple[int, int] | None = None
    also_in: tuple[str, ...] = ()


@dataclass(frozen=True)
class Turn:
    """The result of one question: what the CLI, the web chat and the API all render."""

    question: str
    query: str  # the standalone query actually searched (follow-ups are rewritten)
    lang: str  # the language the answer is in
    answer: str  # with [n] markers that match ``citations``
    citations: tuple[Citation, ...]
    mode: str  # "extractive", "llm:<model>", or "refusal"
    refused: bool
    passages: tuple[Passage, ...]  # what the answerer was given, in [n] order
    filters: Filters = Filters()
    timings: Mapping[str, float] = field(default_factory=dict)
    # why it was refused (rag.chat.Refusal.reason): no_passages, unmentioned, untimely,
    # low_support, answerer; None when answered
    refusal: str | None = None


@dataclass(frozen=True)
class Message:
    """One line of a conversation's history."""

    role: str  # "user" or "assistant"
    content: str
