"""Syncing feeds, sitemaps and sites from a real HTTP server on loopback into a real Chroma.

The site (tests/web_site.py) serves invented articles in Italian and English; the hash
embedder keeps it fast and counts what is embedded.
"""

from __future__ import annotations

import socket
import threading
import time
from itertools import pairwise

import pytest

from ingest.registry import SourceRegistry
from ingest.source_sync import SourceSyncer, SyncReport
from ingest.sync import Ingestor
from ingest.web.fetch import FetchPolicy
from rag.archive.index import ArchiveIndex
from rag.config import Settings
from tests.fakes import HashEmbedder
from tests.web_site import (
    ARTICLES,
    LOOPBACK,
    NewsSite,
    Route,
    atom,
    json_feed,
    rss,
    sitemap,
    sitemap_index,
)

pytestmark = pytest.mark.integration

EN = ["/en/valdoro-port-floods.html", "/en/castelmora-solar-farm.html", "/en/lantern-museum.html"]
IT = ["/it/borgoverde-ponte.html", "/it/valdoro-sciopero-treni.html", "/it/corvina-faro.html"]
# the site is on loopback: refused unless allowed
POLICY = FetchPolicy(user_agent="newsrag-test/1.0 (tests@example.org)", timeout=2.0,
                     max_bytes=200_000, max_redirects=3, host_delay=0.0,
                     allow=(LOOPBACK,))  # fmt: skip


class Harness:
    def __init__(self, tmp_path, site: NewsSite, policy: FetchPolicy = POLICY) -> None:
        self.site = site
        self.embedder = HashEmbedder()
        self.settings = Settings(index_dir=tmp_path / "index")
        self.index = ArchiveIndex.open(
            self.settings, model_label=self.embedder.label, dim=self.embedder.dim
        )
        self.ingestor = Ingestor(
            self.index, self.embedder, chunk_tokens=40, chunk_overlap=10, batch_chunks=16
        )
        self.registry = SourceRegistry(self.settings.index_dir)
        self.policy = policy

    def add(self, path: str, name: str) -> None:
        self.registry.add(self.site.base + path, kind="web", every_seconds=1800, name=name)

    def sync(self, *names: str, max_pages: int = 200) -> SyncReport:
        syncer = SourceSyncer(
            self.ingestor, self.registry, self.policy, max_file_bytes=1_000_000,
            max_pages=max_pages,
        )  # fmt: skip
        return syncer.sync(names, force=not names)

    def ids(self) -> set[str]:
        return {r.id for r in self.index.manifest.iter_records()}

    def chunk_ids(self) -> set[str]:
        return set(self.index.store.chunks.get(include=[])["ids"])

    def expected_chunk_ids(self) -> set[str]:
        return {
            f"{r.id}:{n}" for r in self.index.manifest.iter_records() for n in range(r.n_chunks)
        }

    def close(self) -> None:
        self.registry.close()
        self.index.close()


@pytest.fixture
def site():
    s = NewsSite().start()
    for path in ARTICLES:
        s.page(path)
    s.routes["/robots.txt"] = Route(b"User-agent: *\nAllow: /\n", "text/plain")
    yield s
    s.stop()


@pytest.fixture
def h(tmp_path, site):
    harness = Harness(tmp_path, site)
    yield harness
    harness.close()


def feeds(site: NewsSite) -> None:
    site.routes["/rss.xml"] = Route(rss(site.base, IT[:2] + EN[:1]), "application/rss+xml")
    site.routes["/atom.xml"] = Route(atom(site.base, EN[1:]), "application/atom+xml")
    site.routes["/feed.json"] = Route(json_feed(site.base, IT[2:]), "application/feed+json")


def by_url(report: SyncReport) -> dict[str, str]:
    return {p.path: p.reason for p in report.problems}


