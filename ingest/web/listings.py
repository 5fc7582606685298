"""What a feed or a sitemap lists: article URLs with the title and date it gives them.

- RSS 0.9x/1.0/2.0 and Atom through feedparser (always handed the bytes: given a string
  that looks like a URL it would fetch it itself, outside the sync's politeness rules).
- JSON Feed 1.0/1.1 with the standard json module: feedparser 6.0.14 does not read it
  (checked: it reports a JSON Feed as a malformed XML document with no entries).
- Sitemaps (``<urlset>``, with Google News ``<news:publication_date>`` and ``<news:title>``)
  and sitemap indexes (``<sitemapindex>``), gzipped or not, with lxml. Not trafilatura's
  sitemap module: ``sitemap_search`` fetches with its own downloader (no conditional GET,
  no robots.txt for the pages, a fixed sleep), and its ``SitemapObject`` drops every link
  whose host has no registered domain (``127.0.0.1``, an intranet ``news.intra``), parses
  with ``recover=True`` so malformed XML passes unnoticed, and keeps no dates.
A feed's ``<pubDate>``/``published`` (or ``updated``) and a sitemap's publication date are
read with ``ingest.dates.parse_date``: the day the publisher wrote, like every other date in
the archive. A sitemap's ``<lastmod>`` is not a publication date: it is kept as the entry's
change signal, so an unchanged sitemap entry is not fetched again.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from ..dates import parse_date


@dataclass(frozen=True)
class Entry:
    """One article a listing points to."""

    url: str
    title: str | None = None
    date: str | None = None  # ISO, when the listing gives a publication date
    modified: str | None = None  # a sitemap's <lastmod>, as written


@dataclass(frozen=True)
class Listing:
    kind: str  # "rss20", "atom10"…, "jsonfeed", "sitemap", "sitemapindex"
    title: str | None
    entries: tuple[Entry, ...]
    sitemaps: tuple[str, ...] = ()  # a sitemap index's sitemaps
    warning: str | None = None  # read, but something was wrong (reported, not fatal)


class ListingError(Exception):
    """The body is not a feed or sitemap that can be read; ``reason`` says what it is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_ROOT = re.compile(rb"<\s*(?:[\w.-]+:)?([\w.-]+)[\s>/]")
_PROLOGUE = re.compile(rb"\A(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)*", re.DOTALL)
_FEED_ROOTS = {b"rss", b"feed", b"rdf", b"channel"}
_SITEMAP_ROOTS = {b"urlset", b"sitemapindex"}
_GZIP = b"\x1f\x8b"


def parse_listing(body: bytes, *, url: str, content_type: str, max_bytes: int) -> Listing:
    """The entries of a feed or sitemap fetched from ``url``; ListingError when it is not one."""
    if body.startswith(_GZIP):
        body = _gunzip(body, max_bytes)
    body = body.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
    head = body.lstrip()[:1]
    if head in (b"{", b"[") or content_type.endswith("json"):
        return _json_feed(body, url)
    prologue = _PROLOGUE.match(body)
    root = _ROOT.match(body, prologue.end() if prologue else 0)
    name = root.group(1).lower() if root else b""
    if name in _SITEMAP_ROOTS:
        return _sitemap(body, url)
    if name in _FEED_ROOTS:
        return _feed(body, url, content_type)
    if name in (b"html", b"head", b"body") or content_type in (
        "text/html",
        "application/xhtml+xml",
    ):
        raise ListingError(
            "an HTML page, not a feed or a sitemap; add the feed's own URL (the RSS or Atom "
            "link of the site), a sitemap, or the site's root address (its robots.txt sitemaps)"
        )
    if not body.strip():
        raise ListingError("an empty answer, not a feed or a sitemap; retried at the next sync")
    kind = content_type or "unknown content"
    raise ListingError(
        f"not a feed or a sitemap ({kind}); newsrag reads RSS, Atom, JSON Feed and XML sitemaps"
    )


