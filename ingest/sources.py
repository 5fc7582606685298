"""Finding article files and reading them into ``Article`` records, whatever the format.

Formats: plain text and Markdown (optional ``---`` front matter), HTML pages (main text
without the site's chrome), JSONL, JSON and CSV exports (one article per record, column
names mapped with ``--map``). Everything the user should hear about comes back as a
``Problem`` next to the articles, never as an exception: a bad file or record is skipped
(a bad date only loses the date) and the rest of the input is still read. This module
finds the files and hands each to its format's reader in ``ingest.formats``.

Article ids are deterministic, so ingesting the same input twice changes nothing:
1. the record's ``id`` field (as a string);
2. else its ``url``;
3. else, for single-article files (.txt .md .html, a .json holding one object), the path
   id ``file:<path relative to the current directory>`` (``file:<absolute path>`` when the
   file is elsewhere);
4. else ``<path id>#<first 12 hex of sha1(title + "\\n" + text)>``.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.types import Article, Problem

from .formats import csv_records, docx, html, pdf, records, text
from .formats.article import normalise_lang
from .formats.common import MAX_SAME_PROBLEM, SourceFile
from .formats.fields import CANONICAL_FIELDS, Fields, parse_field_map
from .formats.records import RECORD_KEYS
from .formats.text import parse_front_matter

__all__ = [
    "CANONICAL_FIELDS",
    "MAX_SAME_PROBLEM",
    "RECORD_KEYS",
    "SUPPORTED",
    "discover",
    "normalise_lang",
    "parse_field_map",
    "parse_front_matter",
    "read_file",
]

log = logging.getLogger(__name__)

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".jsonl", ".json",
             ".csv")  # fmt: skip

_SUPPORTED_TEXT = " ".join(SUPPORTED)
_MB = 1024 * 1024
# a folder's README or LICENSE describes the archive; it is not an article in it
_NOT_ARTICLES = re.compile(r"^(readme|licen[cs]e|changelog|contributing)(\.[^.]+)?$", re.I)


# --- discovery --------------------------------------------------------------------------------
def discover(
    paths: Sequence[Path], exclude: Sequence[Path] = ()
) -> tuple[list[Path], list[Problem]]:
    """The supported files under ``paths``, in a deterministic order, and what was wrong.

    Folders are searched recursively in name order, skipping hidden files and folders,
    README/LICENSE/CHANGELOG files (they describe an archive; name one explicitly to ingest
    it) and anything under ``exclude``. Symlinked folders are followed, each real folder read
    once, so a link back up the tree cannot loop. A missing path or an explicitly named file
    of an unsupported type is a Problem. Unsupported files inside a folder are listed too, one
    Problem per type with their count, an example and what to do; a named folder yielding no
    supported file at all is one Problem naming what it did hold (unless what it held was
    excluded: the index folder says nothing about the archive).
    """
    excluded = [Path(p).resolve() for p in exclude]
    found: list[Path] = []
    seen: set[Path] = set()
    problems: list[Problem] = []

    def keep(path: Path) -> None:
        resolved = _resolve(path)
        if resolved is None:
            problems.append(Problem(str(path), "cannot follow this symlink (it loops back to "
                                    "itself); fix or remove the link"))  # fmt: skip
        elif resolved not in seen:
            seen.add(resolved)
            found.append(path)

    for path in map(Path, paths):
        if not path.exists():
            problems.append(Problem(str(path), "no such file or folder; check the path"))
        elif _is_excluded(path.resolve(), excluded):
            log.debug("skipping %s: it is under an excluded folder", path)
        elif path.is_dir():
            walk = _walk(path, excluded)
            problems.extend(walk.problems)
            for f in walk.files:
                keep(f)
            if not walk.files and (walk.skipped or not walk.excluded):
                problems.append(Problem(str(path), _nothing_to_read(walk)))
            else:
                problems.extend(_not_read(path, walk))
        elif path.suffix.lower() in SUPPORTED:
            keep(path)
        else:
            problems.append(Problem(str(path), _unsupported(path)))
    return found, problems


def _nothing_to_read(walk: _Walk) -> str:
    if walk.skipped:
        kinds = ", ".join(
            f"{n} {ext or 'without extension'}" for ext, n in walk.skipped.most_common()
        )
        return (f"no supported files in this folder (it holds {kinds}); newsrag reads "
                f"{_SUPPORTED_TEXT}: convert the articles to one of these")  # fmt: skip
    held = (
        f"it holds only {walk.ignored} hidden or README/LICENSE-like files, which are not read "
        "as articles (name one explicitly to ingest it)"
        if walk.ignored
        else "it is empty"
    )
    return f"nothing to read in this folder: {held}; newsrag reads {_SUPPORTED_TEXT} files"


# what to do with the files of a type newsrag does not read
_ADVICE = [
    ((".doc",), "save them as .docx or PDF"),
    ((".xls", ".xlsx", ".ods", ".numbers"), "export them as CSV (UTF-8)"),
    ((".odt", ".rtf", ".pages", ".wpd", ".epub"), "save them as .docx, PDF or plain text"),
    ((".xml", ".rss", ".atom"), "if they are feeds or sitemaps, follow the site with "
     "`newsrag sources add URL`; otherwise convert them to .html or .txt"),
    ((".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp", ".svg", ".heic"),
     "images hold no text newsrag can read: if they are scanned pages, OCR them into a PDF "
     "(e.g. `ocrmypdf`); otherwise nothing to do"),
    ((".mp3", ".wav", ".ogg", ".m4a", ".mp4", ".mov", ".avi", ".mkv", ".webm"),
     "audio and video are not read: transcribe them to .txt to make them searchable"),
    ((".zip", ".tar", ".gz", ".tgz", ".7z", ".rar", ".bz2", ".xz"),
     "unpack them and ingest the folder"),
]  # fmt: skip


def _not_read(root: Path, walk: _Walk) -> list[Problem]:
    """One Problem per unsupported type under ``root``: how many, an example, what to do."""
    out = []
    for ext, n in walk.skipped.most_common():
        advice = next((a for exts, a in _ADVICE if ext in exts),
                      f"convert them to one of {_SUPPORTED_TEXT}")  # fmt: skip
        kind = f"{ext} file" if ext else "file without extension"
        example = walk.examples[ext]
        out.append(Problem(str(root), f"{n} {kind}{'s' if n > 1 else ''} not read (e.g. "
                           f"{example}): newsrag does not read this type; {advice}"))  # fmt: skip
    return out


def _unsupported(path: Path) -> str:
    kind = f"type {path.suffix!r}" if path.suffix else "type (no extension)"
    return f"unsupported file {kind}; newsrag reads {_SUPPORTED_TEXT}: convert it to one of these"


def _is_excluded(resolved: Path, excluded: Sequence[Path]) -> bool:
    return any(resolved == e or resolved.is_relative_to(e) for e in excluded)


@dataclass
class _Walk:
    files: list[Path] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # unsupported files, by extension
    examples: dict[str, str] = field(default_factory=dict)  # extension -> one such file
    ignored: int = 0  # hidden files and folders, READMEs and the like
    excluded: int = 0
    problems: list[Problem] = field(default_factory=list)


def _walk(root: Path, excluded: Sequence[Path]) -> _Walk:
    walk = _Walk()
    # each real folder is read once (by device and inode), so a symlink to an ancestor (a loop)
    # or to a folder already read is not followed again
    read = {_identity(root)}

    def on_error(err: OSError) -> None:
        walk.problems.append(Problem(str(err.filename), f"cannot read this folder "
                                     f"({err.strerror}); check its permissions"))  # fmt: skip

    for folder, dirs, names in os.walk(root, onerror=on_error, followlinks=True):
        here = Path(folder)
        kept = []
        for d in sorted(dirs):
            if d.startswith("."):
                walk.ignored += 1
                continue
            resolved = _resolve(here / d)
            identity = _identity(here / d)
            if resolved is not None and _is_excluded(resolved, excluded):
                walk.excluded += 1
            elif identity in read:
                log.info("not following %s: it leads to a folder already read", here / d)
            else:
                read.add(identity)
                kept.append(d)
        dirs[:] = kept
        for name in sorted(names):
            path = here / name
            if name.startswith(".") or _NOT_ARTICLES.match(name):
                walk.ignored += 1
            elif path.suffix.lower() in SUPPORTED:
                walk.files.append(path)
            else:
                walk.skipped[path.suffix.lower()] += 1
                walk.examples.setdefault(path.suffix.lower(), str(path.relative_to(root)))
    return walk


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _resolve(path: Path) -> Path | None:
    """The real path, or None for a symlink loop (RuntimeError before Python 3.13)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