def test_first_sync_reads_rss_atom_and_json_feed_pages(h, site):
    feeds(site)
    for path, name in (("/rss.xml", "rss"), ("/atom.xml", "atom"), ("/feed.json", "json")):
        h.add(path, name)
    report = h.sync()
    assert report.problems == ()
    got = {s.name: s for s in report.sources}
    assert {n: s.detected for n, s in got.items()} == {
        "atom": "atom10", "json": "jsonfeed", "rss": "rss20",
    }  # fmt: skip
    assert {n: s.added for n, s in got.items()} == {"atom": 2, "json": 1, "rss": 3}
    assert h.ids() == {site.base + p for p in ARTICLES}  # canonical URLs are the ids
    assert h.chunk_ids() == h.expected_chunk_ids()
    bridge = h.index.manifest.get(site.base + "/it/borgoverde-ponte.html")
    assert bridge.lang == "it" and bridge.date == "2031-03-06" and bridge.url == bridge.id
    assert bridge.title == "Il consiglio di Borgoverde approva il nuovo ponte sul Lirano"
    assert bridge.source == "Gazzetta di Valdoro"
    assert "torrente Lirano" in bridge.text and "Cookie policy" not in bridge.text
    # the page has no date: the JSON Feed's date_published is kept
    assert h.index.manifest.get(site.base + "/it/corvina-faro.html").date == "2031-03-09"
    # every request carried our User-Agent, and robots.txt was read once for the host
    assert {hit.headers["user-agent"] for hit in site.hits} == {POLICY.user_agent}
    assert len(site.requests_for("/robots.txt")) == 1
    listed = {s.name: s for s in h.registry.all()}
    assert listed["rss"].last is not None and listed["rss"].last.added == 3
    assert h.registry.article_ids("atom") == {site.base + p for p in EN[1:]}


def test_an_unchanged_feed_costs_one_304_and_embeds_nothing(h, site):
    feeds(site)
    h.add("/rss.xml", "rss")
    h.sync()
    chunks = h.chunk_ids()
    h.embedder.calls.clear()
    site.clear()
    report = h.sync()
    # one request: the feed, answered 304 (robots.txt was read an instant ago: kept an hour)
    assert [(hit.path, hit.status) for hit in site.hits] == [("/rss.xml", 304)]
    (source,) = report.sources
    assert (source.not_modified, source.fetched, source.added, source.updated) == (1, 0, 0, 0)
    assert h.embedder.calls == [] and h.chunk_ids() == chunks


def test_a_new_entry_fetches_one_page_and_the_others_answer_304(h, site):
    site.routes["/rss.xml"] = Route(rss(site.base, IT[:2]), "application/rss+xml")
    h.add("/rss.xml", "rss")
    h.sync()
    h.embedder.calls.clear()
    site.clear()
    site.routes["/rss.xml"] = Route(rss(site.base, [EN[0], *IT[:2]]), "application/rss+xml")
    (source,) = h.sync().sources
    assert (source.added, source.not_modified, source.fetched) == (1, 2, 1)
    statuses = {hit.path: hit.status for hit in site.hits}
    assert statuses[IT[0]] == statuses[IT[1]] == 304 and statuses[EN[0]] == 200
    assert h.embedder.calls and all("Valdoro" in c or "Sarne" in c or "port" in c
                                    for c in h.embedder.calls)  # fmt: skip
    assert len(h.ids()) == 3


def test_a_changed_page_is_updated_not_duplicated(h, site):
    site.routes["/rss.xml"] = Route(rss(site.base, EN[:2]), "application/rss+xml")
    h.add("/rss.xml", "rss")
    h.sync()
    before = h.index.manifest.get(site.base + EN[0])
    site.page(EN[0], extra="Update: the port reopened on Thursday morning.")
    site.routes["/rss.xml"] = Route(rss(site.base, EN[:2], suffix="?v=2"), "application/rss+xml")
    (source,) = h.sync().sources
    assert (source.updated, source.unchanged + source.not_modified, source.added) == (1, 1, 0)
    after = h.index.manifest.get(site.base + EN[0])
    assert "reopened on Thursday" in after.text and after.text != before.text
    assert len(h.ids()) == 2 and h.chunk_ids() == h.expected_chunk_ids()


def test_an_entry_gone_from_the_feed_is_kept(h, site):
    site.routes["/rss.xml"] = Route(rss(site.base, IT), "application/rss+xml")
    h.add("/rss.xml", "rss")
    h.sync()
    site.routes["/rss.xml"] = Route(rss(site.base, IT[1:]), "application/rss+xml")
    (source,) = h.sync().sources
    assert source.listed == 2 and source.problems == ()
    assert h.ids() == {site.base + p for p in IT}  # feeds show only their latest items


