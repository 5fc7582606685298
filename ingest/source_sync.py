"""One sync of an archive's sources: read the listings, fetch new and changed pages, store.

``sync_sources(ingestor, settings)`` is the whole thing as one call: it syncs the sources
that are due (or the ones named, now), one after the other, and returns a ``SyncReport``.
The CLI's ``newsrag sync`` calls it, and a serving process can call it from a background
thread with the Ingestor that writes its index (it never holds a lock of its own: the
caller owns the index while it runs).

For a web source:
1. the listings: the feed or sitemap URL, or, for a site's root address, the sitemaps its
   robots.txt names (``/sitemap.xml`` when it names none), following sitemap indexes; each
   asked for with the validators of its last complete read, so an unchanged feed is one 304
   and nothing else;
2. the pages they list, newest first for sitemaps: a page already stored is asked for with
   its validators (a 304 costs nothing more), a sitemap entry whose ``<lastmod>`` has not
   moved is not asked for at all; at most ``max_pages`` requests per source and sync, the
   rest is left for the next syncs;
3. the articles go through ``Ingestor.add_articles``: the same write path as files (content
   hashes, so an unchanged page is not embedded again; crash-safe batches; story links; the
   lexical index). An entry missing from today's feed is never deleted: feeds list only
   their latest items.
A URL that fails is one Problem in the report, named by its URL; the rest is stored. A
listing's validators are saved only when every page it listed was read, so the next sync
reads it again and retries what failed. A folder source is the file ingest of that folder.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from rag.config import Settings
from rag.errors import NewsragError
from rag.types import Article, Problem

from .registry import Source, SourceRegistry, SourceReport, Validators
from .sync import Ingestor
from .web.fetch import Fetcher, FetchError, FetchPolicy
from .web.listings import Entry, ListingError, parse_listing
from .web.pages import page_article, tidy_url

if TYPE_CHECKING:
    from .web.guard import Resolver

log = logging.getLogger(__name__)

MAX_LISTINGS = 50  # feeds and sitemaps read per source and sync (a sitemap index's children)
LISTING_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


@dataclass(frozen=True)
class SyncReport:
    """What one call of ``sync_sources`` did, source by source."""

    sources: tuple[SourceReport, ...]
    seconds: float

    @property
    def added(self) -> int:
        return sum(s.added for s in self.sources)

    @property
    def updated(self) -> int:
        return sum(s.updated for s in self.sources)

    @property
    def written(self) -> int:
        return sum(s.added + s.updated + s.recovered for s in self.sources)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for s in self.sources for p in s.problems)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON (POST /api/admin/sync answers with it)."""
        return {
            "sources": [json.loads(s.to_json()) for s in self.sources],
            "seconds": round(self.seconds, 3),
            "added": self.added,
            "updated": self.updated,
            "problem_count": len(self.problems),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SyncReport:
        sources = tuple(SourceReport.from_json(json.dumps(s)) for s in data.get("sources", []))
        return cls(sources, float(data.get("seconds", 0.0)))


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        user_agent=settings.user_agent,
        timeout=settings.fetch_timeout,
        max_bytes=int(settings.fetch_max_mb * 1_000_000),
        max_redirects=settings.fetch_max_redirects,
        host_delay=settings.fetch_host_delay,
        allow=tuple(settings.fetch_allow),
    )


