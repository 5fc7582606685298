"""Incremental, idempotent, resumable ingest of files into an archive index.

For every article read: unchanged (same content hash, fully written) → nothing to do; new or
changed → detect language, chunk, embed, replace its chunks. Work is flushed in batches of
chunks; each batch is written manifest-first (``pending``), then the vector store, then marked
``done`` (see rag/archive/manifest.py for why that survives kill -9). ``prune`` removes articles
whose source is gone; a file that reported a problem is never pruned from, so nothing stored is
lost because of a bad file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.archive.index import ArchiveIndex
from rag.archive.manifest import ArticleRecord
from rag.embedding import Embedder
from rag.language import detect_language
from rag.types import Article, Chunk, Problem, date_number

from .chunking import CHUNKER_VERSION, chunk_article
from .sources import discover, read_file
from .stories import StoryLinker, article_vector, relabel_after_delete

log = logging.getLogger(__name__)

Reader = Callable[[Path], Iterable[Article | Problem]]


@dataclass(frozen=True)
class Counts:
    """A snapshot for progress displays."""

    files_done: int
    files_total: int
    articles: int
    chunks: int
    seconds: float


@dataclass(frozen=True)
class IngestReport:
    files: int
    articles_seen: int
    added: int
    updated: int
    unchanged: int
    recovered: int
    removed: int
    chunks_written: int
    stories_linked: int
    seconds: float
    embed_seconds: float
    problems: tuple[Problem, ...] = ()
    written_ids: tuple[str, ...] = ()
    warnings: tuple[Problem, ...] = ()  # inputs read, with something to check

    @property
    def written(self) -> int:
        return self.added + self.updated + self.recovered

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_written / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        """The report as JSON (what the admin ingest route returns)."""
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _PROBLEM_LISTS:
            out[name] = [asdict(p) for p in getattr(self, name)]
        out["written_ids"] = list(self.written_ids)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], extra: Sequence[Problem] = ()) -> IngestReport:
        """A report read back from ``to_json``, with ``extra`` problems (the sender's own)."""
        values: dict[str, Any] = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        for name in _PROBLEM_LISTS:
            values[name] = tuple(Problem(**p) for p in data.get(name, ()))
        values["problems"] = (*extra, *values["problems"])
        values["written_ids"] = tuple(data.get("written_ids", ()))
        return cls(**values)


_PROBLEM_LISTS = ("problems", "warnings")


@dataclass
class _Prepared:
    record: ArticleRecord
    chunks: list[Chunk]
    kind: str  # added | updated | recovered


@dataclass
class _Run:
    seen: dict[str, str] = field(default_factory=dict)  # id -> where first seen
    problem_paths: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    batch: list[_Prepared] = field(default_factory=list)
    batch_chunks: int = 0
    tally: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "articles_seen",
                "added",
                "updated",
                "unchanged",
                "recovered",
                "removed",
                "chunks_written",
                "stories_linked",
            ),
            0,
        )
    )
    embed_seconds: float = 0.0
    written: list[str] = field(default_factory=list)  # ids added, updated or recovered

    def counts(self, files_done: int, files_total: int, started: float) -> Counts:
        return Counts(
            files_done,
            files_total,
            self.tally["articles_seen"],
            self.tally["chunks_written"],
            time.perf_counter() - started,
        )


def is_web_path(path: str) -> bool:
    """Articles synced from feeds and sitemaps keep their page's URL as their path."""
    return path.startswith(("http://", "https://"))


