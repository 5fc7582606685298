"""Plain text and Markdown files: one article each, with optional ``---`` front matter."""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag.types import Article, Problem

from ..clean import clean_text, split_title
from .article import article_from_fields, as_text, one_line
from .common import SourceFile, decode_whole, read_bytes

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FM_LINE = re.compile(r"^([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(.*?))?[ \t]*$")
_FM_ITEM = re.compile(r"^[ \t]+-[ \t]+(.*?)[ \t]*$")


def read_text(file: SourceFile) -> Iterator[Article | Problem]:
    """The article in a .txt, .md or .markdown file: title from front matter or first line."""
    decoded = decode_whole(file, read_bytes(file), legacy=True)
    if isinstance(decoded, Problem):
        yield decoded
        return
    yield from file.held  # e.g. read as Windows-1252
    file.held.clear()
    meta, body = parse_front_matter(decoded)
    markdown = file.path.suffix.lower() in (".md", ".markdown")
    text = clean_text(_strip_markdown(body) if markdown else body)
    title = one_line(as_text(file.fields.matched(meta).value("title", meta)[1]))
    if title:
        heading, rest = split_title(text)
        if heading.casefold() == title.casefold():
            text = rest
    else:
        title, text = split_title(text)
        title = one_line(title)
    if markdown:
        text = _MD_HEADING_MARK.sub("", text)
    if not text:
        yield file.problem("empty file (nothing but whitespace or page chrome); nothing to ingest")
        return
    yield from article_from_fields(file, meta, text=text, title=title, line=None, single=True)


def parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    """``({key: value}, rest)`` for a text starting with a ``---`` block of ``key: value`` lines.

    A deliberately small parser instead of PyYAML: YAML turns ``lang: no`` into False and
    dates into date objects, and rejects an unquoted title holding ": " ("Siria: Isis
    implode"), all common in hand-written front matter. Values may be quoted; ``key:``
    followed by ``- item`` lines gives the items joined by ", ". Keys are lower-cased (and
    ``--map`` names are matched to them whatever their case: see ``Fields``).
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    meta: dict[str, str] = {}
    key = None
    for line in match.group(1).split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _FM_ITEM.match(line)
        if item and key:
            meta[key] = ", ".join(filter(None, [meta[key], _unquote(item.group(1))]))
            continue
        pair = _FM_LINE.match(line)
        if not pair:
            continue  # not a key: value line; keep the rest rather than refuse the file
        key = pair.group(1).lower()
        meta[key] = _unquote(pair.group(2) or "")
    return meta, text[match.end() :]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        return inner.replace('\\"', '"') if value[0] == '"' else inner.replace("''", "'")
    return value


_MD_RULES = [
    (re.compile(r"<!--.*?-->", re.DOTALL), ""),
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links keep their text
    (re.compile(r"^\s{0,3}\[[^\]]+\]:\s+\S+.*$", re.MULTILINE), ""),  # link definitions
    (re.compile(r"^\s{0,3}(?:[-*_]\s*){3,}$", re.MULTILINE), ""),  # horizontal rules
    (re.compile(r"^\s{0,3}>\s?", re.MULTILINE), ""),  # block quotes
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # italic
    (re.compile(r"`([^`\n]+)`"), r"\1"),
]


_MD_HEADING_MARK = re.compile(r"^#{1,6}\s+|\s+#+$", re.MULTILINE)


def _strip_markdown(text: str) -> str:
    """Markdown syntax out of the way, headings kept as lines (split_title still sees '#')."""
    for pattern, replacement in _MD_RULES:
        text = pattern.sub(replacement, text)
    return text