def sync_sources(
    ingestor: Ingestor,
    settings: Settings,
    *,
    names: Sequence[str] = (),
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SyncReport:
    """Sync the due sources of the ingestor's index (all with ``force``; ``names`` now)."""
    with SourceRegistry(ingestor.index.index_dir) as registry:
        syncer = SourceSyncer(
            ingestor,
            registry,
            fetch_policy(settings),
            max_file_bytes=settings.max_file_bytes,
            max_pages=settings.sync_max_pages,
        )
        return syncer.sync(names, force=force, progress=progress)


@dataclass
class _Listed:
    """What the listings of one source gave in this sync."""

    entries: dict[str, tuple[Entry, str]] = field(default_factory=dict)  # url -> entry, kind
    kinds: list[str] = field(default_factory=list)
    validators: list[Validators] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    not_modified: int = 0
    reached: bool = False
    complete: bool = True  # every listing was read: their validators may be saved


@dataclass
class _Pages:
    validators: list[Validators] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    fetched: int = 0
    not_modified: int = 0
    skipped_unchanged: int = 0
    left_for_next: int = 0
    failed: int = 0


class SourceSyncer:
    def __init__(
        self,
        ingestor: Ingestor,
        registry: SourceRegistry,
        policy: FetchPolicy,
        *,
        max_file_bytes: int,
        max_pages: int = 200,
        resolve: Resolver | None = None,
    ) -> None:
        self.ingestor = ingestor
        self.registry = registry
        self.policy = policy
        self.max_file_bytes = max_file_bytes
        self.max_pages = max_pages
        self.resolve = resolve  # host names to addresses; None: the system's DNS

    def sync(
        self,
        names: Sequence[str] = (),
        *,
        force: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> SyncReport:
        started = time.perf_counter()
        if names:
            chosen = [self.registry.require(n) for n in dict.fromkeys(names)]
        else:
            chosen = self.registry.all() if force else self.registry.due()
        reports = []
        with Fetcher(self.policy, robots_cache=self.registry, resolve=self.resolve) as fetcher:
            for source in chosen:
                if progress:
                    progress(f"{source.name}: {source.location}")
                report, ids = self._one(source, fetcher, progress)
                self.registry.record(report, ids)
                reports.append(report)
        return SyncReport(tuple(reports), time.perf_counter() - started)

    def _one(
        self, source: Source, fetcher: Fetcher, progress: Callable[[str], None] | None
    ) -> tuple[SourceReport, set[str]]:
        started, t0, requests = time.time(), time.perf_counter(), fetcher.requests
        try:
            if source.kind == "folder":
                return self._folder(source, started), set()
            return self._web(source, fetcher, started, progress)
        except NewsragError as err:  # the store failed: this source is retried next time
            log.warning("syncing %s failed: %s", source.name, err)
            problem = Problem(source.location, f"could not be stored: {err}")
        except Exception as err:  # a bug: the other sources are still synced
            log.exception("syncing %s failed", source.name)
            problem = Problem(
                source.location,
                f"sync failed ({type(err).__name__}: {err}); see the log, and please report it",
            )
        report = SourceReport(
            name=source.name, kind=source.kind, location=source.location, started_at=started,
            seconds=time.perf_counter() - t0, reached=False, problems=(problem,),
            requests=fetcher.requests - requests,
        )  # fmt: skip
        return report, set()

    # --- folders --------------------------------------------------------------------------
    def _folder(self, source: Source, started: float) -> SourceReport:
        t0 = time.perf_counter()
        path = Path(source.location)
        got = self.ingestor.run([path], max_bytes=self.max_file_bytes)
        return SourceReport(
            name=source.name, kind="folder", location=source.location, started_at=started,
            seconds=time.perf_counter() - t0, reached=path.exists(), detected="folder",
            listed=got.files, added=got.added, updated=got.updated, unchanged=got.unchanged,
            recovered=got.recovered, chunks_written=got.chunks_written,
            problems=(*got.problems, *got.warnings),
        )  # fmt: skip

    # --- feeds, sitemaps, sites -----------------------------------------------------------
    def _web(
        self,
        source: Source,
        fetcher: Fetcher,
        started: float,
        progress: Callable[[str], None] | None,
    ) -> tuple[SourceReport, set[str]]:
        t0, requests = time.perf_counter(), fetcher.requests
        listed = self._listings(source.location, fetcher)
        pages = _Pages()
        got = self.ingestor.add_articles(self._articles(listed, fetcher, pages, progress))
        self.registry.save_validators(pages.validators)  # their articles are written now
        if listed.complete and not pages.failed and not pages.left_for_next:
            self.registry.save_validators(listed.validators)
        kinds = list(dict.fromkeys(listed.kinds))
        detected = ", ".join(kinds) or None
        if _is_site_root(source.location):
            detected = f"site ({detected})" if detected else "site"
        report = SourceReport(
            name=source.name, kind="web", location=source.location, started_at=started,
            seconds=time.perf_counter() - t0, reached=listed.reached, detected=detected,
            listed=len(listed.entries), fetched=pages.fetched,
            not_modified=listed.not_modified + pages.not_modified,
            skipped_unchanged=pages.skipped_unchanged, left_for_next=pages.left_for_next,
            requests=fetcher.requests - requests, added=got.added, updated=got.updated,
            unchanged=got.unchanged, recovered=got.recovered, chunks_written=got.chunks_written,
            problems=(*listed.problems, *got.problems),
        )  # fmt: skip
        return report, pages.ids

    def _listings(self, location: str, fetcher: Fetcher) -> _Listed:
        listed = _Listed()
        queue = [location]
        if _is_site_root(location):
            try:
                queue = fetcher.sitemaps(location) or [urljoin(location, "/sitemap.xml")]
            except FetchError as err:
                listed.problems.append(Problem(location, err.reason))
                listed.complete = False
                return listed
        seen: set[str] = set()
        while queue and len(seen) < MAX_LISTINGS:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            old = self.registry.validators(url)
            try:
                got = fetcher.get(
                    url,
                    etag=old.etag if old else None,
                    last_modified=old.last_modified if old else None,
                    accept=LISTING_ACCEPT,
                )
            except FetchError as err:
                listed.problems.append(Problem(url, err.reason))
                listed.complete = False
                continue
            listed.reached = True
            if got.not_modified:
                listed.not_modified += 1
                if old is not None:
                    queue.extend(old.children)  # an unchanged index: its sitemaps may move
                continue
            try:
                listing = parse_listing(got.body, url=got.final_url,
                                        content_type=got.content_type,
                                        max_bytes=self.policy.max_bytes)  # fmt: skip
            except ListingError as err:
                listed.problems.append(Problem(url, err.reason))
                listed.complete = False
                continue
            listed.kinds.append(listing.kind)
            if listing.warning:
                listed.problems.append(Problem(url, listing.warning))
                listed.complete = False
            queue.extend(listing.sitemaps)
            entries = listing.entries
            if listing.kind == "sitemap":  # the protocol: a sitemap lists its own host only
                entries = tuple(e for e in entries if _same_site(e.url, got.final_url))
                if len(entries) < len(listing.entries):
                    listed.problems.append(Problem(url, (
                        f"{len(listing.entries) - len(entries)} URLs on other hosts than the "
                        "sitemap's own were skipped (a sitemap may list only its own host); "
                        "add those sites as sources of their own"
                    )))  # fmt: skip
            for entry in entries:
                listed.entries.setdefault(tidy_url(entry.url), (entry, listing.kind))
            listed.validators.append(
                Validators(url, got.etag, got.last_modified, children=listing.sitemaps)
            )
        if queue:
            log.info("%s: more than %d sitemaps; the rest are read next time", location,
                     MAX_LISTINGS)  # fmt: skip
            listed.complete = False
        return listed

    def _articles(
        self,
        listed: _Listed,
        fetcher: Fetcher,
        pages: _Pages,
        progress: Callable[[str], None] | None,
    ) -> Iterator[Article | Problem]:
        manifest = self.ingestor.index.manifest
        done = {i for i, (_, state) in manifest.hashes().items() if state == "done"}
        order = list(listed.entries.items())
        if any(kind.startswith("sitemap") for _, kind in listed.entries.values()):
            order.sort(key=lambda item: item[1][0].date or item[1][0].modified or "", reverse=True)
        written: set[str] = set()
        for n, (url, (entry, kind)) in enumerate(order, 1):
            old = self.registry.validators(url)
            stored = old is not None and old.article_id in done
            sitemap_unchanged = kind.startswith("sitemap") and (
                entry.modified is None or (old is not None and entry.modified == old.listed)
            )
            if stored and old is not None and sitemap_unchanged:
                pages.skipped_unchanged += 1
                pages.ids.add(str(old.article_id))
                continue
            if pages.fetched + pages.not_modified + pages.failed >= self.max_pages:
                pages.left_for_next += 1
                continue
            if progress and n % 10 == 0:
                progress(f"page {n}/{len(order)}")
            try:
                got = fetcher.get(
                    url,
                    etag=old.etag if stored and old else None,
                    last_modified=old.last_modified if stored and old else None,
                    accept=PAGE_ACCEPT,
                )
            except FetchError as err:
                pages.failed += 0 if err.disallowed else 1  # a disallowed URL stays so
                yield Problem(url, err.reason)
                continue
            if got.not_modified and old is not None and old.article_id:
                pages.not_modified += 1
                pages.ids.add(old.article_id)
                continue
            pages.fetched += 1
            item = page_article(got, entry, manifest.get)
            if isinstance(item, Problem):
                pages.failed += 1
                yield item
                continue
            pages.validators.append(
                Validators(url, got.etag, got.last_modified, item.id, listed=entry.modified)
            )
            pages.ids.add(item.id)
            if item.id not in written:  # one article reached from two URLs is stored once
                written.add(item.id)
                yield item


def _same_site(url: str, other: str) -> bool:
    def host(u: str) -> str:
        return (urlsplit(u).hostname or "").removeprefix("www.")

    return host(url) == host(other)


def _is_site_root(location: str) -> bool:
    parts = urlsplit(location)
    return (parts.path in ("", "/") and not parts.query) or parts.path.endswith("/robots.txt")
