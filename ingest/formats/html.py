"""HTML pages: the article's main text without the site's chrome, and its metadata.

The text comes from trafilatura when it can be imported and finds enough, else from our own
lxml extraction; the title, date, url, language and source from the page's meta tags,
JSON-LD, ``<h1>``, ``<time>`` and ``<link rel=canonical>``, read from the whole page before
either extractor runs, so they do not depend on which one did (trafilatura's own title and
date are only the last resort). lxml and trafilatura are imported only when a page is read.

The page's URL becomes the article's id, so only a web address counts: the first of the
canonical link, og:url and JSON-LD url that is http(s) (a fetched page may give a relative
one, ``ingest.web.pages`` resolves it); a ``javascript:``, ``data:`` or ``file:`` link is
passed over. A file on disk has no address to resolve a relative link against: its URL is
an absolute http(s) one or none, and then the article is identified by its path.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rag.types import Article, Problem

from ..clean import clean_text
from .article import article_from_fields, normalise_lang, one_line
from .common import ICONV_HINT, SNIFF_BYTES, SourceFile, binary_reason, read_bytes

log = logging.getLogger(__name__)

WEB_SCHEMES = ("http", "https")

# (text, title, date) found by a main-text extractor
Extracted = tuple[str, str | None, str | None]
Extractor = Callable[[str], Extracted | None]


@dataclass(frozen=True)
class Page:
    """An HTML page's article: cleaned main text, and the metadata as the page writes it."""

    text: str
    title: str | None = None
    date: str | None = None  # as written; ``ingest.dates.parse_date`` reads it
    url: str | None = None  # canonical link (may be relative), og:url or JSON-LD url
    lang: str | None = None
    source: str | None = None


def read_page(file: SourceFile, extract: Extractor | None = None) -> Iterator[Article | Problem]:
    """The article in an HTML page: its main text, without the site's chrome, and its metadata.

    ``extract`` finds the main text (default: trafilatura); when it finds less than 200
    characters, the longer of its text and our own lxml extraction's is kept.
    """
    page = read_html(read_bytes(file), extract)
    if isinstance(page, str):  # why the page cannot be used
        yield file.problem(page)
        return
    meta = {"title": page.title, "date": page.date, "url": _absolute(page.url), "lang": page.lang,
            "source": page.source}  # fmt: skip
    yield from article_from_fields(
        file, {k: v for k, v in meta.items() if v}, text=page.text, title=page.title or "",
        line=None, single=True, extra_keys=False,
    )  # fmt: skip


def read_html(
    data: bytes, extract: Extractor | None = None, *, charset: str | None = None
) -> Page | str:
    """The cleaned article of a page's bytes, or why there is none (a sentence for the user).

    ``charset`` is the one an HTTP answer declared: it wins over the page's ``<meta>``.
    Shared by HTML files and the pages of feeds and sitemaps (``ingest.web.pages``).
    """
    reason = binary_reason(data[:SNIFF_BYTES])
    page = (
        _parse_page(data, extract or extract_with_trafilatura, charset)
        if reason is None
        else reason
    )
    if isinstance(page, str):
        return page
    text = clean_text(page.text)
    if page.title and text.split("\n", 1)[0].casefold() == page.title.casefold():
        text = text.split("\n", 1)[1].strip() if "\n" in text else ""  # the <h1> is the title
    if not text:
        return (
            "no article text found in this page (only navigation, scripts or page chrome); "
            "if the text is loaded by JavaScript, save the page as rendered or export the text"
        )
    return Page(text=text, title=one_line(page.title or "") or None, date=page.date,
                url=page.url, lang=page.lang, source=page.source)  # fmt: skip


_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# browsers read pages labelled Latin-1 or ASCII as windows-1252 (WHATWG encoding standard)
_AS_CP1252 = {"iso8859-1", "latin-1", "ascii", "iso-8859-1", "latin1", "us-ascii"}


# declared charsets no browser decodes a page with: a <meta> readable as ASCII rules out UTF-16
# and UTF-32 (WHATWG: read as UTF-8), and escape codecs are not page encodings
_NOT_PAGE_ENCODINGS = {"utf-7", "idna", "punycode", "undefined", "unicode-escape",
                       "raw-unicode-escape"}  # fmt: skip


