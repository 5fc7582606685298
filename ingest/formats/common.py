"""What every reader shares: the file being read, its capped problem log, the byte checks."""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag.types import Problem

from ..dates import Order
from .fields import Fields

# identical problems (same kind) listed per file before the rest are only counted
MAX_SAME_PROBLEM = 5

ICONV_HINT = "re-save it as UTF-8, e.g. `iconv -f cp1252 -t utf-8 IN > OUT`"
SNIFF_BYTES = 8192


@dataclass
class SourceFile:
    """One file being read: where it is, its ids so far and its problem log."""

    path: Path
    fields: Fields
    where: str = ""
    file_id: str = ""
    order: Order | None = None
    seen: dict[str, tuple[int | None, str]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    first: dict[str, Problem] = field(default_factory=dict)
    held: list[Problem] = field(default_factory=list)
    records: int = 0
    articles: int = 0
    text_names: tuple[str, ...] = ()
    first_keys: tuple[str, ...] = ()
    records_at: str = ""  # where in the file the records are, e.g. " under 'posts'"
    encoding: str = "utf-8-sig"  # a CSV read as a legacy encoding (see decode_legacy)

    def __post_init__(self) -> None:
        resolved = self.path.resolve()
        self.where = str(resolved)
        self.file_id = _path_id(resolved)

    def problem(self, reason: str, line: int | None = None) -> Problem:
        return Problem(self.where, reason, line)

    def limited(self, kind: str, reason: str, line: int | None) -> Problem | None:
        """A Problem for the first ``MAX_SAME_PROBLEM`` of a kind; later ones are only counted."""
        self.counts[kind] += 1
        problem = self.problem(reason, line)
        if self.counts[kind] == 1:
            self.first[kind] = problem
        return problem if self.counts[kind] <= MAX_SAME_PROBLEM else None

    def summary(self) -> Iterator[Problem]:
        """After the last record: the held and counted problems, or one that sums them up."""
        if self.articles == 0 and self.records and self.counts["no-text"] == self.records:
            fields = ", ".join(self.first_keys[:12]) or "none"
            yield self.problem(
                f"none of the {self.records} records{self.records_at} has a "
                f"{self.text_names[0]!r} field (the first has: {fields}), so this does not look "
                "like a file of articles; "
                "skipped. If the article text is under another name, map it with "
                "--map text=FIELD"
            )
            return
        yield from self.held
        self.held.clear()
        for kind, n in self.counts.items():
            if n > MAX_SAME_PROBLEM:
                first = self.first[kind]
                yield self.problem(
                    f"{n - MAX_SAME_PROBLEM} more records with this kind of problem, not listed "
                    f"(the first was line {first.line}: {first.reason})"
                )


def emit(file: SourceFile, kind: str, reason: str, line: int | None) -> Iterator[Problem]:
    """``file.limited`` as a generator: the Problem, unless too many of its kind came first."""
    problem = file.limited(kind, reason, line)
    if problem is not None:
        yield problem


def _path_id(resolved: Path) -> str:
    try:
        return "file:" + resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return "file:" + resolved.as_posix()


# --- bytes to text ----------------------------------------------------------------------------
def binary_reason(head: bytes) -> str | None:
    """Why a file starting with ``head`` is not UTF-8 text, or None when it may be."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return (
            "file is UTF-16, not UTF-8; skipped: re-save it as UTF-8, e.g. "
            "`iconv -f utf-16 -t utf-8 IN > OUT`"
        )
    sample = head.decode("utf-8", errors="replace")
    if b"\x00" in head or sample.count("\ufffd") > 0.3 * len(sample):
        return (
            "binary file (NUL bytes or mostly undecodable), not text; skipped. If it is a "
            "spreadsheet or a document, export it as CSV (UTF-8), plain text or HTML first"
        )
    return None


def decode_whole(file: SourceFile, data: bytes, *, legacy: bool = False) -> str | Problem:
    """The file's text, or the Problem that says why it cannot be decoded.

    With ``legacy``, a text that is not UTF-8 is read in the 8-bit encoding it is in
    (``decode_legacy``) and a warning is added to ``file.held`` for the reader to yield.
    """
    head = data[:SNIFF_BYTES]
    reason = binary_reason(head)
    # Cyrillic or Greek in an 8-bit encoding is mostly undecodable as UTF-8, yet has no NUL
    maybe_legacy = legacy and (reason is None or (b"\x00" not in head and "UTF-16" not in reason))
    if reason and not maybe_legacy:
        return file.problem(reason)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        found = decode_legacy(data) if maybe_legacy else None
        if found is not None:
            file.held.append(legacy_warning(file, found[1]))
            return found[0]
        if reason:
            return file.problem(reason)
        line = data.count(b"\n", 0, err.start) + 1
        return file.problem(f"not valid UTF-8 (first bad byte on line {line}); skipped: "
                            f"{ICONV_HINT}", line)  # fmt: skip


# 8-bit encodings a text can be read in; a detector's guess of a multi-byte one (UTF-16,
# Big5, Shift-JIS…) for a short Latin text is a misreading, not an answer
_SINGLE_BYTE = re.compile(
    r"^(?:cp125\d|cp8\d\d|latin_1|iso8859_\d+|koi8_\w|mac_\w+|cp1006|tis_620)$"
)
_WESTERN = ("cp1252", "latin_1", "iso8859_15", "iso8859_1")
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_NOT_ASCII = re.compile(rb"[\x80-\xff]")


def decode_legacy(data: bytes) -> tuple[str, str] | None:
    """``(text, encoding)`` for bytes that are not UTF-8 but one 8-bit encoding throughout.

    charset-normalizer proposes the encodings the bytes read cleanly in. On a short Italian
    or English text its first choice is often wrong (cp1250, cp1258 for "La città è
    bella"), so Windows-1252 is taken whenever it counts among the plausible ones (as
    browsers read unlabelled Western pages); else its best single-byte guess (cp1251 for
    Russian, cp1250 for Polish). None when the bytes are mostly valid UTF-8 with some damage
    (read as cp1252 they would turn every accent into mojibake) or no 8-bit encoding fits.
    """
    from charset_normalizer import from_bytes

    utf8 = sum(len(m) for m in _UTF8_SEQUENCE.findall(data))
    if utf8 * 2 >= len(_NOT_ASCII.findall(data)):
        return None
    matches = [m for m in from_bytes(data) if _SINGLE_BYTE.match(m.encoding)]
    if not matches:
        return None
    least = min(m.chaos for m in matches)
    plausible = [m for m in matches if m.chaos <= least + 0.05]
    if any(m.encoding in _WESTERN for m in plausible):
        for encoding in ("cp1252", "latin_1"):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                continue
    best = plausible[0]
    return data.decode(best.encoding, errors="replace"), best.encoding


def legacy_warning(file: SourceFile, encoding: str) -> Problem:
    names = {"cp1252": "Windows-1252 (Western European)", "latin_1": "Latin-1 (ISO-8859-1)"}
    name = names.get(encoding, encoding)
    return Problem(
        file.where,
        f"not UTF-8: read as {name}, detected; check its accented letters, and re-save it as "
        f"UTF-8 to be sure, e.g. `iconv -f {encoding.replace('_', '-')} -t utf-8 IN > OUT`",
        warning=True,
    )


def read_bytes(file: SourceFile) -> bytes:
    with file.path.open("rb") as f:
        return f.read()
