"""CSV exports: one article per row, the columns named in a header line.

The column names are mapped to the canonical ones with ``--map``. A first pass checks that
the whole file decodes and parses, and lets its dates decide whether ``05/04/2017`` is day or
month first (``infer_order``); a second makes the articles. Both stream the file, so memory
stays bounded whatever its size. Lines may end in LF, CRLF or a lone CR (old Mac exports).
"""

from __future__ import annotations

import codecs
import csv
import re
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from rag.types import Article, Problem

from ..dates import infer_order
from .article import article_from_record
from .common import (
    ICONV_HINT,
    SNIFF_BYTES,
    SourceFile,
    binary_reason,
    decode_legacy,
    legacy_warning,
    read_bytes,
)
from .fields import Fields

_TEXTY_COLUMN = re.compile(r"text|content|body|testo|corpo", re.IGNORECASE)
_LINE_END = re.compile(rb"\r\n|\r|\n")


def read_csv(file: SourceFile) -> Iterator[Article | Problem]:
    with file.path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    reason = binary_reason(head)
    if reason:
        yield file.problem(reason)
        return
    _allow_large_fields()
    first_line = _LINE_END.split(head, maxsplit=1)[0].decode("utf-8-sig", errors="replace")
    delimiter = max(",;\t|", key=lambda d: _count_outside_quotes(first_line, d))

    # first pass: the whole file must decode and parse, and its dates tell the day/month order;
    # a file that is not UTF-8 is read again in the 8-bit encoding it is in, with a warning
    warning = None
    while True:
        try:
            columns = _first_pass(file, delimiter)
            break
        except UnicodeDecodeError:
            found = None if file.encoding != "utf-8-sig" else decode_legacy(read_bytes(file))
            if found is None:
                bad = _first_bad_line(file)
                yield file.problem(f"not valid UTF-8 (first bad byte on line {bad}); skipped: "
                                   f"{ICONV_HINT}", bad)  # fmt: skip
                return
            file.encoding = found[1]
            warning = legacy_warning(file, found[1])
        except csv.Error as err:
            at = err.args[1] if len(err.args) > 1 else None
            yield file.problem(f"malformed CSV ({err.args[0]}); skipped: check the quoting", at)
            return
    if warning is not None:
        yield warning

    if not any(columns):
        yield file.problem("empty file (no header line); nothing to ingest")
        return
    if _column(file.fields, "text", columns) is None:
        guess = next((c for c in columns if _TEXTY_COLUMN.search(c)), None)
        guess = guess or next((c for c in columns if "article" in c.lower()), "COLUMN")
        yield file.problem(
            f"no text column: the columns are {', '.join(columns)}; name the one holding the "
            f"article text with --map text=COLUMN (e.g. --map text={guess})"
        )
        return
    for canonical, column in file.fields.mapping.items():
        if column not in columns and canonical not in columns:
            yield file.problem(
                f"--map {canonical}={column}: there is no column {column!r} (the columns are "
                f"{', '.join(columns)}); {canonical} left empty"
            )

    file.text_names = file.fields.names("text")
    with _open(file) as f:
        reader = csv.reader(f, delimiter=delimiter)
        next(reader)
        ended = reader.line_num
        for row in reader:
            line_no, ended = ended + 1, reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            file.records += 1
            record = {c: v for c, v in zip(columns, row, strict=False) if c}
            yield from article_from_record(file, record, line_no)
    if file.records == 0:
        yield file.problem("no records (only a header line); nothing to ingest")
    yield from file.summary()


def _first_pass(file: SourceFile, delimiter: str) -> list[str]:
    """The header's columns, after reading every row (raises on bad bytes or bad CSV)."""
    reader = None
    with _open(file) as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader, None)
            columns = [h.strip() for h in header or []]
            file.fields = file.fields.matched(columns)
            date_at = _column(file.fields, "date", columns)
            dates = (row[date_at] for row in reader if date_at is not None and len(row) > date_at)
            file.order = infer_order(dates)
            for _ in reader:  # parse the rest even without a date column
                pass
        except csv.Error as err:
            raise csv.Error(str(err), reader.line_num) from None
    return columns


def _open(file: SourceFile) -> TextIO:
    # newline="": lines end at CR, LF or CRLF, and the ending reaches csv untranslated so that
    # it can tell a line break inside a quoted field from the end of a row
    return file.path.open(encoding=file.encoding, newline="")


def _first_bad_line(file: SourceFile) -> int:
    """The line of the first byte that is not UTF-8 (lines ending at CR, LF or CRLF)."""
    line = 1
    with file.path.open("rb") as f:
        for n, raw in enumerate(f):  # a \r\n is never split across these chunks
            if n == 0 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return line + len(_LINE_END.findall(raw, 0, err.start))
            line += len(_LINE_END.findall(raw))
    return line


def _column(fields: Fields, canonical: str, names: Sequence[str]) -> int | None:
    key = fields.key_in(canonical, names)
    return names.index(key) if key is not None else None


def _count_outside_quotes(line: str, char: str) -> int:
    return sum(part.count(char) for part in line.split('"')[::2])


def _allow_large_fields() -> None:
    # articles can be longer than csv's default 128 KiB field limit
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 2