def test_an_article_in_a_feed_and_a_sitemap_is_stored_once(h, site):
    # the feed's links carry tracking parameters; the pages' canonical links do not
    site.routes["/rss.xml"] = Route(
        rss(site.base, EN, suffix="?utm_source=rss&utm_medium=feed"), "application/rss+xml"
    )
    site.routes["/sitemap.xml"] = Route(sitemap(site.base, EN + IT[:1]), "application/xml")
    h.add("/rss.xml", "rss")
    h.add("/sitemap.xml", "map")
    report = h.sync()
    got = {s.name: s for s in report.sources}
    assert got["map"].added + got["rss"].added == 4
    assert h.ids() == {site.base + p for p in EN + IT[:1]}
    assert h.chunk_ids() == h.expected_chunk_ids()


def test_a_site_root_follows_robots_sitemaps_and_indexes_and_honours_disallow(h, site):
    site.routes["/robots.txt"] = Route(
        b"User-agent: *\nDisallow: /private/\n\nSitemap: " + site.base.encode() +
        b"/sitemap_index.xml\n", "text/plain",
    )  # fmt: skip
    site.routes["/sitemap_index.xml"] = Route(
        sitemap_index(site.base, ["/sitemap-en.xml", "/sitemap-it.xml"]), "application/xml"
    )
    site.routes["/sitemap-en.xml"] = Route(sitemap(site.base, EN), "application/xml")
    elsewhere = "<url><loc>http://localhost:9/elsewhere.html</loc></url>"
    site.routes["/sitemap-it.xml"] = Route(
        sitemap(site.base, IT[:2]).replace(
            b"</urlset>",
            f"<url><loc>{site.base}/private/draft.html</loc></url>{elsewhere}</urlset>".encode(),
        ),
        "application/xml",
    )
    site.routes["/private/draft.html"] = Route(b"<html><body><p>secret</p></body></html>")
    h.registry.add(site.base + "/", kind="web", every_seconds=3600, name="gazzetta")
    (source,) = h.sync().sources
    assert source.detected == "site (sitemapindex, sitemap)"
    assert source.added == 5
    assert h.ids() == {site.base + p for p in EN + IT[:2]}
    other_host, problem = source.problems
    assert other_host.path == site.base + "/sitemap-it.xml"
    assert "1 URLs on other hosts than the sitemap's own were skipped" in other_host.reason
    assert problem.path == site.base + "/private/draft.html"
    assert "disallowed by the robots.txt" in problem.reason
    assert site.requests_for("/private/draft.html") == []  # never asked for

    # the sitemaps unchanged: one 304 each, and not one page asked for again
    site.clear()
    (again,) = h.sync().sources
    assert again.added == again.updated == 0 and again.not_modified == 3
    assert not [hit for hit in site.hits if hit.path.endswith(".html")]


