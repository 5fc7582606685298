"""PDF files: one article each, the text of every page (pypdfium2, i.e. PDFium).

Why pypdfium2: on the PDFs of ``bench/pdf_text.py`` (120 Belebele passages in Italian and
English, one and two justified columns) pypdf and pypdfium2 both gave every word back in
order with every accent; pypdfium2 took 2.3-4.1 ms a page against pypdf's 15-21 (and
pdfminer.six's 156-189, which also lost 2.7% of the words of the two-column layout), and
PDFium is the engine Chromium opens damaged PDFs with.

PDF text comes as lines. They are joined back into paragraphs (a line that ends a sentence
and is clearly shorter than the page's usual line ends a paragraph, a short line that does
not end a sentence is a heading of its own, a word hyphenated at a line end is joined), and
lines repeated at the top or bottom of most pages (a running head,
"pag. 3") are dropped. The title is the document's Title metadata when it looks like one,
else the first headline-like line. A PDF without a text layer (a scan) is reported with
what to do.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator

from rag.types import Article, Problem

from ..clean import clean_text, split_title
from .article import article_from_fields, one_line
from .common import SourceFile, read_bytes

_LOCK = threading.Lock()  # PDFium is not thread-safe
_SENTENCE_END = re.compile(r"[.!?:;»\"”’)]$")
_PAGE_NUMBER = re.compile(r"^\W*(?:pag(?:e|ina)?\.?|p\.)?\s*\d+(?:\s*(?:/|of|di)\s*\d+)?\W*$",
                          re.IGNORECASE)  # fmt: skip
_NOT_TITLES = re.compile(r"^(?:untitled|senza titolo|microsoft word|document\d*)\b|\.\w{2,4}$",
                         re.IGNORECASE)  # fmt: skip


def read_pdf(file: SourceFile) -> Iterator[Article | Problem]:
    data = read_bytes(file)
    if b"%PDF-" not in data[:1024]:
        yield file.problem("not a PDF file (no %PDF- header), though named .pdf; skipped")
        return
    pages = _pages(data)
    if isinstance(pages, str):
        yield file.problem(pages)
        return
    texts, meta_title = pages
    text = clean_text(_paragraphs(_without_running_lines(texts)))
    if not text:
        yield file.problem(
            "no text in this PDF (a scan, or pictures of text); run OCR first, e.g. "
            "`ocrmypdf IN.pdf OUT.pdf`, and ingest the result"
        )
        return
    title = one_line(meta_title or "")
    if not title or _NOT_TITLES.search(title):
        title, text = split_title(text)
        title = one_line(title)
    else:  # the title printed as a heading near the top is not part of the text
        blocks = text.split("\n\n")
        first = [i for i, b in enumerate(blocks[:3]) if b.strip().casefold() == title.casefold()]
        if first and len(blocks) > 1:
            del blocks[first[0]]
            text = "\n\n".join(blocks)
    yield from article_from_fields(file, {}, text=text, title=title, line=None, single=True)


def _pages(data: bytes) -> tuple[list[list[str]], str | None] | str:
    import pypdfium2 as pdfium

    with _LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as err:
            if "password" in str(err).lower():
                return ("password-protected PDF; skipped: save a copy without the password "
                        "(e.g. `qpdf --decrypt IN.pdf OUT.pdf`)")  # fmt: skip
            return f"damaged PDF ({err}); skipped: open and re-save it, or export it again"
        try:
            title = pdf.get_metadata_dict().get("Title") or None
            pages = []
            for page in pdf:
                textpage = page.get_textpage()
                raw = textpage.get_text_bounded()
                textpage.close()
                page.close()
                pages.append([line.strip() for line in raw.splitlines()])
        finally:
            pdf.close()
    return pages, title


def _without_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop page numbers, and lines found at the top or bottom of most pages."""

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", line.casefold())

    edges: Counter[str] = Counter()
    for lines in pages:
        content = [line for line in lines if line]
        edges.update({key(line) for line in content[:2] + content[-2:]})
    running = {k for k, n in edges.items() if len(pages) >= 3 and n >= 0.6 * len(pages)}
    return [
        [line for line in lines if key(line) not in running and not _PAGE_NUMBER.match(line)]
        for lines in pages
    ]


def _paragraphs(pages: list[list[str]]) -> str:
    lines = [line for page in pages for line in [*page, ""]]
    # a full line's length: most lines of a paragraph are full, its last one is not
    lengths = sorted(len(line) for line in lines if line)
    usual = lengths[int(0.8 * (len(lengths) - 1))] if lengths else 0
    out: list[str] = []
    current = ""
    for line in lines:
        if not line:
            if current and _SENTENCE_END.search(current):
                out.append(current)
                current = ""
            continue
        if not current and len(line) < 0.6 * usual and not _SENTENCE_END.search(line):
            out.append(line)  # a heading, a byline, a masthead: a line of its own
            continue
        if current.endswith("-") and line[:1].islower() and current[-2:-1].isalpha():
            current = current[:-1] + line  # a word hyphenated at the end of a line
        else:
            current = f"{current} {line}" if current else line
        if _SENTENCE_END.search(line) and len(line) < 0.8 * usual:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return "\n\n".join(out)
