"""Feed and sitemap parsing, page ids, and the source registry's small rules (no network)."""

from __future__ import annotations

import gzip

import pytest

from ingest.registry import SourceRegistry, format_every, parse_every
from ingest.web.fetch import Fetched
from ingest.web.listings import Entry, ListingError, parse_listing
from ingest.web.pages import canonical_url, page_article, tidy_url
from rag.errors import InputError
from rag.types import Article, Problem

BASE = "http://news.intra"


def listing(body: bytes, content_type: str = "application/xml"):
    return parse_listing(body, url=BASE + "/feed", content_type=content_type, max_bytes=100_000)


def test_a_google_news_sitemap_gives_dates_and_titles_and_relative_locs_resolve():
    body = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>/it/a.html</loc>'
        b"<lastmod>2031-03-09T10:00:00+01:00</lastmod><news:news><news:publication_date>"
        b"2031-03-08T23:30:00-05:00</news:publication_date><news:title>Il ponte</news:title>"
        b"</news:news></url></urlset>"
    )
    (entry,) = listing(body).entries
    assert entry == Entry(BASE + "/it/a.html", title="Il ponte", date="2031-03-08",
                          modified="2031-03-09T10:00:00+01:00")  # fmt: skip


def test_gzipped_sitemaps_and_their_size_limit():
    body = gzip.compress(b'<urlset xmlns="x"><url><loc>http://a.b/c</loc></url></urlset>')
    assert [e.url for e in listing(body).entries] == ["http://a.b/c"]
    bomb = gzip.compress(b"<urlset>" + b" " * 200_000 + b"</urlset>")
    with pytest.raises(ListingError, match="once uncompressed"):
        listing(bomb)


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (b"<?xml version='1.0'?><urlset><url><loc>http://a", "text/xml", "malformed sitemap XML"),
        (b"<html><body>hi</body></html>", "text/html", "an HTML page, not a feed"),
        (b'{"items": []}', "application/json", "not a JSON Feed"),
        (b"{not json", "application/json", "malformed JSON"),
        (b"%PDF-1.4 ...", "application/pdf", "not a feed or a sitemap (application/pdf)"),
        (b"   ", "text/plain", "empty answer"),
    ],
)
def test_what_is_not_a_listing_says_what_it_is(body, content_type, says):
    with pytest.raises(ListingError, match=says.replace("(", r"\(").replace(")", r"\)")):
        listing(body, content_type)


def test_a_feed_broken_half_way_keeps_its_first_entries_with_a_warning():
    body = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
        b"<item><title>A</title><link>http://a.b/1</link></item><item><title>B</ti"
    )
    got = listing(body, "application/rss+xml")
    assert [e.url for e in got.entries] == ["http://a.b/1"] and "malformed feed" in got.warning


def test_a_feed_with_a_byte_order_mark_served_as_html_is_still_a_feed():
    body = (b"\xef\xbb\xbf<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
            b"<item><title>A</title><link>http://a.b/1</link></item></channel></rss>")  # fmt: skip
    assert [e.url for e in listing(body, "text/html").entries] == ["http://a.b/1"]


def test_json_feed_items():
    body = (b'{"version": "https://jsonfeed.org/version/1.1", "title": "G", "items": ['
            b'{"id": "1", "url": "/a", "title": "A", "date_published": "2031-03-09T10:00:00Z"},'
            b'{"id": "2", "content_text": "no url: skipped"}]}')  # fmt: skip
    got = listing(body, "application/feed+json")
    assert got.kind == "jsonfeed" and got.entries == (Entry(BASE + "/a", "A", "2031-03-09"),)


def test_canonical_urls_tidy_tracking_and_ignore_a_home_page_canonical():
    assert tidy_url("HTTP://News.Intra/a?utm_source=rss&id=3#top") == "http://news.intra/a?id=3"
    assert tidy_url("http://news.intra/a?b=%20c") == "http://news.intra/a?b=%20c"  # kept as is
    assert canonical_url(BASE + "/x/1?utm_medium=feed", "/x/1") == BASE + "/x/1"
    assert canonical_url(BASE + "/x/1", "https://news.intra/") == BASE + "/x/1"
    assert canonical_url(BASE + "/x/1", "javascript:void(0)") == BASE + "/x/1"


