"""Exports holding many articles, one per record: JSONL and JSON (CSV: ``csv_records``).

The source's field names are mapped to the canonical ones with ``--map``. A first pass over
a file's dates decides whether ``05/04/2017`` is day or month first (``infer_order``) before
any article is made. A JSONL file is streamed, once for that pass and once for the articles,
so memory stays bounded whatever its size; a JSON file is read whole.

Whatever the JSON parser refuses (bad syntax, a number of thousands of digits, nesting too
deep to follow) is a Problem for the line or the file, never an exception.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any

from rag.types import Article, Problem

from ..dates import infer_order
from .article import article_from_record
from .common import (
    ICONV_HINT,
    SNIFF_BYTES,
    SourceFile,
    binary_reason,
    decode_whole,
    emit,
    read_bytes,
)

# an object in a .json file holds its records under one of these keys
RECORD_KEYS = ("articles", "items", "data", "records", "results", "documents", "entries", "posts")


# --- JSONL ------------------------------------------------------------------------------------
def read_jsonl(file: SourceFile) -> Iterator[Article | Problem]:
    with file.path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    reason = binary_reason(head)
    if reason:
        yield file.problem(reason)
        return
    file.text_names = file.fields.names("text")
    file.order = infer_order(_jsonl_dates(file))
    with file.path.open("rb") as f:
        for line_no, raw in enumerate(f, 1):
            if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            if not raw.strip():
                continue
            file.records += 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield from emit(file, "utf8", f"line is not valid UTF-8; skipped: {ICONV_HINT}",
                                line_no)  # fmt: skip
                continue
            try:
                record = _loads(line)
            except _REFUSED as err:
                yield from emit(file, "json", f"{_refusal(err)}; skipped: fix the line or remove "
                                "it", line_no)  # fmt: skip
                continue
            if not isinstance(record, dict):
                yield from emit(file, "not-object", "a JSONL line must hold one JSON object, "
                                f"not {_json_type(record)}; skipped", line_no)  # fmt: skip
                continue
            yield from article_from_record(file, record, line_no)
    if file.records == 0:
        yield file.problem("no records (the file holds only blank lines); nothing to ingest")
    yield from file.summary()


_NUMERIC_DATE = re.compile(rb"\d[/.-]\d{1,2}[/.-]\d\d")


def _jsonl_dates(file: SourceFile) -> Iterator[Any]:
    """The date values of a JSONL file, for ``infer_order`` (a cheap first pass)."""
    with file.path.open("rb") as f:
        for raw in f:
            if not _NUMERIC_DATE.search(raw):  # only numeric dates can vote
                continue
            try:
                record = json.loads(raw)
            except (*_REFUSED, UnicodeDecodeError):
                continue
            if isinstance(record, dict):
                yield file.fields.matched(record).value("date", record)[1]


# --- parsing ----------------------------------------------------------------------------------
# What json.loads raises for text it refuses: JSONDecodeError (a ValueError) for bad syntax, a
# plain ValueError for an integer of more than 4300 digits, RecursionError for deep nesting.
_REFUSED = (ValueError, RecursionError)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _loads(text: str) -> Any:
    """``json.loads``, with lone surrogate escapes (``"\\ud800"``) read as U+FFFD: JSON allows
    them, but they are not text and would fail wherever the article is encoded to UTF-8."""
    value = json.loads(text)
    return _no_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value


def _no_surrogates(value: Any) -> Any:
    # json.loads joins escaped pairs into one character, so any surrogate left is a lone one
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_no_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_no_surrogates(k): _no_surrogates(v) for k, v in value.items()}
    return value


def _refusal(err: Exception, *, with_line: bool = False) -> str:
    if isinstance(err, json.JSONDecodeError):
        where = f"line {err.lineno} column {err.colno}" if with_line else f"column {err.colno}"
        return f"invalid JSON ({err.msg} at {where})"
    if isinstance(err, RecursionError):
        return "cannot read this JSON: it is nested too deeply (arrays in arrays in arrays…)"
    return f"cannot read this JSON ({str(err).split(';')[0]})"


def _json_type(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


# --- JSON -------------------------------------------------------------------------------------
def read_json(file: SourceFile) -> Iterator[Article | Problem]:
    """An array of records, an object holding one, or one article object.

    An object that has the text field (after ``--map``) is one article, whatever lists it also
    holds (authors, tags…); only an object without one is searched for its records: under a
    ``RECORD_KEYS`` name, else in its only list of objects.
    """
    decoded = decode_whole(file, read_bytes(file))
    if isinstance(decoded, Problem):
        yield decoded
        return
    if not decoded.strip():
        yield file.problem("empty file; nothing to ingest")
        return
    try:
        document = _loads(decoded)
    except _REFUSED as err:
        line = err.lineno if isinstance(err, json.JSONDecodeError) else None
        yield file.problem(f"{_refusal(err, with_line=True)}; skipped: fix the file", line)
        return
    file.text_names = file.fields.names("text")
    if isinstance(document, dict) and file.fields.matched(document).key_in("text", document):
        file.records = 1
        yield from article_from_record(file, document, None, single=True)
        yield from file.summary()
        return
    key: str | None = None
    records: list[Any]
    if isinstance(document, list):
        records = document
    elif isinstance(document, dict) and (key := _records_key(document)) is not None:
        records, file.records_at = document[key], f" under {key!r}"
    elif isinstance(document, dict):
        fields = ", ".join(map(str, list(document)[:12])) or "none"
        yield file.problem(
            f"no {file.text_names[0]!r} field in this object (its fields: {fields}) and no "
            f"array of records in it; skipped. If the article text is under another name, map "
            f"it with --map text=FIELD; records go in an array under {'/'.join(RECORD_KEYS[:4])}"
        )
        return
    else:
        yield file.problem(
            f"no records: the file holds {_json_type(document)}; expected an array of objects, "
            f"an object holding one under {'/'.join(RECORD_KEYS[:4])}, or one article object"
        )
        return
    items = list(zip(_element_lines(decoded, _array_start(decoded, key)), records, strict=True))
    file.order = infer_order(
        file.fields.matched(r).value("date", r)[1] for _, r in items if isinstance(r, dict)
    )
    for line_no, record in items:
        file.records += 1
        if not isinstance(record, dict):
            yield from emit(file, "not-object", f"a record must be a JSON object, not "
                            f"{_json_type(record)}; skipped", line_no)  # fmt: skip
            continue
        yield from article_from_record(file, record, line_no)
    if file.records == 0:
        yield file.problem("no records (the array is empty); nothing to ingest")
    yield from file.summary()


def _records_key(document: dict[str, Any]) -> str | None:
    """The key of the records in an object: a ``RECORD_KEYS`` name, else its only record list."""
    key = next((k for k in RECORD_KEYS if isinstance(document.get(k), list)), None)
    if key is None:
        lists = [k for k, v in document.items() if _is_record_list(v)]
        key = lists[0] if len(lists) == 1 else None
    return key


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


# --- line numbers -----------------------------------------------------------------------------
_WS = re.compile(r"[ \t\r\n]*")  # JSON whitespace


def _skip_ws(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]  # r"…*" always matches


def _array_start(text: str, key: str | None) -> int:
    """Offset of the ``[`` of the top-level array, or of the array under top-level ``key``."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if key is None:
        return pos
    # where each member's value starts, in a dict that, like json.loads, keeps the LAST value
    # of a repeated key ({"articles": [], "articles": [...]} holds the second array)
    starts: dict[str, int] = {}
    pos += 1  # past "{"
    while text[_skip_ws(text, pos)] != "}":
        name, pos = decoder.raw_decode(text, _skip_ws(text, pos))
        pos = _skip_ws(text, _skip_ws(text, pos) + 1)  # past ":"
        starts[name] = pos
        _, pos = decoder.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if text[pos] == ",":
            pos += 1
    return starts[key]


def _element_lines(text: str, start: int) -> Iterator[int]:
    """The line on which each element of the (valid) array at ``start`` begins."""
    decoder = json.JSONDecoder()
    pos, line, counted = start + 1, 1 + text.count("\n", 0, start), start
    while True:
        pos = _skip_ws(text, pos)
        if text[pos] == "]":
            return
        line += text.count("\n", counted, pos)
        counted = pos
        yield line
        _, pos = decoder.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if text[pos] == ",":
            pos += 1
