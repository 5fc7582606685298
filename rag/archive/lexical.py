"""BM25 over the chunks, with Italian and English stemming and stop words, updated in place.

Each chunk is tokenised in its own language (Snowball stemmer + stop words); a query in the
language it is written in. Names (Deir Ezzor, JNIM, Acharan) stem alike in both languages,
so they still match across them.

The index is made of immutable segments (rag/archive/lexical_segment.py): a sync adds one segment
for the chunks it wrote and marks the chunks it replaced or removed as dead; small segments are
merged in the background (a log-structured policy: MERGE_FACTOR segments of one size become
one of the next), so refreshing costs what changed, not the archive. Scores are BM25 as bm25s
computes it (Lucene's variant, k1 1.5, b 0.75: what the index used before it had segments),
from the term counts of every live chunk at query time, so a chunk scores the same whatever
segment it is in, and the same as in a single index built from scratch (tests check it against
bm25s itself). bm25s cannot add documents to an index (its author: the scores depend on the
whole corpus), hence this small inverted index of our own; bm25s still gives the stop words.

A ``LexicalIndex`` is a snapshot: nothing in it changes after it is built, so a question holds
one for its whole search while a refresh builds the next one beside it. It remembers the
manifest generation it reflects; saved to the index folder, it is loaded, not rebuilt.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..words import QUESTION_WORDS, tokenize
from ..words import TOKEN as _TOKEN
from ..words import stemmer as _stemmer
from ..words import stopwords as _stopwords
from .lexical_segment import LexicalDoc, Segment

log = logging.getLogger(__name__)


# BM25 as bm25s computes it by default (method "lucene"): what the index used before segments
K1 = 1.5
B = 0.75
FORMAT = 2  # of the saved index; 1 was a single bm25s index
TOKENIZER_VERSION = 1  # bump when ``tokenize`` changes: saved segments are then rebuilt
MERGE_FACTOR = 4  # this many segments of about one size are merged into one
LEVEL_BASE = 32  # segments with fewer live chunks than this are all of the smallest size
COMPACT_DEAD = 0.5  # a segment with more dead chunks than this share is rewritten without them


@dataclass(frozen=True)
class LexicalHit:
    doc: LexicalDoc
    score: float


def _concat(arrays: Sequence[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)


class LexicalIndex:
    """A snapshot of the lexical index: segments, which of their chunks are live, statistics.

    Positions (what ``scores`` indexes and ``position`` returns) run over every chunk of every
    segment in order, dead ones included (they always score 0 and are masked out).
    """

    DIRNAME = "lexical"
    STATE = "state.json"

    def __init__(
        self,
        segments: Sequence[Segment],
        generation: int,
        alive: Sequence[np.ndarray] | None = None,
    ) -> None:
        self.segments = tuple(segments)
        self.generation = generation
        self._alive = (
            tuple(alive) if alive is not None else tuple(np.ones(len(s), bool) for s in segments)
        )
        self._offsets = np.zeros(len(self.segments) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in self.segments], out=self._offsets[1:])
        self._live = _concat(self._alive, bool)
        self._length = _concat([s.lengths for s in self.segments], np.float32)
        self._lang = _concat([s.langs for s in self.segments], str)
        self._date = _concat([s.dates for s in self.segments], np.int64)
        self._source = _concat([s.sources for s in self.segments], str)
        self._count = int(self._live.sum())
        self._avgdl = float(self._length[self._live].mean()) if self._count else 1.0
        self._langs = frozenset(lang for s in self.segments for lang in np.unique(s.langs))

    def __len__(self) -> int:
        """Live chunks."""
        return self._count

    @cached_property
    def languages(self) -> frozenset[str]:
        """The languages of the live chunks (read when first asked: an index is rebuilt on
        every refresh, a question asks it once)."""
        return frozenset(str(x) for x in np.unique(self._lang[self._live]))

    @property
    def positions(self) -> int:
        """Positions in a score vector (live and dead chunks)."""
        return int(self._offsets[-1])

    # --- building ---------------------------------------------------------------------------
    @staticmethod
    def segment(items: Iterable[tuple[LexicalDoc, str]]) -> Segment | None:
        """A segment of chunks (doc, text); None when there are none."""
        docs: list[LexicalDoc] = []
        tokens: list[list[str]] = []
        for doc, text in items:
            docs.append(doc)
            tokens.append(tokenize(text, doc.lang) or [""])  # bm25s also counted an empty doc
        return Segment.build(docs, tokens) if docs else None

    @classmethod
    def build(cls, items: Iterable[tuple[LexicalDoc, str]], generation: int) -> LexicalIndex:
        """One segment of every chunk: the index built from scratch."""
        seg = cls.segment(items)
        return cls([seg] if seg else [], generation)

    def updated(
        self, removed_articles: Iterable[str], added: Segment | None, generation: int
    ) -> LexicalIndex:
        """The next snapshot: the chunks of ``removed_articles`` dead, ``added`` appended.

        Costs what changed: the untouched segments and their live masks are shared.
        """
        removed = list(dict.fromkeys(removed_articles))
        segments, alive = [], []
        for seg, live in zip(self.segments, self._alive, strict=True):
            hit = [p for a in removed if (p := seg.by_article.get(a))]
            if hit:
                live = live.copy()
                live[np.concatenate(hit)] = False
            if live.any():  # a segment with nothing live left is dropped
                segments.append(seg)
                alive.append(live)
        if added is not None and len(added):
            segments.append(added)
            alive.append(np.ones(len(added), bool))
        return LexicalIndex(segments, generation, alive)

    def merge_plan(self) -> list[int]:
        """Segments to merge now (their positions), or [] when the shape is fine."""
        live = [int(a.sum()) for a in self._alive]
        for i, seg in enumerate(self.segments):
            if len(seg) - live[i] > COMPACT_DEAD * len(seg):
                return [i]
        levels: dict[int, list[int]] = {}
        for i, n in enumerate(live):
            level = 0 if n < LEVEL_BASE else 1 + int(math.log(n / LEVEL_BASE, MERGE_FACTOR))
            levels.setdefault(level, []).append(i)
        for level in sorted(levels):
            if len(levels[level]) >= MERGE_FACTOR:
                return levels[level][:MERGE_FACTOR]
        return []

    def merged(self, plan: Sequence[int]) -> LexicalIndex:
        """The same chunks, with the segments of ``plan`` merged into one (dead chunks gone)."""
        if not plan:
            return self
        first = min(plan)
        merged = Segment.merge([(self.segments[i], self._alive[i]) for i in sorted(plan)])
        segments, alive = [], []
        for i, (seg, live) in enumerate(zip(self.segments, self._alive, strict=True)):
            if i == first and len(merged):
                segments.append(merged)
                alive.append(np.ones(len(merged), bool))
            elif i not in plan:
                segments.append(seg)
                alive.append(live)
        return LexicalIndex(segments, self.generation, alive)

    # --- scoring ----------------------------------------------------------------------------
    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(positions, term frequencies) of the live chunks holding ``term``."""
        found_pos: list[np.ndarray] = []
        found_tf: list[np.ndarray] = []
        for seg, live, offset in zip(self.segments, self._alive, self._offsets, strict=False):
            pos, tf = seg.postings_of(term)
            if len(pos):
                keep = live[pos]
                found_pos.append(pos[keep].astype(np.int64) + offset)
                found_tf.append(tf[keep])
        if not found_pos:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(found_pos), np.concatenate(found_tf)

    def scores(self, query: str, lang: str) -> np.ndarray:
        """BM25 score of every position for ``query`` (zeros when no query word is indexed)."""
        out = np.zeros(self.positions, dtype=np.float32)
        if not self._count:
            return out
        n = self._count
        for term in tokenize(query, lang):  # a repeated word counts again, as in bm25s
            pos, tf = self._postings(term)
            if not len(pos):
                continue
            df = len(pos)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            norm = K1 * ((1 - B) + B * self._length[pos] / self._avgdl)
            out[pos] += (idf * tf / (norm + tf)).astype(np.float32)
        return out

    def _known(self, term: str) -> bool:
        return any(
            live[seg.postings_of(term)[0]].any()
            for seg, live in zip(self.segments, self._alive, strict=True)
        )

    def full_match(self, query: str, lang: str) -> float:
        """The BM25 score of a chunk of average length holding each of the query's indexed words
        once: the unit in which retrieval weighs lexical evidence (a passage in another language
        that shares one name with the question gets a small share of it, not the whole)."""
        if not self._count:
            return 0.0
        n = self._count
        df = [len(self._postings(t)[0]) for t in tokenize(query, lang)]
        idf = [math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for d in df if d]  # bm25s' "lucene"
        return float(sum(idf) / (1.0 + K1))

    def unknown_words(self, query: str, lang: str) -> list[str]:
        """The question's words (not stop words) that no indexed chunk contains, in any language.

        A word counts as known when its stem in any of the archive's languages is indexed, so a
        name spelt alike in Italian and English ("Houthi", "Raqqa") is known either way. Words
        the archive never uses are a sign that it cannot answer (see Engine.support).
        """
        if not self._count:
            return []
        langs = sorted(self._langs | {lang})
        stop = _stopwords(lang) | QUESTION_WORDS.get(lang, frozenset())
        found = _TOKEN.findall(query.lower())
        words = dict.fromkeys(w for w in found if w not in stop and (len(w) > 1 or w.isdigit()))
        stemmers = [_stemmer(x) for x in langs]

        def known(word: str) -> bool:
            # stemmed in each language, and stemmed again: "Houthis" -> "houthi" (English) ->
            # "houth", the Italian stem of "Houthi"
            forms = {word, *(st.stemWord(word) for st in stemmers)}
            return any(self._known(st.stemWord(f)) for st in stemmers for f in forms)

        return [w for w in words if not known(w)]

    def mask(
        self,
        *,
        langs: Sequence[str] | None = None,
        date_from: int | None = None,
        date_to: int | None = None,
        source: str | None = None,
    ) -> np.ndarray:
        keep = self._live.copy()
        if langs:
            keep &= np.isin(self._lang, list(langs))
        if date_from is not None:
            keep &= self._date >= date_from
        if date_to is not None:
            keep &= (self._date <= date_to) & (self._date > 0)
        if source:
            keep &= self._source == source
        return keep

    def doc(self, position: int) -> LexicalDoc:
        i = int(np.searchsorted(self._offsets, position, side="right")) - 1
        return self.segments[i].docs[position - int(self._offsets[i])]

    def top(self, scores: np.ndarray, mask: np.ndarray, k: int) -> list[LexicalHit]:
        masked = np.where(mask, scores, 0.0)
        if not len(masked):
            return []
        best = np.argpartition(-masked, min(k, len(masked) - 1))[:k]
        ranked = sorted(best.tolist(), key=lambda i: -masked[i])
        return [LexicalHit(self.doc(i), float(masked[i])) for i in ranked if masked[i] > 0]

    def position(self, chunk_id: str) -> int | None:
        """Where the live chunk ``chunk_id`` is in a score vector; None if it is not indexed."""
        for i in range(len(self.segments) - 1, -1, -1):  # the newest version of a chunk id
            local = self.segments[i].positions.get(chunk_id)
            if local is not None and self._alive[i][local]:
                return int(self._offsets[i]) + local
        return None

    def chunk_ids(self) -> set[str]:
        """Every live chunk id (for checks: it walks the whole index)."""
        return {
            d.chunk_id
            for seg, live in zip(self.segments, self._alive, strict=True)
            for d, a in zip(seg.docs, live, strict=True)
            if a
        }

    # --- persistence ------------------------------------------------------------------------
    def save(self, index_dir: Path) -> None:
        """Writes the segments not yet on disk, then the state naming them (atomically).

        Files no longer named (merged away, or cut off by a crash) are removed afterwards; a
        process loading the previous state at that moment reads the new one instead (load).
        """
        folder = index_dir / self.DIRNAME
        folder.mkdir(parents=True, exist_ok=True)
        for old in ("bm25", "docs.json"):  # the single-index format before segments
            path = folder / old
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()
        for seg in self.segments:
            seg.save(folder)
        state = {
            "format": FORMAT,
            "tokenizer": TOKENIZER_VERSION,
            "bm25": {"k1": K1, "b": B},
            "generation": self.generation,
            "segments": [
                {"name": seg.name, "dead": np.flatnonzero(~live).tolist()}
                for seg, live in zip(self.segments, self._alive, strict=True)
            ],
        }
        tmp = folder / (self.STATE + ".tmp")
        tmp.write_text(json.dumps(state), "utf-8")
        os.replace(tmp, folder / self.STATE)
        keep = {seg.name for seg in self.segments}
        for path in folder.glob("seg-*"):
            if path.name.split(".", 1)[0] not in keep:
                path.unlink(missing_ok=True)

    @classmethod
    def load(cls, index_dir: Path) -> LexicalIndex | None:
        """The saved index, or None when there is none usable (missing, older format)."""
        folder = index_dir / cls.DIRNAME
        for _ in range(3):
            try:
                state = json.loads((folder / cls.STATE).read_text("utf-8"))
            except (OSError, ValueError):
                return None
            if (
                state.get("format") != FORMAT
                or state.get("tokenizer") != TOKENIZER_VERSION
                or state.get("bm25") != {"k1": K1, "b": B}
            ):
                return None
            try:
                segments = [Segment.load(folder, e["name"]) for e in state["segments"]]
            except (OSError, KeyError, ValueError, zipfile.BadZipFile):
                log.info("the lexical index changed while it was read; reading it again")
                continue
            alive = []
            for seg, entry in zip(segments, state["segments"], strict=True):
                live = np.ones(len(seg), bool)
                live[np.asarray(entry["dead"], dtype=np.int64)] = False
                alive.append(live)
            return cls(segments, int(state["generation"]), alive)
        return None