def _decode_page(data: bytes, charset: str | None = None) -> str:
    """The page's text: UTF-8, or the charset the page (or its HTTP answer) declares.

    Raises UnicodeDecodeError.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    found = _CHARSET.search(data[:4096])
    declared = charset or (found.group(1).decode("ascii") if found else None)
    encoding = "utf-8"
    if declared:
        with contextlib.suppress(LookupError):
            encoding = codecs.lookup(declared).name
    if encoding in _NOT_PAGE_ENCODINGS or encoding.startswith(("utf-16", "utf-32")):
        encoding = "utf-8"
    if encoding in _AS_CP1252:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise
    except (LookupError, UnicodeError):  # not a text encoding (base64, zlib…): as browsers do
        return data.decode("utf-8")


def _parse_page(data: bytes, extract: Extractor, charset: str | None = None) -> Page | str:
    import lxml.html
    from lxml import etree

    try:
        html = _decode_page(data, charset)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return (f"not valid {err.encoding.upper()} (first bad byte on line {line}); skipped: "
                f"{ICONV_HINT}")  # fmt: skip
    html = _XML_DECLARATION.sub("", html, count=1)
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError) as err:
        return f"cannot parse this HTML ({err}); skipped: check that it is an HTML page"

    # the metadata first, from the whole page: our own extraction drops the page's chrome
    # (a <header> outside <article> holds the <h1> and <time> of many sites)
    metas: dict[str, str] = {}
    for meta in root.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key and meta.get("content") and key not in metas:
            metas[key] = meta.get("content").strip()
    linked = _json_ld(root)
    canonical = next((link.get("href").strip() for link in root.iter("link")
                      if "canonical" in (link.get("rel") or "").lower().split()
                      and link.get("href")), None)  # fmt: skip
    h1 = next((" ".join(h.text_content().split()) for h in root.iter("h1")), None)
    head_title = root.findtext(".//title")
    date = _first(
        metas.get(k)
        for k in ("article:published_time", "datepublished", "og:published_time",
                  "publishdate", "pubdate", "date", "dc.date.issued", "dcterms.issued",
                  "dc.date", "parsely-pub-date", "sailthru.date")
    )  # fmt: skip
    time_date = _time_element(root)
    lang = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")

    extracted = _extract(extract, html)
    text = extracted[0] if extracted else ""
    if len(text) < 200:  # trafilatura found nothing (or is not installed): our own extraction
        text = max(text, _lxml_text(root), key=len)
    by_trafilatura = extracted or ("", None, None)
    return Page(
        text=text,
        title=_first([metas.get("og:title"), linked.get("headline"), h1, head_title,
                      by_trafilatura[1]]),
        date=_first([date, linked.get("datePublished"), time_date, by_trafilatura[2]]),
        url=_first(u for u in [canonical, metas.get("og:url"), linked.get("url")] if _web(u)),
        lang=normalise_lang(lang),
        source=_first([metas.get("og:site_name"), linked.get("publisher")]),
    )  # fmt: skip


def _extract(extract: Extractor, html: str) -> Extracted | None:
    try:
        return extract(html)
    except Exception as err:  # a third-party extractor's bug: our own extraction still works
        log.warning("the main-text extractor failed (%s: %s); using the simpler HTML "
                    "extraction", type(err).__name__, err)  # fmt: skip
        return None


def _web(url: str | None) -> bool:
    """An http(s) URL, or a relative one (no scheme); never ``javascript:`` and the like."""
    try:
        scheme = urlsplit((url or "").strip()).scheme.lower()
    except ValueError:
        return False
    return bool(url) and (scheme in WEB_SCHEMES or not scheme)


def _absolute(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL with a host, else None."""
    try:
        parts = urlsplit((url or "").strip())
    except ValueError:
        return None
    return url if parts.scheme.lower() in WEB_SCHEMES and parts.netloc else None


def _first(values: Iterable[str | None]) -> str | None:
    return next((v.strip() for v in values if isinstance(v, str) and v.strip()), None)