def test_a_canonical_on_another_site_is_ignored_and_subdomains_are_one_site():
    page = "https://www.gazzetta-valdoro.it/2031/03/ponte"
    same = ["https://gazzetta-valdoro.it/ponte", "https://notizie.gazzetta-valdoro.it/ponte",
            "//gazzetta-valdoro.it/ponte", "HTTPS://WWW.Gazzetta-Valdoro.IT./ponte"]  # fmt: skip
    for declared in same:
        assert canonical_url(page, declared).endswith("/ponte"), declared
    other = ["https://other-site.it/story", "https://gazzetta-valdoro.com/ponte",
             "https://gazzetta-valdoro.it.evil.example/ponte",
             "http://127.0.0.1/ponte"]  # fmt: skip
    for declared in other:
        assert canonical_url(page, declared) == page, declared
    # the Public Suffix List: two sites under a shared suffix, one under a two-level one
    assert (
        canonical_url("https://a.github.io/x", "https://b.github.io/x") == "https://a.github.io/x"
    )
    assert canonical_url("https://www.bbc.co.uk/n/1", "https://news.bbc.co.uk/1").startswith(
        "https://news.bbc.co.uk"
    )
    assert (
        canonical_url("https://bbc.co.uk/n/1", "https://other.co.uk/1") == "https://bbc.co.uk/n/1"
    )
    # hosts under no public suffix: each its own site, www. aside
    assert (
        canonical_url("http://news.intra/a", "http://www.news.intra/b") == "http://www.news.intra/b"
    )
    assert canonical_url("http://news.intra/a", "http://wiki.intra/b") == "http://news.intra/a"


def _fetched(body: bytes, content_type: str = "text/html", charset: str | None = None):
    return Fetched(BASE + "/a", BASE + "/a", 200, content_type, charset, body, None, None)


def test_a_page_declared_latin1_by_http_is_read_and_the_feed_fills_its_gaps():
    text = "<p>" + "La città di Valdoro è più bella così, dicono i suoi abitanti. " * 6 + "</p>"
    body = f"<html lang='it'><body><article>{text}</article></body></html>".encode("latin-1")
    got = page_article(_fetched(body, charset="iso-8859-1"),
                       Entry(BASE + "/a", title="Valdoro", date="2031-03-01"))  # fmt: skip
    assert isinstance(got, Article)
    assert "città" in got.text and (got.title, got.date, got.lang) == (
        "Valdoro",
        "2031-03-01",
        "it",
    )
    assert got.id == got.url == got.path == BASE + "/a" and got.source == "news.intra"


def test_a_page_that_is_not_html_is_a_problem_named_by_the_listed_url():
    got = page_article(_fetched(b"\x89PNG", "image/png"), Entry(BASE + "/listed"))
    assert isinstance(got, Problem) and got.path == BASE + "/listed" and "image/png" in got.reason


def test_intervals_and_registry_rules(tmp_path):
    assert [parse_every(t) for t in ("30m", "2h", "1d", "90", "45 min")] == [
        1800, 7200, 86400, 5400, 2700,
    ]  # fmt: skip
    assert format_every(5400) == "90m" and format_every(7200) == "2h"
    for bad in ("soon", "10s", "-5m"):
        with pytest.raises(InputError):
            parse_every(bad)
    with SourceRegistry(tmp_path) as registry:
        registry.add(BASE + "/feed", kind="web", every_seconds=60, name="intra")
        assert registry.unique_name("intra") == "intra-2"
        assert registry.unique_name("www news!") == "www-news"
        with pytest.raises(InputError, match="not usable"):
            registry.add(BASE + "/x", kind="web", every_seconds=60, name="-bad")
        assert registry.next_due_in() == 0.0  # never synced: due now
        registry.save_robots(BASE, "User-agent: *\nDisallow: /x/\n")
        assert registry.robots(BASE, max_age=3600) == "User-agent: *\nDisallow: /x/\n"
        assert registry.robots(BASE, max_age=-1) is None  # too old: read again
