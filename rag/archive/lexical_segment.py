"""One immutable segment of the lexical index: the term postings of a batch of chunks.

A segment holds, for each of its terms, the chunks that contain it and how often (an inverted
index), plus each chunk's length and the fields the lexical index filters on. It never changes
once built: chunks that are replaced or removed later are marked dead in the snapshot that
uses it (see LexicalIndex), and a merge writes a new segment without them. BM25 is computed
from these raw counts at query time, with the statistics of every live chunk in every segment,
so scores are the same whichever segment a chunk is in.

On disk a segment is two files in the lexical folder, written once: ``<name>.npz`` (the number
arrays) and ``<name>.json`` (terms, chunk and article ids, languages, sources).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_EMPTY_I32 = np.zeros(0, dtype=np.int32)
_EMPTY_F32 = np.zeros(0, dtype=np.float32)


def new_name() -> str:
    return f"seg-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class LexicalDoc:
    """What the lexical index keeps per chunk, to filter without asking the vector store."""

    chunk_id: str
    article_id: str
    lang: str
    date_num: int  # 0 when unknown
    source: str


@dataclass(eq=False)
class Segment:
    name: str
    terms: list[str]  # term id -> term
    indptr: np.ndarray  # int64, len(terms) + 1: postings of term t are [indptr[t], indptr[t+1])
    postings: np.ndarray  # int32: local chunk positions, grouped by term
    tf: np.ndarray  # float32: how often the term occurs in that chunk
    lengths: np.ndarray  # float32: tokens per chunk (BM25's document length)
    docs: list[LexicalDoc]
    term_ids: dict[str, int] = field(init=False, repr=False)
    positions: dict[str, int] = field(init=False, repr=False)  # chunk id -> local position
    by_article: dict[str, list[int]] = field(init=False, repr=False)
    dates: np.ndarray = field(init=False, repr=False)  # the filter fields, as arrays
    langs: np.ndarray = field(init=False, repr=False)
    sources: np.ndarray = field(init=False, repr=False)
    saved: bool = False

    def __post_init__(self) -> None:
        self.term_ids = {t: i for i, t in enumerate(self.terms)}
        self.positions = {d.chunk_id: i for i, d in enumerate(self.docs)}
        self.by_article = {}
        for i, d in enumerate(self.docs):
            self.by_article.setdefault(d.article_id, []).append(i)
        self.dates = np.array([d.date_num for d in self.docs], dtype=np.int64)
        self.langs = np.array([d.lang for d in self.docs], dtype=str)
        self.sources = np.array([d.source for d in self.docs], dtype=str)

    def __len__(self) -> int:
        return len(self.docs)

    def postings_of(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(local positions, term frequencies) of the chunks holding ``term``."""
        t = self.term_ids.get(term)
        if t is None:
            return _EMPTY_I32, _EMPTY_F32
        lo, hi = int(self.indptr[t]), int(self.indptr[t + 1])
        return self.postings[lo:hi], self.tf[lo:hi]

    # --- building ---------------------------------------------------------------------------
    @classmethod
    def build(cls, docs: Sequence[LexicalDoc], tokens: Sequence[Sequence[str]]) -> Segment:
        """A segment of ``docs``, each with its token list (never empty: see LexicalIndex)."""
        term_ids: dict[str, int] = {}
        lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
        flat = np.fromiter(
            (term_ids.setdefault(tok, len(term_ids)) for toks in tokens for tok in toks),
            dtype=np.int64,
            count=int(lengths.sum()),
        )
        doc_of = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths)
        return cls._from_pairs(
            list(term_ids), flat, doc_of, np.ones(len(flat), dtype=np.float32), lengths, docs
        )

    @classmethod
    def merge(cls, parts: Sequence[tuple[Segment, np.ndarray]]) -> Segment:
        """One segment holding the live chunks of ``parts`` ((segment, live mask) pairs)."""
        term_ids: dict[str, int] = {}
        terms_of, docs_of, tfs = [], [], []
        lengths: list[np.ndarray] = []
        docs: list[LexicalDoc] = []
        base = 0
        for seg, alive in parts:
            new_pos = np.cumsum(alive, dtype=np.int64) - 1  # where each live chunk goes
            remap = np.fromiter(
                (term_ids.setdefault(t, len(term_ids)) for t in seg.terms),
                dtype=np.int64,
                count=len(seg.terms),
            )
            term_of = np.repeat(np.arange(len(seg.terms), dtype=np.int64), np.diff(seg.indptr))
            keep = alive[seg.postings]
            terms_of.append(remap[term_of[keep]])
            docs_of.append(new_pos[seg.postings[keep]] + base)
            tfs.append(seg.tf[keep])
            lengths.append(seg.lengths[alive])
            docs.extend(d for d, a in zip(seg.docs, alive, strict=True) if a)
            base += int(alive.sum())
        return cls._from_pairs(
            list(term_ids),
            np.concatenate(terms_of) if terms_of else np.zeros(0, np.int64),
            np.concatenate(docs_of) if docs_of else np.zeros(0, np.int64),
            np.concatenate(tfs) if tfs else _EMPTY_F32,
            np.concatenate(lengths) if lengths else _EMPTY_F32,
            docs,
        )

    @classmethod
    def _from_pairs(
        cls,
        terms: list[str],
        term_of: np.ndarray,
        doc_of: np.ndarray,
        weight: np.ndarray,
        lengths: np.ndarray,
        docs: Sequence[LexicalDoc],
    ) -> Segment:
        """Postings from (term, chunk, count) triples; repeated pairs are summed."""
        n_docs = max(len(docs), 1)
        key = term_of * n_docs + doc_of
        order = np.argsort(key, kind="stable")
        key = key[order]
        weight = weight[order]
        if len(key):
            starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
            tf = np.add.reduceat(weight, starts).astype(np.float32)
            key = key[starts]
        else:
            tf = _EMPTY_F32
        term, doc = key // n_docs, key % n_docs
        counts = np.bincount(term, minlength=len(terms))
        used = np.flatnonzero(counts)  # terms left without a live chunk are dropped
        if len(used) < len(terms):
            renumber = np.full(len(terms), -1, dtype=np.int64)
            renumber[used] = np.arange(len(used))
            term = renumber[term]
            terms = [terms[i] for i in used]
            counts = counts[used]
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(
            new_name(), terms, indptr, doc.astype(np.int32), tf,
            np.asarray(lengths, dtype=np.float32), list(docs),
        )  # fmt: skip

    # --- persistence ------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Writes the segment's two files (once: a segment never changes)."""
        if self.saved and (folder / f"{self.name}.json").exists():
            return
        arrays = folder / f"{self.name}.npz"
        with arrays.open("wb") as f:
            np.savez(
                f, indptr=self.indptr, postings=self.postings, tf=self.tf, lengths=self.lengths,
                date=self.dates,
            )  # fmt: skip
        meta = {
            "terms": self.terms,
            "chunk_ids": [d.chunk_id for d in self.docs],
            "article_ids": [d.article_id for d in self.docs],
            "langs": [d.lang for d in self.docs],
            "sources": [d.source for d in self.docs],
        }
        # the .json is written last: a segment without it was cut off and is not used
        tmp = folder / f"{self.name}.json.tmp"
        tmp.write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
        tmp.replace(folder / f"{self.name}.json")
        self.saved = True

    @classmethod
    def load(cls, folder: Path, name: str) -> Segment:
        meta = json.loads((folder / f"{name}.json").read_text("utf-8"))
        with np.load(folder / f"{name}.npz") as z:
            arrays = {k: z[k] for k in ("indptr", "postings", "tf", "lengths", "date")}
        docs = [
            LexicalDoc(c, a, lang, int(d), s)
            for c, a, lang, d, s in zip(
                meta["chunk_ids"], meta["article_ids"], meta["langs"], arrays["date"],
                meta["sources"], strict=True,
            )
        ]  # fmt: skip
        seg = cls(
            name, meta["terms"], arrays["indptr"], arrays["postings"], arrays["tf"],
            arrays["lengths"], docs,
        )  # fmt: skip
        seg.saved = True
        return seg