# --- RSS and Atom ---------------------------------------------------------------------------
def _feed(body: bytes, url: str, content_type: str) -> Listing:
    import feedparser

    parsed: Any = feedparser.parse(
        body,
        response_headers={"content-type": content_type or "application/xml",
                          "content-location": url},
    )  # fmt: skip
    entries: list[Entry] = []
    for item in parsed.entries:
        link = _entry_link(item)
        if not link:
            continue
        raw_date = item.get("published") or item.get("updated") or item.get("created")
        entries.append(
            Entry(
                url=urljoin(url, link),
                title=_text(item.get("title")),
                date=parse_date(raw_date) if raw_date else None,
            )
        )
    warning = None
    if parsed.get("bozo"):
        problem = _short(parsed.get("bozo_exception"))
        if not entries:
            raise ListingError(
                f"malformed feed ({problem}); nothing could be read from it. Retried at the "
                "next sync; if it stays broken, tell the site (or add its sitemap instead)"
            )
        if "encoding" not in problem.lower():  # a wrong declared charset is read anyway
            warning = (f"malformed feed ({problem}); the {len(entries)} entries before the "
                       "error were read")  # fmt: skip
    if not parsed.get("version") and not entries:
        raise ListingError("not a feed: no RSS or Atom entries in this XML document")
    return Listing(
        kind=parsed.get("version") or "feed",
        title=_text(parsed.feed.get("title")),
        entries=tuple(entries),
        warning=warning,
    )


def _entry_link(item: Any) -> str | None:
    link = item.get("link")
    if link:
        return str(link)
    for candidate in item.get("links") or []:
        if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
            return str(candidate["href"])
    guid = item.get("id")
    if isinstance(guid, str) and guid.startswith(("http://", "https://")):
        return guid
    return None


# --- JSON Feed ------------------------------------------------------------------------------
def _json_feed(body: bytes, url: str) -> Listing:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ListingError(f"malformed JSON ({_short(err)}); retried at the next sync") from None
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or "jsonfeed.org" not in version:
        raise ListingError(
            'JSON, but not a JSON Feed (no "version": "https://jsonfeed.org/version/1.1")'
        )
    items = data.get("items")
    if not isinstance(items, list):
        raise ListingError('a JSON Feed without an "items" list')
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url")
        if not isinstance(link, str) or not link:
            continue
        raw_date = item.get("date_published") or item.get("date_modified")
        entries.append(
            Entry(
                url=urljoin(url, link),
                title=_text(item.get("title")),
                date=parse_date(raw_date) if isinstance(raw_date, str) else None,
            )
        )
    return Listing(kind="jsonfeed", title=_text(data.get("title")), entries=tuple(entries))


# --- sitemaps -------------------------------------------------------------------------------
def _sitemap(body: bytes, url: str) -> Listing:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as err:
        raise ListingError(
            f"malformed sitemap XML (line {err.lineno}: {err.msg}); retried at the next sync"
        ) from None
    kind = etree.QName(root).localname.lower()
    if kind == "sitemapindex":
        found = [_loc(el, url) for el in root if _local(el) == "sitemap"]
        return Listing(kind="sitemapindex", title=None, entries=(),
                       sitemaps=tuple(u for u in found if u))  # fmt: skip
    entries = []
    for el in root:
        if _local(el) != "url":
            continue
        loc = _loc(el, url)
        if not loc:
            continue
        lastmod = title = published = None
        for child in el.iter():
            name = _local(child)
            if name == "lastmod":
                lastmod = (child.text or "").strip() or None
            elif name == "publication_date":
                published = (child.text or "").strip() or None
            elif name == "title":
                title = _text(child.text)
        entries.append(
            Entry(loc, title=title, date=parse_date(published) if published else None,
                  modified=lastmod)
        )  # fmt: skip
    return Listing(kind="sitemap", title=None, entries=tuple(entries))


def _local(el: Any) -> str:
    return el.tag.rsplit("}", 1)[-1].lower() if isinstance(el.tag, str) else ""


def _loc(el: Any, base: str) -> str | None:
    for child in el:
        if _local(child) == "loc" and child.text and child.text.strip():
            return urljoin(base, child.text.strip())
    return None


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(body, max_bytes + 1)
    except zlib.error as err:
        raise ListingError(f"a damaged gzip file ({err}); retried at the next sync") from None
    if len(out) > max_bytes:
        raise ListingError(
            f"over {max_bytes / 1e6:.2f} MB once uncompressed (NEWSRAG_FETCH_MAX_MB); skipped"
        )
    return out


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text or None


def _short(err: object) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) < 160 else text[:157] + "..."