def test_a_sitemap_entry_whose_lastmod_moved_is_fetched_again(h, site):
    site.routes["/sitemap.xml"] = Route(sitemap(site.base, IT), "application/xml")
    h.add("/sitemap.xml", "map")
    h.sync()
    site.page(IT[0], extra="Aggiornamento: il cantiere aprirà a settembre.")
    site.routes["/sitemap.xml"] = Route(
        sitemap(site.base, IT[:1], lastmod="2031-03-10")
        .replace(b"</urlset>", sitemap(site.base, IT[1:]).split(b"0.9\">", 1)[1]),
        "application/xml",
    )  # fmt: skip
    site.clear()
    (source,) = h.sync().sources
    assert (source.updated, source.skipped_unchanged) == (1, 2)
    assert [hit.path for hit in site.hits if hit.path.endswith(".html")] == [IT[0]]
    assert "settembre" in h.index.manifest.get(site.base + IT[0]).text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_faulty_url_is_reported_and_the_rest_is_stored_then_retried(tmp_path, site):
    h = Harness(tmp_path, site, FetchPolicy(timeout=0.5, max_bytes=50_000, max_redirects=3,
                                            host_delay=0.0, allow=(LOOPBACK,)))  # fmt: skip
    base = site.base
    site.routes.update({
        "/500.html": Route(b"oops", status=500),
        "/doc.pdf": Route(b"%PDF-1.4 " + b"0" * 500, "application/pdf"),
        "/photo.png": Route(b"\x89PNG\r\n\x1a\n" + b"\x00" * 300, "image/png"),
        "/slow.html": Route(ARTICLES and b"<html></html>", delay=2.0),
        "/loop-a.html": Route(status=302, location="/loop-b.html"),
        "/loop-b.html": Route(status=302, location="/loop-a.html"),
        "/huge.html": Route(b"<html><body>" + b"<p>word</p>" * 10_000 + b"</body></html>"),
        "/broken.xml": Route(b"<?xml version='1.0'?><rss><channel><item><title>x", "text/xml"),
        "/page.xml": Route(b"<html><body>a page</body></html>", "text/html"),
    })  # fmt: skip
    faulty = ["/404.html", "/500.html", "/doc.pdf", "/photo.png", "/slow.html", "/loop-a.html",
              "/huge.html"]  # fmt: skip
    items = "".join(f"<item><title>x</title><link>{base}{p}</link></item>" for p in faulty)
    site.routes["/rss.xml"] = Route(
        rss(base, EN[:2]).replace(b"</channel>", items.encode() + b"</channel>"),
        "application/rss+xml",
    )
    h.add("/rss.xml", "rss")
    h.add("/broken.xml", "broken")
    h.add("/page.xml", "notafeed")
    h.registry.add(f"http://127.0.0.1:{_closed_port()}/feed.xml", kind="web",
                   every_seconds=1800, name="down")  # fmt: skip
    report = h.sync()
    reasons = by_url(report)
    assert "HTTP 404" in reasons[base + "/404.html"]
    assert "HTTP 500" in reasons[base + "/500.html"] and "retried" in reasons[base + "/500.html"]
    assert "application/pdf, not an HTML page" in reasons[base + "/doc.pdf"]
    assert "image/png, not an HTML page" in reasons[base + "/photo.png"]
    assert "within 0.5 s" in reasons[base + "/slow.html"]
    assert "redirect loop" in reasons[base + "/loop-a.html"]
    assert "too large" in reasons[base + "/huge.html"]
    assert "malformed feed" in reasons[base + "/broken.xml"]
    assert "HTML page, not a feed" in reasons[base + "/page.xml"]
    down = next(p for url, p in reasons.items() if url.endswith("/feed.xml"))
    assert "cannot connect" in down
    got = {s.name: s for s in report.sources}
    assert got["rss"].added == 2 and got["rss"].reached and not got["down"].reached
    assert h.ids() == {base + p for p in EN[:2]}

    # the next sync asks for the feed again (no 304: not every entry was read) and retries
    site.clear()
    site.routes["/500.html"] = Route(b"<html><body><p>" + b"Now it works. " * 30 + b"</p></body>"
                                     b"</html>")  # fmt: skip
    again = {s.name: s for s in h.sync().sources}
    assert again["rss"].added == 1 and site.requests_for("/rss.xml")[0].status == 200
    assert base + "/500.html" not in by_url(h.sync())
    assert len(h.ids()) == 3
    h.close()


def test_requests_to_one_host_are_spaced_by_the_host_delay(tmp_path, site):
    h = Harness(tmp_path, site, FetchPolicy(timeout=2.0, host_delay=0.3, allow=(LOOPBACK,)))
    site.routes["/rss.xml"] = Route(rss(site.base, EN), "application/rss+xml")
    h.add("/rss.xml", "rss")
    h.sync()
    times = [hit.at for hit in site.hits]
    assert len(times) == 5  # robots.txt, the feed, three pages
    assert min(b - a for a, b in pairwise(times)) >= 0.28
    h.close()


def test_robots_crawl_delay_is_followed(tmp_path, site):
    site.routes["/robots.txt"] = Route(b"User-agent: *\nCrawl-delay: 1\n", "text/plain")
    h = Harness(
        tmp_path, site
    )  # host_delay 0: the robots.txt asks for 1 s (whole seconds: urllib.robotparser)
    site.routes["/rss.xml"] = Route(rss(site.base, EN[:2]), "application/rss+xml")
    h.add("/rss.xml", "rss")
    assert h.sync().sources[0].added == 2
    times = [hit.at for hit in site.hits]
    assert min(b - a for a, b in pairwise(times)) >= 0.95
    h.close()


def test_a_missing_robots_txt_allows_and_a_group_for_our_agent_disallows(tmp_path, site):
    del site.routes["/robots.txt"]  # a 404 robots.txt allows everything (RFC 9309)
    h = Harness(tmp_path, site)
    site.routes["/rss.xml"] = Route(rss(site.base, EN[:1]), "application/rss+xml")
    h.add("/rss.xml", "rss")
    (source,) = h.sync().sources
    assert source.added == 1 and source.problems == ()
    h.close()
    site.routes["/robots.txt"] = Route(
        b"User-agent: other\nDisallow:\n\nUser-agent: newsrag-test\nDisallow: /en/\n",
        "text/plain",
    )
    h2 = Harness(tmp_path / "two", site)
    h2.add("/rss.xml", "rss")
    (source,) = h2.sync().sources
    assert source.added == 0 and "disallowed" in source.problems[0].reason
    h2.close()


