"""Ingesting files sent by another machine (``newsrag ingest --server URL``) as if read there.

An article's id and stored path come from its file's path (ingest/sources.py): a text file's
article is ``file:<path>``, and ``--prune`` compares stored paths with the files found. Uploaded
files sit in a temporary folder on the server, so the sender also sends each file's path on its
own machine (``Sent``: resolved path and path id, as ``SourceFile`` computes them there) and the
articles read here are given those. Ingesting a file through the server or locally from the same
folder therefore gives the same ids: nothing is stored twice, and a later local ingest or
``--prune`` recognises the articles.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from rag.errors import InputError
from rag.types import Article, Problem

from .formats.common import SourceFile
from .formats.fields import Fields
from .sources import SUPPORTED, read_file
from .sync import Counts, Ingestor, IngestReport

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"[^\w.\-]+", re.UNICODE)


@dataclass(frozen=True)
class Sent:
    """A file as the sender sees it."""

    where: str  # its resolved path on the sender's machine
    file_id: str  # its path id there (the base of its articles' ids)

    @classmethod
    def of(cls, path: Path) -> Sent:
        """How the sender describes one of its files (the same rules as a local ingest)."""
        source = SourceFile(path, Fields({}))
        return cls(source.where, source.file_id)

    @classmethod
    def from_json(cls, data: object, n: int) -> Sent:
        if not isinstance(data, Mapping) or not all(
            isinstance(data.get(k), str) and data.get(k) for k in ("where", "file_id")
        ):
            raise InputError(
                f"files[{n}] must be an object with the file's path on the sending machine "
                '("where") and its path id ("file_id"), as `newsrag ingest --server` sends them.'
            )
        return cls(data["where"], data["file_id"])


@dataclass(frozen=True)
class Received:
    local: Path  # where its bytes are on this machine
    sent: Sent


def receive(folder: Path, files: Sequence[tuple[Sent, BinaryIO]]) -> list[Received]:
    """Copies the uploaded files into ``folder``, one sub-folder each (names may repeat)."""
    out = []
    for n, (sent, data) in enumerate(files):
        name = _SAFE_NAME.sub("_", Path(sent.where).name).lstrip(".") or "file"
        target = folder / f"{n:06d}" / name
        target.parent.mkdir(parents=True)
        with target.open("wb") as f:
            shutil.copyfileobj(data, f, 1 << 20)
        out.append(Received(target, sent))
    return out


def ingest_received(
    ingestor: Ingestor,
    received: Sequence[Received],
    *,
    field_map: Mapping[str, str] | None,
    max_bytes: int,
    prune_roots: Sequence[str] | None,
    progress: Callable[[Counts], None] | None = None,
) -> IngestReport:
    """Ingests uploaded files under their senders' paths; prunes under ``prune_roots``."""
    by_local = {r.local: r.sent for r in received}
    readable = [r.local for r in received if r.local.suffix.lower() in SUPPORTED]

    def reader(path: Path) -> Iterator[Article | Problem]:
        sent = by_local[path]
        here = SourceFile(path, Fields({}))
        for item in read_file(path, field_map=field_map, max_bytes=max_bytes):
            yield _as_sent(item, here, sent)

    report = ingestor.run(
        readable,
        field_map=field_map,
        max_bytes=max_bytes,
        prune=prune_roots is not None,
        prune_roots=prune_roots,
        progress=progress,
        reader=reader,
    )
    unsupported = [
        Problem(r.sent.where, f"unsupported file type {r.local.suffix!r}; skipped")
        for r in received
        if r.local.suffix.lower() not in SUPPORTED
    ]
    return replace(report, problems=(*unsupported, *report.problems)) if unsupported else report


def _as_sent(item: Article | Problem, here: SourceFile, sent: Sent) -> Article | Problem:
    if isinstance(item, Problem):
        return replace(item, path=sent.where) if item.path in (here.where, str(here.path)) else item
    article_id = item.id
    if article_id.startswith(here.file_id):  # ids made from the path, not given by the record
        article_id = sent.file_id + article_id[len(here.file_id) :]
    return replace(item, id=article_id, path=sent.where)


def describe(paths: Iterable[Path]) -> list[Sent]:
    return [Sent.of(p) for p in paths]
