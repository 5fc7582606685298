"""A record's (or a page's, or a front matter's) fields as an ``Article``: ids, dates, extras.

Article ids are deterministic, so ingesting the same input twice changes nothing:
1. the record's ``id`` field (as a string);
2. else its ``url``;
3. else, for single-article files, the path id ``file:<path>`` (see ``SourceFile``);
4. else ``<path id>#<first 12 hex of sha1(title + "\\n" + text)>``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from rag.types import Article, Problem, Scalar

from ..clean import clean_text
from ..dates import parse_date
from .common import SourceFile, emit
from .fields import CANONICAL_FIELDS


def article_from_record(
    file: SourceFile, record: Mapping[str, Any], line: int | None, *, single: bool = False
) -> Iterator[Article | Problem]:
    """One JSONL/JSON/CSV record: its text field must be there and not empty."""
    if not file.first_keys:
        file.first_keys = tuple(str(k) for k in record)
    fields = file.fields.matched(record)
    text_key = fields.key_in("text", record)
    if text_key is None:
        problem = file.limited("no-text", (
            f"no {file.text_names[0]!r} field (fields: {', '.join(map(str, list(record)[:12]))}); "
            f"skipped: put the article text in {file.text_names[0]!r} or map it with "
            "--map text=FIELD"
        ), line)  # fmt: skip
        # held until the file shows it has articles: if no record has the field, one
        # file-level problem replaces them all (see SourceFile.summary)
        if problem is not None and file.articles == 0:
            file.held.append(problem)
        elif problem is not None:
            yield problem
        return
    text = clean_text(as_text(fields.value("text", record)[1]))
    if not text:
        yield from emit(file, "empty-text", f"empty {text_key!r} field; skipped: the record has "
                        "no article text", line)  # fmt: skip
        return
    title = one_line(as_text(fields.value("title", record)[1]))
    yield from article_from_fields(file, record, text=text, title=title, line=line, single=single)


def article_from_fields(
    file: SourceFile,
    record: Mapping[str, Any],
    *,
    text: str,
    title: str,
    line: int | None,
    single: bool,
    extra_keys: bool = True,
) -> Iterator[Article | Problem]:
    """The Article for a cleaned ``text`` and ``title`` and the rest of ``record``'s fields."""
    fields = file.fields.matched(record)

    content = hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()
    url = _scalar_text(fields.value("url", record)[1])
    explicit = _id_text(fields.value("id", record)[1])
    if explicit:
        article_id = explicit
    elif url:
        article_id = url
    elif single:
        article_id = file.file_id
    else:
        article_id = f"{file.file_id}#{content[:12]}"

    if article_id in file.seen:
        first_line, first_content = file.seen[article_id]
        same = " (same title and text)" if first_content == content else ""
        at = f"line {first_line}" if first_line else "earlier in this file"
        yield from emit(file, "duplicate", f"duplicate id {article_id!r}, first seen at {at}"
                        f"{same}; skipped: give records unique ids", line)  # fmt: skip
        return
    file.seen[article_id] = (line, content)

    raw_date = fields.value("date", record)[1]
    iso = parse_date(raw_date, order=file.order) if raw_date is not None else None
    if raw_date is not None and iso is None:
        yield from emit(file, "date", (
            f"date {raw_date!r} not understood; article kept without a date. Write dates as "
            "YYYY-MM-DD (5 April 2017, 05/04/2017 and RFC 2822 dates also work)"
        ), line)  # fmt: skip

    extra = _extra(record, {*CANONICAL_FIELDS, *fields.mapping.values()}) if extra_keys else {}
    if file.held:  # the file does have articles: the held problems are ordinary ones
        yield from file.held
        file.held.clear()
    file.articles += 1
    yield Article(
        id=article_id, text=text, title=title, lang=normalise_lang(fields.value("lang", record)[1]),
        date=iso, url=url, source=_scalar_text(fields.value("source", record)[1]),
        path=file.where, line=line, extra=extra,
    )  # fmt: skip


def as_text(value: Any) -> str:
    """A field's value as text: a list is paragraphs, an object has no text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # paragraphs
        return "\n\n".join(as_text(v) for v in value if v is not None)
    if isinstance(value, dict):
        return ""
    return str(value)


def one_line(text: str) -> str:
    return " ".join(clean_text(text).split())


def _scalar_text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _id_text(value: Any) -> str | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _scalar_text(value)


def _extra(record: Mapping[str, Any], used: set[str]) -> dict[str, Scalar]:
    """Fields that are neither canonical nor mapped: scalars as they are, lists and objects as
    compact JSON strings (Chroma metadata holds scalars only); null and "" are dropped."""
    extra: dict[str, Scalar] = {}
    for key, value in record.items():
        if key in used or not key or value is None or value == "":
            continue
        if isinstance(value, str | int | float | bool):
            extra[str(key)] = value
        else:
            extra[str(key)] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return extra


_LANG_NAMES = {
    "ita": "it", "italian": "it", "italiano": "it", "eng": "en", "english": "en",
    "inglese": "en", "fra": "fr", "fre": "fr", "french": "fr", "deu": "de", "ger": "de",
    "german": "de", "spa": "es", "spanish": "es", "por": "pt", "portuguese": "pt",
    "ara": "ar", "arabic": "ar", "rus": "ru", "russian": "ru", "tur": "tr", "turkish": "tr",
    "nld": "nl", "dut": "nl", "dutch": "nl", "ukr": "uk", "fas": "fa", "per": "fa",
    "heb": "he", "pol": "pl",
}  # fmt: skip


def normalise_lang(value: Any) -> str | None:
    """``"it-IT"``/``"ita"``/``"Italian"`` -> ``"it"``; None when there is no usable code."""
    if not isinstance(value, str) or not value.strip():
        return None
    primary = re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0]
    if len(primary) == 2 and primary.isalpha():
        return primary
    return _LANG_NAMES.get(primary)