# --- reading ----------------------------------------------------------------------------------
def read_file(
    path: Path, *, field_map: Mapping[str, str] | None = None, max_bytes: int
) -> Iterator[Article | Problem]:
    """The articles in one file, and a Problem for everything in it that could not be used.

    ``field_map`` (from ``parse_field_map``) names the source's columns for JSONL/JSON/CSV
    records and front matter. Files larger than ``max_bytes`` are skipped with a Problem.
    JSONL and CSV files are streamed, so their memory stays bounded whatever their size; a
    .json file, like a text, Markdown or HTML file, is read whole (hence ``max_bytes``).
    No exception escapes for any input: what a reader did not foresee becomes a Problem too.
    """
    path = Path(path)
    try:
        file = SourceFile(path, Fields(field_map or {}))
        size = path.stat().st_size
    except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop, before Python 3.13
        reason = (
            _os_reason(err)
            if isinstance(err, OSError)
            else f"cannot follow this symlink ({err}); fix or remove the link"
        )
        yield Problem(str(path), reason)
        return
    if size > max_bytes:
        yield file.problem(
            f"file is {_over(size, max_bytes)}; skipped. "
            "Raise the limit with NEWSRAG_MAX_FILE_MB or --max-file-mb"
        )
        return
    if size == 0:
        yield file.problem("empty file; nothing to ingest")
        return
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        yield file.problem(_unsupported(path))
        return
    try:
        yield from reader(file)
    except OSError as err:
        yield file.problem(_os_reason(err))
    except Exception as err:  # the last line of defence: one odd file must not stop an ingest
        log.debug("reading %s failed", file.where, exc_info=True)
        yield file.problem(
            f"could not read this file ({type(err).__name__}: {err}); please report it"
        )


