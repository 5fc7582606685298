"""``GET /metrics``: what a Prometheus server scrapes from ``newsrag serve``.

Counted as things happen (since the process started):

- ``newsrag_http_requests_total{route, method, status}`` and
  ``newsrag_http_request_duration_seconds{route, method}``: every request, by the route's
  template (``/api/articles/{article_id:path}``, never the raw path, so an id never becomes a
  series), including those the security checks refuse; a streamed answer is timed to its end;
- ``newsrag_answers_total{outcome}``: questions by outcome, ``answered``, ``refused`` or
  ``error``, from the API, the OpenAI route and the chat page alike (rag/chat.py observers);
- ``newsrag_sync_runs_total{source}``, ``newsrag_sync_failures_total{source}`` (the source
  itself could not be read: feed down, malformed listing), ``newsrag_sync_problems_total{source}``
  (URLs that failed), ``newsrag_sync_articles_total{source, change}`` for this server's syncs,
  and ``newsrag_sync_errors_total{trigger}`` for syncs that failed as a whole.

Read at each scrape: whether the engine and its embedding model are loaded, what the index holds
(articles, chunks, generation served and written, last write), whether this process holds the
index's writer lock and what it is writing, and each source's articles, last and next sync.

The registry is the app's own (not prometheus_client's global one), so several apps in one
process (the tests) never share counts. ``NEWSRAG_METRICS_KEY``, when set, is required as a
bearer token; the door (ui/web/security.py) lets /metrics through like ``/healthz``, without the API
keys' check or the SSO header, since Prometheus scrapes it directly.
"""

from __future__ import annotations

import hmac
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.config import Settings
from rag.errors import NewsragError

from .present import error_json
from .security import sent_key

if TYPE_CHECKING:
    from app.services import Services
    from ingest.source_sync import SyncReport

log = logging.getLogger(__name__)
router = APIRouter()

OUTCOMES = ("answered", "refused", "error")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# from a cached page to an LLM's long answer, streamed
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
UNMATCHED = "(unmatched)"


