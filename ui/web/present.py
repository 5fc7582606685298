"""Turns, citations, passages and articles as the JSON the web API and the chat page send.

Links follow one rule (docs/web-contract.md): an article's own ``url`` is a link only when it
is http(s); otherwise the link is our article page with the passage marked. Any other scheme
(``javascript:``, ``data:``, ``file:``) is never emitted as a URL.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import quote, urlsplit

from app.status import ArchiveStatus, SourceState, SyncRun, SyncStatus
from ingest.registry import format_every
from rag.archive.manifest import ArticleRecord
from rag.types import Citation, Filters, Passage, Turn

STATUS_PROBLEMS = 20  # per source in /api/status (`newsrag sources list --json` has them all)


def safe_link(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL with a host, else None."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ch in url for ch in "\x00\r\n\t\"'<> "):
        return None  # never valid in a URL; keeps the value inert inside HTML attributes
    return url


# an HTML element that runs or embeds something, with what it holds
_ACTIVE = re.compile(
    r"<(script|style|iframe|object|embed|template|noscript|svg|math)\b.*?(?:</\1\s*>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_TAG = re.compile(r"<!--.*?(?:-->|\Z)|</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^>]*)?/?>", re.DOTALL)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*)>")  # CommonMark: any scheme
_LINK_TARGET = re.compile(r"\]\(\s*<?([^\s)>]*)")  # [text](target…
_REFERENCE = re.compile(r"^( {0,3})\[([^\]\n]+)\]:", re.MULTILINE)  # [label]: target


def plain_text(text: str) -> str:
    """Article text, a title or an answer as plain text for /v1 (a client renders Markdown).

    HTML elements go (a ``<script>`` or ``<style>`` with what it holds, any other tag
    leaving its text); an autolink (``<javascript:…>``) or Markdown link (``[x](…)``) keeps
    its target only when it is http(s), else only its text stays; and a line that would
    define a Markdown reference (``[1]: javascript:…``, which would turn our ``[1]`` markers
    into links) is defused. What is left is text with no markup a renderer would run.
    """
    text = _TAG.sub("", _ACTIVE.sub("", text))
    text = _AUTOLINK.sub(lambda m: m.group(0) if _web_target(m.group(1)) else m.group(1), text)
    text = _LINK_TARGET.sub(
        lambda m: m.group(0) if _web_target(m.group(1)) else "] (" + m.group(1), text
    )
    return _REFERENCE.sub(lambda m: f"{m.group(1)}\\[{m.group(2)}]:", text)


def _web_target(target: str) -> bool:
    """An http(s) link target, as a Markdown renderer would read it (entities decoded)."""
    return html.unescape(target).strip().lower().startswith(("http://", "https://"))


def article_page(article_id: str, start: int | None = None, end: int | None = None) -> str:
    """Our article page, optionally with the span ``start..end`` marked."""
    path = "/articles/" + quote(article_id, safe="")
    if start is None or end is None:
        return path
    return f"{path}?start={start}&end={end}#passage"


def article_link(article_id: str, url: str | None, start: int, end: int) -> str:
    """The contract's link rule: the article's http(s) URL, else our page at the passage."""
    return safe_link(url) or article_page(article_id, start, end)


def citation_json(c: Citation) -> dict[str, Any]:
    return {
        "n": c.n,
        "article_id": c.article_id,
        "chunk_id": c.chunk_id,
        "title": c.title,
        "date": c.date,
        "url": safe_link(c.url),
        "link": article_link(c.article_id, c.url, c.start, c.end),
        "lang": c.lang,
        "source": c.source,
        "quote": c.quote,
        "start": c.start,
        "end": c.end,
        "highlight": list(c.highlight) if c.highlight else None,
        "also_in": list(c.also_in),
    }


def passage_json(p: Passage) -> dict[str, Any]:
    return {
        "chunk_id": p.chunk_id,
        "article_id": p.article_id,
        "title": p.title,
        "date": p.date,
        "url": safe_link(p.url),
        "link": article_link(p.article_id, p.url, p.start, p.end),
        "lang": p.lang,
        "source": p.source,
        "story_id": p.story_id,
        "text": p.text,
        "start": p.start,
        "end": p.end,
        "score": round(p.score, 4),
        "dense": None if p.dense is None else round(p.dense, 4),
        "lexical": None if p.lexical is None else round(p.lexical, 4),
        "also_in": list(p.also_in),
    }


def filters_json(f: Filters) -> dict[str, str | None]:
    return {"lang": f.lang, "date_from": f.date_from, "date_to": f.date_to, "source": f.source}


def turn_json(turn: Turn, turn_id: str) -> dict[str, Any]:
    return {
        "turn_id": turn_id,
        "question": turn.question,
        "query": turn.query,
        "lang": turn.lang,
        "answer": turn.answer,
        "citations": [citation_json(c) for c in turn.citations],
        "mode": turn.mode,
        "refused": turn.refused,
        "filters": filters_json(turn.filters),
        "timings": dict(turn.timings),
    }


def article_json(
    record: ArticleRecord, translations: list[ArticleRecord] | None = None
) -> dict[str, Any]:
    return {
        "id": record.id,
        "title": record.title,
        "text": record.text,
        "lang": record.lang,
        "date": record.date,
        "url": safe_link(record.url),
        "source": record.source,
        "story_id": record.story_id,
        "translations": [
            {"id": t.id, "lang": t.lang, "title": t.title} for t in (translations or [])
        ],
    }


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def status_json(s: ArchiveStatus) -> dict[str, Any]:
    return {
        "articles": s.articles,
        "chunks": s.chunks,
        "last_updated": _iso(s.last_updated),
        "generation": s.generation,
        "serving_generation": s.serving_generation,
        "up_to_date": s.up_to_date,
        "refreshed_at": _iso(s.refreshed_at),
        "refresh_ms": None if s.refresh_seconds is None else round(s.refresh_seconds * 1000, 1),
        "refresh_error": s.refresh_error,
        "store": s.store,
        "writes_here": s.writes_here,
        "answer_judge": {"state": s.answer_judge, "problem": s.answer_judge_problem},
    }


def sync_status_json(s: SyncStatus) -> dict[str, Any]:
    """The sources and their syncs, as /api/status adds them to the archive's status."""
    return {
        "next_sync_at": _iso(s.next_sync_at),
        "sync": {
            "mode": s.mode,
            "background": s.background,
            "running": s.running,
            "running_since": _iso(s.running_since),
            "waiting": s.waiting,
            "error": s.error,
            "last": _sync_run_json(s.last),
        },
        "sources": [_source_json(x) for x in s.sources],
    }


def _sync_run_json(run: SyncRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "trigger": run.trigger,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "seconds": round(run.finished_at - run.started_at, 2),
        "sources": list(run.sources),
        "added": run.added,
        "updated": run.updated,
        "problems": run.problems,
        "error": run.error,
    }


def _source_json(s: SourceState) -> dict[str, Any]:
    where = {"url": s.location} if s.kind == "web" else {"folder": s.location}
    return {
        "name": s.name,
        "kind": s.kind,
        **where,
        "detected": s.detected,
        "every": format_every(s.every_seconds),
        "last_sync_at": _iso(s.last_sync_at),
        "next_sync_at": _iso(s.next_sync_at),
        "articles": s.articles,
        "reached": s.reached,
        "added": s.added,
        "updated": s.updated,
        "problem_count": len(s.problems),
        "problems": [
            {"url": p.path, "reason": p.reason, "warning": p.warning}
            for p in s.problems[:STATUS_PROBLEMS]
        ],
    }


def error_json(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The contract's error shape; ``field`` names the request field at fault, if one is."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}
