"""``/articles/{id}``: one stored article as a plain page, the cited passage marked.

Citations link here when an article has no http(s) URL of its own. Everything that comes from
the archive is HTML-escaped, and the page's own Content-Security-Policy allows no script at
all, so an article's text can never run in the reader's browser.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse

from rag.answer.messages import format_date
from rag.archive.manifest import ArticleRecord

from .api import load_article
from .present import article_page, safe_link

router = APIRouter()
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

STYLE = """
body { font: 17px/1.55 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
       padding: 0 1rem; color: #1f2328; background: #fff; }
h1 { font-size: 1.6rem; line-height: 1.25; margin-bottom: .3rem; }
.meta { color: #59636e; font-size: .95rem; margin-bottom: 1.5rem; }
.meta a { color: #0969da; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
mark { background: #fff1a8; padding: .1em 0; scroll-margin-top: 30vh; }
"""

LABELS = {
    "it": {"original": "Articolo originale", "also": "Anche in", "untitled": "(senza titolo)"},
    "en": {"original": "Original article", "also": "Also in", "untitled": "(untitled)"},
}


def marked_text(text: str, start: int | None, end: int | None) -> str:
    """The article text, escaped, with ``start..end`` inside ``<mark id="passage">``."""
    if start is None or end is None or not 0 <= start < end <= len(text):
        return escape(text)
    return (
        escape(text[:start])
        + '<mark id="passage">'
        + escape(text[start:end])
        + "</mark>"
        + escape(text[end:])
    )


def render(
    record: ArticleRecord,
    translations: list[ArticleRecord],
    start: int | None = None,
    end: int | None = None,
) -> str:
    labels = LABELS.get(record.lang, LABELS["en"])
    title = record.title or labels["untitled"]
    meta = [escape(format_date(record.date, record.lang)), escape(record.lang)]
    if record.source:
        meta.append(escape(record.source))
    link = safe_link(record.url)
    if link:
        meta.append(f'<a href="{escape(link)}" rel="noopener noreferrer">{labels["original"]}</a>')
    if translations:
        others = ", ".join(
            f'<a href="{escape(article_page(t.id))}" hreflang="{escape(t.lang)}">'
            f"{escape(t.lang)}</a>"
            for t in translations
        )
        meta.append(f"{labels['also']}: {others}")
    return (
        "<!doctype html>\n"
        f'<html lang="{escape(record.lang)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<article>\n<h1>{escape(title)}</h1>\n"
        f'<p class="meta">{" · ".join(meta)}</p>\n'
        f'<div class="text">{marked_text(record.text, start, end)}</div>\n'
        "</article>\n</body>\n</html>\n"
    )


@router.get("/articles/{article_id:path}", response_class=HTMLResponse, tags=["articles"])
async def article_html(
    article_id: str,
    request: Request,
    start: int | None = Query(None, ge=0, description="Start of the passage to mark."),
    end: int | None = Query(None, ge=0, description="End of the passage to mark."),
) -> HTMLResponse:
    """The article as a page, with the passage ``start..end`` marked (id ``passage``)."""
    record, translations = load_article(request, article_id)
    return HTMLResponse(
        render(record, translations, start, end), headers={"Content-Security-Policy": CSP}
    )