class Metrics:
    """The server's counters and histograms, and the state read at each scrape."""

    def __init__(self, services: Services) -> None:
        # no `_created` twin of every counter: Prometheus does not need it, and it doubles the
        # page (a process-wide switch of prometheus_client, set here rather than at import)
        disable_created_metrics()
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "newsrag_http_requests", "HTTP requests by route template, method and status.",
            ["route", "method", "status"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "newsrag_http_request_duration_seconds",
            "Time to the last byte of the response, by route template and method.",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.answers = Counter(
            "newsrag_answers", "Questions by outcome: answered, refused (the archive does not "
            "answer it) or error.", ["outcome"], registry=r,
        )  # fmt: skip
        for outcome in OUTCOMES:
            self.answers.labels(outcome)
        self.sync_runs = Counter(
            "newsrag_sync_runs", "Syncs of a source by this server.", ["source"], registry=r
        )
        self.sync_failures = Counter(
            "newsrag_sync_failures", "Syncs of a source that could not read the source itself "
            "(feed or sitemap down, malformed listing).", ["source"], registry=r,
        )  # fmt: skip
        self.sync_problems = Counter(
            "newsrag_sync_problems", "URLs that failed in a source's syncs (404, timeout…).",
            ["source"], registry=r,
        )  # fmt: skip
        self.sync_articles = Counter(
            "newsrag_sync_articles", "Articles a source's syncs added or updated.",
            ["source", "change"], registry=r,
        )  # fmt: skip
        self.sync_errors = Counter(
            "newsrag_sync_errors", "Syncs that failed as a whole (the sources file or the index "
            "could not be read or written), by trigger: schedule or admin.", ["trigger"],
            registry=r,
        )  # fmt: skip
        r.register(StateCollector(services))

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def answered(self, outcome: str) -> None:
        self.answers.labels(outcome if outcome in OUTCOMES else "error").inc()

    def synced(self, report: SyncReport) -> None:
        for s in report.sources:
            self.sync_runs.labels(s.name).inc()
            failures = self.sync_failures.labels(s.name)  # 0 shown, for rate() and alerts
            if not s.reached:
                failures.inc()
            self.sync_problems.labels(s.name).inc(len(s.problems))
            self.sync_articles.labels(s.name, "added").inc(s.added)
            self.sync_articles.labels(s.name, "updated").inc(s.updated)

    def sync_failed(self, trigger: str) -> None:
        self.sync_errors.labels(trigger).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def gauge(name: str, doc: str, value: float | None, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    if value is not None:
        family.add_metric(list(labels.values()), value)
    return family


class StateCollector(Collector):
    """What the server is and holds, read when Prometheus scrapes (nothing kept in between)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterable[Metric]:
        services = self.services
        lock = services.writer_lock
        writing = services.current_write
        yield gauge("newsrag_ready", "1 once questions can be answered.", float(services.ready))
        yield gauge(
            "newsrag_embedder_loaded", "1 once the embedding model is loaded.",
            float(services.ready),
        )  # fmt: skip
        yield gauge(
            "newsrag_writer_lock_held", "1 while this process holds the index's writer lock "
            "(INDEX/writer.lock: `serve` on an embedded index, or a write in progress).",
            float((lock is not None and lock.held) or writing is not None),
        )  # fmt: skip
        family = GaugeMetricFamily(
            "newsrag_write_in_progress", "1 while a write through this server runs, by kind.",
            labels=["kind"],
        )  # fmt: skip
        for kind in ("ingest", "sync", "backup"):
            family.add_metric([kind], float(writing == kind))
        yield family
        if not services.ready:
            return
        yield from self._engine()
        yield from self._index()
        yield from self._sources()

    def _engine(self) -> Iterator[Metric]:
        embedder = self.services.engine().embedder
        family = GaugeMetricFamily(
            "newsrag_embedder_info", "The embedding model answers come from.",
            labels=["model", "dim"],
        )  # fmt: skip
        family.add_metric([embedder.label, str(embedder.dim)], 1.0)
        yield family

    def _index(self) -> Iterator[Metric]:
        try:
            status = self.services.status()
        except (NewsragError, sqlite3.Error) as err:
            log.warning("metrics: the index cannot be read: %s", err)
            return
        yield gauge("newsrag_index_articles", "Articles in the index.", status.articles)
        yield gauge("newsrag_index_chunks", "Chunks (passages) in the index.", status.chunks)
        yield gauge(
            "newsrag_index_generation", "The manifest's generation (one more per write).",
            status.generation,
        )  # fmt: skip
        yield gauge(
            "newsrag_index_serving_generation", "The generation questions are answered from.",
            status.serving_generation,
        )  # fmt: skip
        yield gauge(
            "newsrag_index_last_write_timestamp_seconds",
            "When the set of articles last changed (Unix time).", status.last_updated,
        )  # fmt: skip

    def _sources(self) -> Iterator[Metric]:
        try:
            sources = self.services.syncs.sources()
        except (NewsragError, sqlite3.Error) as err:
            log.warning("metrics: the sources cannot be read: %s", err)
            return
        families = {
            "articles": GaugeMetricFamily(
                "newsrag_source_articles", "Stored articles a source gave.", labels=["source"]
            ),
            "last": GaugeMetricFamily(
                "newsrag_source_last_sync_timestamp_seconds",
                "When a source was last synced (Unix time).",
                labels=["source"],
            ),
            "next": GaugeMetricFamily(
                "newsrag_source_next_sync_timestamp_seconds",
                "When a source is next due (Unix time).",
                labels=["source"],
            ),
            "reached": GaugeMetricFamily(
                "newsrag_source_reached",
                "1 if the last sync could read the source itself.",
                labels=["source"],
            ),
        }
        for s in sources:
            families["articles"].add_metric([s.name], s.articles)
            families["next"].add_metric([s.name], s.next_sync_at)
            if s.last_sync_at is not None:
                families["last"].add_metric([s.name], s.last_sync_at)
            if s.reached is not None:
                families["reached"].add_metric([s.name], float(s.reached))
        yield from families.values()


# --- requests -------------------------------------------------------------------------------
def route_template(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The matched route's template; for a request refused before routing, the one it would
    have reached. The chat page mounted at / is "/" plus Gradio's own route when it names one."""
    route = scope.get("route")
    if route is None:
        route = _match(routes, scope)
    if route is None:
        return UNMATCHED
    if isinstance(route, Mount):
        return route.path or "/"
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def _match(routes: Sequence[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The route Starlette would pick, looked for inside included routers (FastAPI 0.165
    lists an included router as one route that matches every path of its own routes)."""
    for route in routes:
        if route.matches(scope)[0] != Match.FULL:
            continue
        if isinstance(route, Mount):
            return route
        inner = getattr(route, "routes", None) or getattr(
            getattr(route, "original_router", None), "routes", None
        )
        if not inner:
            return route
        found = _match(inner, scope)
        if found is not None:
            return found
    return None


class MetricsMiddleware:
    """Counts and times every HTTP request; outermost, so refusals are counted too."""

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, routes: Callable[[], Sequence[BaseRoute]]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            route = route_template(scope, self.routes())
            self.metrics.request(route, scope["method"], status, time.perf_counter() - started)


# --- GET /metrics ---------------------------------------------------------------------------
def metrics_refusal(request: Request, settings: Settings) -> Response | None:
    """401 without NEWSRAG_METRICS_KEY when it is set; None when the scrape may go on."""
    if settings.metrics_key is None:
        return None
    key = sent_key(request.headers)
    if key is not None and hmac.compare_digest(key, settings.metrics_key.get_secret_value()):
        return None
    message = (
        "The metrics key is not valid."
        if key is not None
        else "A metrics key is required: send NEWSRAG_METRICS_KEY as `Authorization: Bearer KEY`."
    )
    return JSONResponse(
        error_json("unauthorized", message), status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )


@router.get("/metrics", tags=["health"], response_class=Response)
async def metrics_page(request: Request) -> Response:
    """Prometheus text format: requests, answers, syncs, index and writer state (see the
    README's Deployment section). Needs NEWSRAG_METRICS_KEY as a bearer token when it is set."""
    refusal = metrics_refusal(request, request.app.state.settings)
    if refusal is not None:
        return refusal
    metrics: Metrics = request.app.state.metrics
    body = await run_in_threadpool(metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
