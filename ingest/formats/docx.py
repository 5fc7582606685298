"""Word .docx files: one article each, its paragraphs and tables (python-docx).

The title is the document's Title property when set, else its first Title or Heading
paragraph, else the first headline-like line; the language comes from the document's
default when it sets one. Old binary .doc files are not read: they are listed with the
advice to save them as .docx or PDF.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from rag.types import Article, Problem

from ..clean import clean_text, split_title
from .article import article_from_fields, one_line
from .common import SourceFile, read_bytes


def read_docx(file: SourceFile) -> Iterator[Article | Problem]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    data = read_bytes(file)
    try:
        document: Any = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as err:
        yield file.problem(
            f"not a readable .docx file ({type(err).__name__}); skipped: open it in a word "
            "processor and save it again as .docx (or PDF)"
        )
        return
    heading = None
    blocks: list[str] = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if heading is None and not blocks and (style == "Title" or style.startswith("Heading")):
            heading = text
            continue
        blocks.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                blocks.append(" | ".join(dict.fromkeys(cells)))
    text = clean_text("\n\n".join(blocks))
    title = one_line(document.core_properties.title or "") or one_line(heading or "")
    if not title:
        title, text = split_title(text)
        title = one_line(title)
    if not text:
        yield file.problem(
            "empty document (no text in its paragraphs or tables); nothing to ingest"
        )
        return
    meta = {}
    lang = document.core_properties.language
    if lang:
        meta["lang"] = lang
    yield from article_from_fields(file, meta, text=text, title=title, line=None, single=True)