def test_due_sources_and_a_folder_source(h, site, tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "a.md").write_text("# Mercato di Valdoro\n\nIl mercato del pesce riapre domani.\n")
    h.registry.add(str(folder), kind="folder", every_seconds=600, name="local")
    site.routes["/rss.xml"] = Route(rss(site.base, EN[:1]), "application/rss+xml")
    h.add("/rss.xml", "rss")
    syncer = SourceSyncer(h.ingestor, h.registry, POLICY, max_file_bytes=1_000_000)
    first = syncer.sync()
    assert sorted(s.name for s in first.sources) == ["local", "rss"]
    assert {s.name: s.added for s in first.sources} == {"local": 1, "rss": 1}
    assert syncer.sync().sources == ()  # nothing due right after
    assert 0 < h.registry.next_due_in() <= 600
    later = time.time() + 601
    assert [s.name for s in h.registry.due(later)] == ["local"]
    (again,) = syncer.sync(["local"]).sources  # named: synced now, due or not
    assert again.unchanged == 1 and again.added == 0


def test_a_file_ingest_with_prune_never_removes_synced_articles(h, site, tmp_path):
    site.routes["/rss.xml"] = Route(rss(site.base, EN[:2]), "application/rss+xml")
    h.add("/rss.xml", "rss")
    h.sync()
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a.md").write_text("# Mercato\n\nIl mercato del pesce di Valdoro riapre domani.\n")
    report = h.ingestor.run([folder, tmp_path], max_bytes=1_000_000, prune=True)
    assert report.removed == 0 and {site.base + p for p in EN[:2]} <= h.ids()


def test_ingest_rebuild_keeps_the_sources_and_forgets_their_fetch_state(h, site):
    from app.compose import rebuild_keeping_sources

    site.routes["/rss.xml"] = Route(rss(site.base, EN[:1]), "application/rss+xml")
    h.add("/rss.xml", "rss")
    h.registry.add(str(h.settings.index_dir.parent), kind="folder", every_seconds=7200,
                   name="files")  # fmt: skip
    h.sync("rss")
    h.close()
    rebuild_keeping_sources(h.settings)
    assert not (h.settings.index_dir / "manifest.sqlite").exists()
    with SourceRegistry(h.settings.index_dir) as registry:
        kept = {s.name: s for s in registry.all()}
        assert sorted(kept) == ["files", "rss"] and kept["files"].every_seconds == 7200
        assert kept["rss"].last is None and registry.validators(site.base + "/rss.xml") is None
    h.index = ArchiveIndex.open(h.settings, model_label=h.embedder.label, dim=h.embedder.dim)
    h.registry = SourceRegistry(h.settings.index_dir)


# --- addresses inside the network (issue 15, defect 3) ------------------------------------
FERRY_PAGE = (
    b"<html lang='en'><head><title>Ferry to Corvina resumes</title></head><body><article>"
    b"<h1>Ferry to Corvina resumes</h1><p>" + b"The ferry to the island sails again. " * 12 +
    b"</p></article></body></html>"
)  # fmt: skip


def _dns(table: dict[str, list[str]]):
    """A resolver for names the test invents; the sync connects to what it answers."""

    def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