def _over(size: int, limit: int) -> str:
    """``"3.0 MB, over the 2.0 MB limit"``, in bytes when MB would show the same number."""
    mb, limit_mb = f"{size / _MB:.1f} MB", f"{limit / _MB:.1f} MB"
    if mb != limit_mb:
        return f"{mb}, over the {limit_mb} limit"
    return f"{size:,} bytes, over the {limit:,}-byte limit ({limit_mb})"


def _os_reason(err: OSError) -> str:
    if isinstance(err, PermissionError):
        return f"cannot read the file ({err.strerror}); check its permissions (e.g. chmod a+r)"
    if isinstance(err, IsADirectoryError):
        return "is a folder, not a file; pass the folder itself to read the files in it"
    return f"cannot read the file ({err.strerror or err}); check that it exists and is readable"


# The HTML reader's main-text extractor, looked up here at each call: the one seam to swap it
# (tests set it to ``lambda html: None`` to exercise the lxml fallback).
_trafilatura: html.Extractor = html.extract_with_trafilatura


def _read_page(file: SourceFile) -> Iterator[Article | Problem]:
    return html.read_page(file, _trafilatura)


_READERS: dict[str, Callable[[SourceFile], Iterator[Article | Problem]]] = {
    ".txt": text.read_text,
    ".md": text.read_text,
    ".markdown": text.read_text,
    ".html": _read_page,
    ".htm": _read_page,
    ".jsonl": records.read_jsonl,
    ".json": records.read_json,
    ".csv": csv_records.read_csv,
    ".pdf": pdf.read_pdf,
    ".docx": docx.read_docx,
}
