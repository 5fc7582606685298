"""A fetched article page as an ``Article``: the HTML reader's text and metadata, plus ids.

The article id is the page's canonical URL (``<link rel=canonical>``, og:url or JSON-LD),
made absolute and tidied (no fragment, no ``utm_*`` tracking parameters, lower-case scheme
and host), else the URL the page was fetched from after redirects: so the same article
reached through a feed link and through a sitemap is one article. A canonical link is
ignored, and the page keeps the URL it was fetched from, when:
- it points at the site's home page while the page is not it (a common CMS mistake), or
  every article of such a site would become one;
- it is on another site, a different registrable domain (``www.`` and other subdomains of
  the page's own domain are the same site): a page may name only its own site's URL as its
  id, or any page could overwrite another site's stored article (issue 15 reproduced it).
  The registrable domain is read from the Public Suffix List as the ``tld`` package ships it
  (installed with trafilatura, through courlan; it reads its bundled copy, never the
  network): ``news.bbc.co.uk`` is ``bbc.co.uk``, and ``a.github.io`` and ``b.github.io`` are
  two sites. A host under no public suffix (``127.0.0.1``, ``news.intra``) is its own site.

What the page says wins; the listing fills in what it lacks: the title, and the date
(the feed's or sitemap's publication date when the page has none). When neither has one, an
already stored value is kept, so an article listed with a date in a feed and without one in
a sitemap does not flip between the two at every sync (and is not embedded again).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from rag.archive.manifest import ArticleRecord
from rag.types import Article, Problem

from ..dates import parse_date
from ..formats import html
from .fetch import Fetched
from .listings import Entry

HTML_TYPES = ("text/html", "application/xhtml+xml")


def page_article(
    fetched: Fetched,
    entry: Entry,
    stored: Callable[[str], ArticleRecord | None] = lambda _id: None,
) -> Article | Problem:
    """The article of a fetched page, or the Problem (named by the listed URL) why not.

    ``stored`` looks up the article as stored (``Manifest.get``), for what neither the page
    nor its listing says.
    """
    media = fetched.content_type
    if media and media not in HTML_TYPES:
        return Problem(
            entry.url,
            f"is {media}, not an HTML page; skipped (download it and `newsrag ingest` the file "
            "if it is an article)",
        )
    page = html.read_html(fetched.body, charset=fetched.charset)
    if isinstance(page, str):
        return Problem(entry.url, page)
    url = canonical_url(fetched.final_url, page.url)
    title = page.title or entry.title
    date = (parse_date(page.date) if page.date else None) or entry.date
    before = stored(url) if not (title and date) else None
    return Article(
        id=url,
        text=page.text,
        title=title or (before.title if before else ""),
        lang=page.lang,
        date=date or (before.date if before else None),
        url=url,
        source=page.source or (urlsplit(url).hostname or None),
        path=url,
    )


def canonical_url(fetched_url: str, declared: str | None) -> str:
    """The article's id: the page's canonical link when it is usable, else where it was got."""
    base = tidy_url(fetched_url)
    if not declared:
        return base
    candidate = urljoin(fetched_url, declared.strip())
    if urlsplit(candidate).scheme not in ("http", "https"):
        return base
    if urlsplit(candidate).path in ("", "/") and urlsplit(base).path not in ("", "/"):
        return base  # every page naming the home page as canonical: a site template's bug
    if not same_site(candidate, base):
        return base  # another site's id: this page may not replace its article
    return tidy_url(candidate)


def same_site(url: str, other: str) -> bool:
    """Whether the two URLs are on one registrable domain (see the module's docstring)."""
    first = registrable_domain(url)
    return first is not None and first == registrable_domain(other)


def registrable_domain(url: str) -> str | None:
    """``www.bbc.co.uk`` -> ``bbc.co.uk``; a host under no public suffix, itself."""
    from tld import get_fld

    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return None
    if not host:
        return None
    with contextlib.suppress(UnicodeError):  # the list is matched in ASCII (punycode) too
        host = host.encode("idna").decode("ascii")
    domain = get_fld(host, fix_protocol=True, fail_silently=True)
    return str(domain) if domain else host.removeprefix("www.")


def tidy_url(url: str) -> str:
    parts = urlsplit(url.strip())
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(k.lower().startswith("utm_") for k, _ in pairs):  # else the query is kept as written
        query = urlencode([(k, v) for k, v in pairs if not k.lower().startswith("utm_")])
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))