def _json_ld(root: Any) -> dict[str, str]:
    """headline, datePublished, url and publisher name from the page's JSON-LD article."""
    found: dict[str, str] = {}
    for script in root.iter("script"):
        if (script.get("type") or "").lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except json.JSONDecodeError:
            continue
        stack = [data]
        while stack:
            node = stack.pop(0)
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                stack.extend(node.get("@graph") or [])
                kinds = node.get("@type")
                kinds = " ".join(kinds) if isinstance(kinds, list) else str(kinds or "")
                if "Article" in kinds or "Posting" in kinds or "Report" in kinds:
                    for key in ("headline", "datePublished", "url"):
                        if isinstance(node.get(key), str):
                            found.setdefault(key, node[key])
                    publisher = node.get("publisher")
                    if isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
                        found.setdefault("publisher", publisher["name"])
    return found


def _time_element(root: Any) -> str | None:
    for xpath in ("//*[@itemprop='datePublished']/@content", "//article//time/@datetime",
                  "//main//time/@datetime", "//time/@datetime"):  # fmt: skip
        values = root.xpath(xpath)
        if values:
            return str(values[0])
    return None


_trafilatura_missing = False


def extract_with_trafilatura(html: str) -> Extracted | None:
    """(text, title, date) by trafilatura, which never fetches anything given a string."""
    global _trafilatura_missing
    if _trafilatura_missing:
        return None
    try:
        import trafilatura
    except ImportError as err:  # e.g. lxml_html_clean missing: our own extraction still works
        log.warning("trafilatura cannot be imported (%s); using the simpler HTML extraction", err)
        _trafilatura_missing = True
        return None
    doc: Any = trafilatura.bare_extraction(
        html, with_metadata=True, include_comments=False, include_tables=True,
        include_images=False, include_links=False, deduplicate=False,
    )  # fmt: skip
    text = getattr(doc, "text", None)
    if not isinstance(text, str) or not text.strip():
        return None
    paragraphs = [line.strip() for line in text.split("\n") if line.strip()]
    return "\n\n".join(paragraphs), getattr(doc, "title", None), getattr(doc, "date", None)


_DROP_TAGS = ("script", "style", "noscript", "template", "nav", "aside", "form", "button",
              "iframe", "svg", "select", "dialog", "footer")  # fmt: skip
_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog",
               "alertdialog"}  # fmt: skip
_CHROME_CLASS = re.compile(
    r"^(?:[a-z]+[-_])?(?:nav|navbar|navigation|menu|breadcrumbs?|cookies?|cookie[-_]\w+|consent"
    r"|banner|footer|sidebar|share|sharing|social|social[-_]\w+|related|related[-_]\w+"
    r"|newsletter|subscribe|skip[-_]link|advert\w*|ads?|adv|promo|popup|modal|comments?"
    r"|byline|dateline|tags?)$",
    re.IGNORECASE,
)
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6",
               "li", "ul", "ol", "blockquote", "pre", "table", "tr", "dd", "dt", "dl",
               "figcaption", "header", "address", "hr"}  # fmt: skip


def _lxml_text(root: Any) -> str:
    """Main text without trafilatura: drop chrome elements, keep the article or main block."""
    body = root.find("body")
    body = root if body is None else body
    doomed = []
    for el in body.iter():
        if not isinstance(el.tag, str):
            continue
        tokens = f"{el.get('class') or ''} {el.get('id') or ''}".split()
        if (
            el.tag in _DROP_TAGS
            or (el.tag == "header" and not any(a.tag == "article" for a in el.iterancestors()))
            or (el.get("role") or "").lower() in _DROP_ROLES
            or el.get("hidden") is not None
            or (el.get("aria-hidden") or "").lower() == "true"
            or any(_CHROME_CLASS.match(t) for t in tokens)
        ):
            doomed.append(el)
    for el in doomed:
        if el.getparent() is not None:
            el.drop_tree()
    main = next(
        (found[0] for xpath in ("//article", "//main", "//*[@role='main']")
         if (found := body.xpath(xpath))), body,
    )  # fmt: skip
    parts: list[str] = []

    def walk(el: Any) -> None:
        block = isinstance(el.tag, str) and el.tag in _BLOCK_TAGS
        if el.tag == "br":
            parts.append("\x00L")
        if block:
            parts.append("\x00P")
        if isinstance(el.tag, str) and el.text:
            parts.append(el.text)
        for child in el:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if block:
            parts.append("\x00P")

    walk(main)
    text = re.sub(r"\s+", " ", "".join(parts))
    text = re.sub(r" ?\x00L ?", "\n", text)
    return re.sub(r"(?: ?\x00P ?)+", "\n\n", text).strip()