def content_hash(article: Article, chunk_config: str) -> str:
    payload = json.dumps(
        [
            article.title,
            article.text,
            article.lang,
            article.date,
            article.url,
            article.source,
            sorted(article.extra.items()),
            chunk_config,
        ],
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()


class Ingestor:
    def __init__(
        self,
        index: ArchiveIndex,
        embedder: Embedder,
        *,
        chunk_tokens: int = 200,
        chunk_overlap: int = 40,
        batch_chunks: int = 512,
        linker: StoryLinker | None = None,
        update_lexical: bool = True,
    ) -> None:
        self.index = index
        # off when the process that serves the index refreshes its own lexical index instead
        self.update_lexical = update_lexical
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.batch_chunks = batch_chunks
        self.linker = linker or StoryLinker()
        self.chunk_config = f"v{CHUNKER_VERSION}/{chunk_tokens}/{chunk_overlap}/{embedder.label}"

    def run(
        self,
        paths: Sequence[Path],
        *,
        field_map: Mapping[str, str] | None = None,
        max_bytes: int,
        prune: bool = False,
        progress: Callable[[Counts], None] | None = None,
        reader: Reader | None = None,
        prune_roots: Sequence[str] | None = None,
    ) -> IngestReport:
        """Ingest the files under ``paths`` (see ``ingest.sources``).

        ``reader`` reads one file (default: ``read_file`` with ``field_map`` and ``max_bytes``);
        uploads use it to give articles the paths they had on the sender's machine. With
        ``prune``, stored articles under ``paths`` that this run did not see are removed, and
        those whose file is gone; with ``prune_roots`` (paths as stored, of files that are not
        on this machine) only the unseen ones stored under those roots.
        """
        started = time.perf_counter()
        run = _Run()
        files, found_problems = discover(paths, exclude=[self.index.index_dir])
        run.problems.extend(found_problems)
        done = 0

        def report(files_done: int) -> None:
            if progress:
                progress(run.counts(files_done, len(files), started))

        def read(path: Path) -> Iterable[Article | Problem]:
            return read_file(path, field_map=field_map, max_bytes=max_bytes)

        def items() -> Iterator[Article | Problem]:
            nonlocal done
            for n, path in enumerate(files, 1):
                yield from (reader or read)(path)
                done = n
                report(n)

        report(0)
        self._write(run, items(), lambda: report(done))
        if prune:
            self._prune(paths, run, prune_roots)
        return self._finish(run, started, len(files), lambda: report(len(files)))

    def add_articles(
        self,
        items: Iterable[Article | Problem],
        *,
        progress: Callable[[Counts], None] | None = None,
    ) -> IngestReport:
        """Ingest articles read elsewhere (a feed's pages): the same write path as ``run``.

        Each article is compared with the stored one by content hash (unchanged: nothing is
        embedded), written crash-safely, linked to its stories, and the lexical index brought
        up to date, exactly as for files. Nothing is ever pruned here. ``files`` in the
        report and the progress counts is 0.
        """
        started = time.perf_counter()
        run = _Run()

        def report() -> None:
            if progress:
                progress(run.counts(0, 0, started))

        self._write(run, items, report)
        return self._finish(run, started, 0, report)

    def _write(
        self, run: _Run, items: Iterable[Article | Problem], after_flush: Callable[[], None]
    ) -> None:
        manifest = self.index.manifest
        known = manifest.hashes()
        interrupted = {r.id: r for r in manifest.pending()}
        for item in items:
            if isinstance(item, Problem) and item.warning:
                run.warnings.append(item)
                continue
            if isinstance(item, Problem):
                run.problems.append(item)
                run.problem_paths.add(item.path)
                continue
            self._consider(item, run, known, interrupted)
            if run.batch_chunks >= self.batch_chunks:
                self._flush(run)
                after_flush()
        # articles cut off by an earlier, interrupted run and not in this run's input
        for record in interrupted.values():
            if record.id not in run.seen:
                self._queue(run, record, "recovered")
        self._flush(run)

    def _finish(
        self, run: _Run, started: float, files: int, report: Callable[[], None]
    ) -> IngestReport:
        if self.update_lexical:  # the BM25 index, updated with what was written
            self.index.refresh_lexical(save=True)
        self.index.update_language_centroids()  # the stories linked may have changed
        report()
        t = run.tally
        return IngestReport(
            files=files,
            articles_seen=t["articles_seen"],
            added=t["added"],
            updated=t["updated"],
            unchanged=t["unchanged"],
            recovered=t["recovered"],
            removed=t["removed"],
            chunks_written=t["chunks_written"],
            stories_linked=t["stories_linked"],
            seconds=time.perf_counter() - started,
            embed_seconds=run.embed_seconds,
            problems=tuple(run.problems),
            written_ids=tuple(run.written),
            warnings=tuple(run.warnings),
        )

    # --------------------------------------------------------------------------------------
    def _consider(
        self,
        article: Article,
        run: _Run,
        known: dict[str, tuple[str, str]],
        interrupted: dict[str, ArticleRecord],
    ) -> None:
        if article.id in run.seen:
            problem = Problem(
                article.path,
                f"duplicate article id {article.id!r} (first seen at {run.seen[article.id]}); "
                "skipped: give each article a unique id",
                article.line,
            )
            run.problems.append(problem)
            run.problem_paths.add(article.path)
            return
        run.seen[article.id] = article.where
        run.tally["articles_seen"] += 1
        digest = content_hash(article, self.chunk_config)
        stored = known.get(article.id)
        if stored == (digest, "done"):
            run.tally["unchanged"] += 1
            return
        kind = "added" if stored is None else "updated"
        if article.id in interrupted and interrupted[article.id].content_hash == digest:
            kind = "recovered"
        lang = article.lang or detect_language(f"{article.title}\n{article.text}")
        record = ArticleRecord(
            id=article.id,
            content_hash=digest,
            state="pending",
            path=article.path,
            line=article.line,
            title=article.title,
            lang=lang,
            date=article.date,
            url=article.url,
            source=article.source,
            text=article.text,
            extra=dict(article.extra),
        )
        self._queue(run, record, kind)

    def _queue(self, run: _Run, record: ArticleRecord, kind: str) -> None:
        chunks = chunk_article(
            record.id,
            record.text,
            title=record.title,
            lang=record.lang,
            count_tokens=self.embedder.count_tokens,
            max_tokens=self.chunk_tokens,
            overlap=self.chunk_overlap,
        )
        run.batch.append(_Prepared(replace(record, n_chunks=len(chunks)), chunks, kind))
        run.batch_chunks += len(chunks)

    def _flush(self, run: _Run) -> None:
        if not run.batch:
            return
        batch, run.batch, run.batch_chunks = run.batch, [], 0
        chunks = [c for p in batch for c in p.chunks]
        t0 = time.perf_counter()
        vectors = self.embedder.embed_documents([c.embed_text for c in chunks])
        run.embed_seconds += time.perf_counter() - t0

        manifest, store = self.index.manifest, self.index.store
        ids = [p.record.id for p in batch]
        manifest.put_pending(
            (p.record for p in batch),
            ((c.id, c.article_id, c.n, c.start, c.end) for c in chunks),
        )
        by_id = {p.record.id: p.record for p in batch}
        # brand-new articles have no old chunks to remove
        store.replace_chunks(
            [p.record.id for p in batch if p.kind != "added"],
            [c.id for c in chunks],
            vectors,
            [c.text for c in chunks],
            [_chunk_metadata(c, by_id[c.article_id]) for c in chunks],
        )
        linked = self._write_article_vectors(batch, vectors)
        run.tally["stories_linked"] += self.linker.link(store, manifest, linked)
        manifest.mark_done(ids)
        for p in batch:
            run.tally[p.kind] += 1
        run.written.extend(ids)
        run.tally["chunks_written"] += len(chunks)

    def _write_article_vectors(self, batch: list[_Prepared], vectors: np.ndarray) -> list[str]:
        ids, rows, metas, start = [], [], [], 0
        for p in batch:
            n = len(p.chunks)
            if n:
                ids.append(p.record.id)
                rows.append(
                    article_vector(vectors[start : start + n], [len(c.text) for c in p.chunks])
                )
                metas.append(
                    {"lang": p.record.lang, "date": p.record.date, "chars": len(p.record.text)}
                )
            start += n
        empty = [p.record.id for p in batch if not p.chunks]
        self.index.store.delete_article_vectors(empty)
        if ids:
            self.index.store.put_article_vectors(ids, np.stack(rows), metas)
        return ids

    def _prune(self, roots: Sequence[Path], run: _Run, stored_roots: Sequence[str] | None) -> None:
        # files read here: unseen under the roots, or gone; uploaded files (stored_roots, paths
        # of another machine): only unseen under the roots, as nothing can be checked here
        here = stored_roots is None
        under = [r.resolve() for r in roots] if here else [Path(r) for r in stored_roots or ()]
        gone = []
        for article_id, path in self.index.manifest.ids_with_paths():
            if article_id in run.seen or path in run.problem_paths or is_web_path(path):
                continue  # a feed's article has a URL for its path: no file can remove it
            p = Path(path)
            if (here and not p.exists()) or any(p == r or r in p.parents for r in under):
                gone.append(article_id)
        self.delete(gone)
        run.tally["removed"] += len(gone)

    def delete(self, article_ids: Iterable[str]) -> None:
        ids = list(article_ids)
        if not ids:
            return
        manifest, store = self.index.manifest, self.index.store
        stories = {i: r.story_id for i, r in manifest.get_many(ids).items()}
        store.delete_chunks(ids)
        store.delete_article_vectors(ids)
        manifest.delete(ids)
        relabel_after_delete(manifest, stories)


def _chunk_metadata(chunk: Chunk, record: ArticleRecord) -> dict[str, str | int | None]:
    return {
        "article_id": record.id,
        "n": chunk.n,
        "start": chunk.start,
        "end": chunk.end,
        "lang": record.lang,
        "title": record.title,
        "date": record.date,
        "date_num": date_number(record.date),
        "source": record.source,
        "url": record.url,
    }