def test_feed_items_and_redirects_into_the_network_are_refused_before_any_connection(
    tmp_path, site
):
    # an intranet feed the operator allowed by name; everything it points at is checked
    port = site.base.rsplit(":", 1)[1]
    feed_host = f"http://news.example:{port}"
    dns = _dns({
        "news.example": [LOOPBACK],  # the allowed feed host (the test site)
        "metadata.example": ["169.254.169.254"],  # a cloud's metadata service
        "intranet.example": ["10.20.30.40"],
        "rebind.example": ["8.8.8.8", LOOPBACK],  # one public, one loopback address
    })  # fmt: skip
    page = Route(b"<html><body><p>internal</p></body></html>")  # must never be asked for
    site.routes.update({
        "/ok.html": Route(FERRY_PAGE),
        "/go.html": Route(status=302, location=f"{site.base}/secret-hop.html"),
        "/secret-hop.html": page, "/secret-literal.html": page, "/secret-v6.html": page,
        "/secret-mapped.html": page, "/secret-meta.html": page, "/secret-intra.html": page,
        "/secret-rebind.html": page,
    })  # fmt: skip
    items = {
        "ok": f"{feed_host}/ok.html",
        "hop": f"{feed_host}/go.html",
        "literal": f"{site.base}/secret-literal.html",
        "v6": f"http://[::1]:{port}/secret-v6.html",
        "mapped": f"http://[::ffff:127.0.0.1]:{port}/secret-mapped.html",
        "meta": f"http://metadata.example:{port}/secret-meta.html",
        "intra": f"http://intranet.example:{port}/secret-intra.html",
        "rebind": f"http://rebind.example:{port}/secret-rebind.html",
    }
    xml = "".join(f"<item><title>{k}</title><link>{u}</link></item>" for k, u in items.items())
    site.routes["/rss.xml"] = Route(
        rss(feed_host, []).replace(b"</channel>", xml.encode() + b"</channel>"),
        "application/rss+xml",
    )
    policy = FetchPolicy(timeout=2.0, host_delay=0.0, allow=("news.example",))
    h = Harness(tmp_path, site, policy)
    h.registry.add(f"{feed_host}/rss.xml", kind="web", every_seconds=1800, name="intranet")
    syncer = SourceSyncer(h.ingestor, h.registry, policy, max_file_bytes=10**6, resolve=dns)
    (source,) = syncer.sync(force=True).sources
    reasons = {p.path: p.reason for p in source.problems}

    assert source.added == 1 and h.ids() == {items["ok"]}
    assert sorted(reasons) == sorted(u for k, u in items.items() if k != "ok")
    kinds = {"hop": "127.0.0.1 is a loopback", "literal": "127.0.0.1 is a loopback",
             "v6": "::1 is a loopback", "mapped": "is a loopback",
             "meta": "metadata.example (resolves to 169.254.169.254) is a link-local",
             "intra": "intranet.example (resolves to 10.20.30.40) is a private",
             "rebind": "rebind.example (resolves to 127.0.0.1) is a loopback"}  # fmt: skip
    for key, words in kinds.items():
        reason = reasons[items[key]]
        assert words in reason and "NEWSRAG_FETCH_ALLOW=" in reason, (key, reason)
    assert reasons[items["hop"]].startswith(f"redirected to {site.base}/secret-hop.html: ")
    # not one of them was asked for: refused before connecting, redirect target included
    asked = {hit.path for hit in site.hits}
    assert asked == {"/robots.txt", "/rss.xml", "/ok.html", "/go.html"}
    h.close()


def test_a_feed_on_a_loopback_address_is_refused_and_what_it_gave_is_kept(h, site):
    site.routes["/rss.xml"] = Route(rss(site.base, EN[:2]), "application/rss+xml")
    h.add("/rss.xml", "rss")
    h.sync()  # while loopback was allowed
    stored, chunks = h.ids(), h.chunk_ids()
    assert len(stored) == 2

    h.policy = FetchPolicy(timeout=2.0, host_delay=0.0)  # the default: public addresses only
    site.clear()
    report = h.sync()
    (source,) = report.sources
    [(url, reason)] = by_url(report).items()
    assert url == site.base + "/rss.xml" and not source.reached
    assert reason.startswith("not fetched: 127.0.0.1 is a loopback address")
    assert f"set NEWSRAG_FETCH_ALLOW={LOOPBACK}" in reason
    assert site.hits == []  # not even robots.txt
    assert h.ids() == stored and h.chunk_ids() == chunks  # nothing stored is lost

    # a site root: its robots.txt is not read either, and the same reason is given
    h.registry.add(site.base + "/", kind="web", every_seconds=3600, name="root")
    root = {s.name: s for s in h.sync("root").sources}["root"]
    assert "is a loopback address" in root.problems[0].reason and site.hits == []


class ForwardProxy:
    """A plain HTTP forward proxy on loopback (an operator's HTTP_PROXY), logging each URL."""

    def __init__(self) -> None:
        import http.client
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        self.asked: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy.asked.append(self.path)  # absolute-form: the whole target URL
                target = urlsplit(self.path)
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-connection", "connection")}  # fmt: skip
                conn.request("GET", target.path or "/", headers=headers)
                answer = conn.getresponse()
                body = answer.read()
                self.send_response(answer.status)
                for key in ("Content-Type", "ETag", "Last-Modified", "Location"):
                    if answer.getheader(key):
                        self.send_header(key, answer.getheader(key))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                conn.close()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_through_an_http_proxy_the_target_is_checked_before_the_proxy_is_asked(
    tmp_path, site, monkeypatch
):
    proxy = ForwardProxy()
    for var in ("no_proxy", "NO_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)  # the proxy's own address is the operator's
    site.routes["/rss.xml"] = Route(rss(site.base, EN[:1]), "application/rss+xml")
    try:
        h = Harness(tmp_path, site)  # loopback allowed: through the proxy, as before
        h.add("/rss.xml", "rss")
        assert h.sync().sources[0].added == 1
        assert site.base + "/rss.xml" in proxy.asked and site.base + EN[0] in proxy.asked
        h.close()

        proxy.asked.clear()
        refused = Harness(tmp_path / "two", site, FetchPolicy(timeout=2.0, host_delay=0.0))
        refused.add("/rss.xml", "rss")
        [problem] = refused.sync().problems
        assert "127.0.0.1 is a loopback address" in problem.reason
        assert proxy.asked == []  # the proxy was not asked to fetch it
        refused.close()
    finally:
        proxy.stop()


# --- a canonical link on another site (issue 15, defect 4) --------------------------------
def _story(title: str, sentence: str, canonical: str) -> bytes:
    return (
        f"<html lang='it'><head><title>{title}</title><link rel='canonical' href='{canonical}'>"
        f"</head><body><article><h1>{title}</h1><p>{sentence * 8}</p></article></body></html>"
    ).encode()


def test_a_page_cannot_take_another_sites_article_with_its_canonical_link(tmp_path, site):
    port = site.base.rsplit(":", 1)[1]
    names = ["www.corriere-corvina.it", "www.gazzetta-valdoro.it", "gazzetta-valdoro.it",
             "notizie.gazzetta-valdoro.it"]  # fmt: skip
    dns = _dns({name: [LOOPBACK] for name in names})  # invented sites, all on the test server
    corriere, gazzetta = f"http://www.corriere-corvina.it:{port}", f"http://{names[1]}:{port}"
    real = f"{corriere}/faro.html"
    site.routes.update({
        "/faro.html": Route(_story("Il faro", "Il faro di Corvina si riaccende. ", real)),
        "/corriere.xml": Route(rss(corriere, []).replace(
            b"</channel>", f"<item><link>{real}</link></item></channel>".encode()),
            "application/rss+xml"),
        # another site's page naming the Corriere's article as its own
        "/thief.html": Route(_story("Il faro", "Il faro di Corvina crolla in mare. ", real)),
        # a page on a subdomain naming its own site's address: allowed
        "/sorella.html": Route(_story("Il ponte", "Il ponte sul Lirano apre domani. ",
                                      f"http://gazzetta-valdoro.it:{port}/ponte.html")),
        "/gazzetta.xml": Route(rss(gazzetta, []).replace(b"</channel>", (
            f"<item><link>{gazzetta}/thief.html</link></item>"
            f"<item><link>http://notizie.gazzetta-valdoro.it:{port}/sorella.html</link></item>"
            "</channel>").encode()), "application/rss+xml"),
    })  # fmt: skip
    h = Harness(tmp_path, site)
    h.registry.add(f"{corriere}/corriere.xml", kind="web", every_seconds=1800, name="corriere")
    h.registry.add(f"{gazzetta}/gazzetta.xml", kind="web", every_seconds=1800, name="gazzetta")
    syncer = SourceSyncer(h.ingestor, h.registry, POLICY, max_file_bytes=10**6, resolve=dns)
    syncer.sync(["corriere"])
    report = syncer.sync(["gazzetta"])

    assert report.problems == () and report.added == 2 and report.updated == 0
    assert "si riaccende" in h.index.manifest.get(real).text  # the Corriere's article is intact
    thief = h.index.manifest.get(f"{gazzetta}/thief.html")  # the page keeps its own URL
    assert thief is not None and "crolla" in thief.text and thief.url == thief.id
    assert h.index.manifest.get(f"http://gazzetta-valdoro.it:{port}/ponte.html") is not None
    assert h.registry.article_ids("gazzetta") == {
        f"{gazzetta}/thief.html",
        f"http://gazzetta-valdoro.it:{port}/ponte.html",
    }
    assert h.registry.article_ids("corriere") == {real}
    h.close()
