"""Hybrid, cross-lingual retrieval: dense (Chroma) + BM25, fused, one result per story.

1. Candidates: the nearest chunks by vector, with and without the language filter, and the
   best BM25 chunks. Every candidate then gets BOTH scores exactly (the cosine from its stored
   vector, the BM25 score from the full score vector), so fusion never guesses a missing one.
2. Fusion (measured in bench/retrieval.py, see README): ``cosine + w * bm25 / max_bm25``.
   BM25 only adds evidence, scaled to the query's best lexical match, so a passage in the
   other language (no lexical overlap) is never pushed out by a weak same-language one, as
   plain reciprocal rank fusion does.
   The dense side searches each other language with the question moved into it: the
   question's vector plus ``language_shift`` times the difference of the two languages'
   centroids (ArchiveIndex.language_centroids, measured on the archive's own translated
   stories; in an archive with too few of them, the model's own, measured on translated news
   and shipped with it: rag/data/language/), which ranks translations as a search within one
   language would. The passages
   still report their plain cosine to the question (the scale refusal is calibrated on).
3. Time in the question is a preference, never a filter (only the person's own filters exclude
   articles): among the candidates about as relevant as the best (``recency_window``), those
   about the asked time (published then, or mentioning one of its years: news keeps recalling
   past events) come first; questions about the present ("still", "ancora", "latest") favour
   recent articles the same way, with a bonus that halves every ``recency_half_life_days``.
   Only candidates that name the most of what the question names get either bonus: a recent
   article about Syria is not pulled up for "the latest attacks in the Sahel".
4. Names first (``coverage``): each candidate counts the names and numbers of the question
   its chunk or title mentions, in any spelling or language form (rag/mentions.py). An
   article is represented by its chunk that mentions the most of them, then by score, and a
   story by such a version: the Italian version that names "Acharan" represents the story
   for "who attacked the base at Acharan?", not the English one without that line. With
   ``coverage="rank"`` stories are also ranked by it before their score.
5. One result per article and per story, shown through the version whose passage matched
   best, with the languages it is also in: a story is never represented by a translation
   that lacks the passage that matched. Only a language filter set by the person shows a
   story through its version in that language.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal

import numpy as np

from .archive.chunk_cache import ChunkCache
from .archive.index import ArchiveIndex
from .archive.manifest import ArticleRecord
from .archive.store import Neighbour
from .embedding import Embedder
from .mentions import mentions, passage_words
from .question import Term, terms
from .stages import stage
from .timeparse import names_day, names_month
from .types import Filters, Passage, date_number

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimeRange:
    """The time a question asks about: ISO dates, inclusive, either end may be open."""

    date_from: str | None = None
    date_to: str | None = None

    def __bool__(self) -> bool:
        return bool(self.date_from or self.date_to)

    def years(self) -> tuple[int, int]:
        lo = int(self.date_from[:4]) if self.date_from else 0
        hi = int(self.date_to[:4]) if self.date_to else 9999
        return lo, hi

    def covers(self, date_num: int | None, text: str) -> bool:
        """Published in the range, or the text names one of its years. A month or days asked
        ("in January 2016") are not told of by a report of October that names the year: the
        text must name an asked month (or, one day asked, that day: "airstrikes on May 25" in
        a report of May 27 is about the 25th), in a report of that year or beside the year."""
        if self.published_in(date_num):
            return True
        first, last = self.years()
        named = any(first <= int(y) <= last for y in YEARS.findall(text))
        months = self.months()
        if months is None:
            return named
        if not (named or (date_num and first <= date_num // 10000 <= last)):
            return False
        one_day = self.date_from is not None and self.date_from == self.date_to
        return names_month(text, months) or (one_day and names_day(text, str(self.date_from)))

    def published_in(self, date_num: int | None) -> bool:
        """Whether a report dated ``date_num`` (YYYYMMDD) appeared within the range."""
        if not date_num:
            return False
        lo = date_number(self.date_from) or 0
        hi = date_number(self.date_to) or 99999999
        return lo <= date_num <= hi

    def months(self) -> set[int] | None:
        """The months asked, when fewer than a year's are (a month, a season, some days)."""
        if not (self.date_from and self.date_to):
            return None
        a, b = date.fromisoformat(self.date_from), date.fromisoformat(self.date_to)
        span = (b.year - a.year) * 12 + b.month - a.month + 1
        if span >= 12:
            return None
        return {(a.month - 1 + i) % 12 + 1 for i in range(span)}


YEARS = re.compile(r"(?<![\d.,])(1[89]\d\d|20\d\d)(?![\d])")  # a year in a text


@dataclass(frozen=True)
class RetrievalConfig:
    candidates: int = 40
    fusion: Literal["weighted", "rrf", "dense", "lexical"] = "weighted"
    lexical_weight: float = 0.05
    # the unit of BM25 scores in the fusion: "query" = a passage holding each of the question's
    # words once (LexicalIndex.full_match), "best" = the best candidate's score
    lexical_norm: Literal["query", "best"] = "best"
    language_shift: float = 0.0  # the model's measured value comes from ModelSpec
    rrf_k: int = 60
    expand_stories: bool = True
    recency_weight: float = 0.15
    recency_half_life_days: float = 365.0
    recency_window: float = 0.10  # only candidates this close to the best get the bonus
    # passages that mention more of the names and numbers the question asks about: "pick"
    # shows a story (and an article) through them; "rank" also ranks stories by it first
    coverage: Literal["pick", "rank", "off"] = "pick"
    # BM25 evidence for passages in another language than the question's (shared names and
    # numbers, but also chance overlaps of short words)
    cross_lexical: bool = True

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError("candidates must be at least 1")
        if self.lexical_weight < 0:
            raise ValueError("lexical_weight must not be negative")


@dataclass
class _Candidate:
    chunk_id: str
    article_id: str
    dense: float  # cosine to the question as moved into the chunk's language (ranks)
    lexical: float
    text: str = ""
    meta: dict[str, Any] | None = None
    score: float = 0.0
    cosine: float = 0.0  # cosine to the question itself (reported: refusal is calibrated on it)
    covered: int = 0  # how many of the question's names and numbers the chunk mentions

    @property
    def key(self) -> tuple[int, float]:
        return self.covered, self.score


def chroma_where(filters: Filters, *, with_lang: bool = True) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if with_lang and filters.lang:
        clauses.append({"lang": filters.lang})
    if filters.source:
        clauses.append({"source": filters.source})
    if filters.date_from:
        clauses.append({"date_num": {"$gte": date_number(filters.date_from)}})
    if filters.date_to:
        clauses.append({"date_num": {"$lte": date_number(filters.date_to)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class Retriever:
    def __init__(
        self,
        index: ArchiveIndex,
        embedder: Embedder,
        config: RetrievalConfig | None = None,
        *,
        model_centroids: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.config = config or RetrievalConfig()
        # the model's own language direction (rag.models.language_centroids), for archives
        # with too few translated stories to measure theirs
        self.model_centroids = model_centroids or {}
        self._chunks = ChunkCache()  # candidates read once per archive generation

    def search(
        self,
        query: str,
        *,
        lang: str,
        k: int = 10,
        filters: Filters | None = None,
        recency: bool = False,
        when: TimeRange | None = None,
        query_vector: np.ndarray | None = None,
        asked_terms: Sequence[Term] | None = None,
    ) -> list[Passage]:
        """The ``k`` best passages for ``query`` (written in ``lang``), one per story.

        ``when`` (the time the question asks about) and ``recency`` reorder, never exclude.
        ``asked_terms``: the question's names and numbers, when the caller has read them.
        """
        if k < 1:
            raise ValueError("k must be at least 1")
        cfg = self.config
        filters = filters or Filters()
        with stage("embed"):
            qvec = (
                query_vector
                if query_vector is not None
                else self.embedder.embed_queries([query])[0]
            )
        want_lang = filters.lang  # only the person's filter chooses a story's version
        expand = cfg.expand_stories or not filters.lang

        moved = self._moved_queries(qvec, lang)
        candidates = self._candidates(query, lang, qvec, moved, filters, expand)
        if not candidates:
            return []
        unit = self.index.lexical().full_match(query, lang) if cfg.lexical_norm == "query" else 0.0
        if cfg.coverage != "off":
            with stage("names"):
                _cover(candidates, query, lang, when or TimeRange(), asked_terms)
        with stage("fuse"):
            self._fuse(candidates, recency, when or TimeRange(), unit)
            best_per_article: dict[str, _Candidate] = {}
            for c in sorted(candidates, key=lambda c: c.key, reverse=True):
                best_per_article.setdefault(c.article_id, c)
        with stage("stories"):
            return self._one_per_story(best_per_article, want_lang, filters, qvec, moved, k)

    def prefetch(self) -> int:
        """Read the newest articles' chunks into the chunk cache (as many as it holds), so
        that the first questions do not wait for Chroma; how many were read."""
        manifest = self.index.manifest
        generation = manifest.generation()
        ids = manifest.newest_chunk_ids(self._chunks.size)
        return self._chunks.fill(self.index.store, ids, generation, manifest.touched)

    def _moved_queries(self, qvec: np.ndarray, lang: str) -> dict[str, np.ndarray]:
        """The question's vector moved into each other language that has a centroid."""
        shift = self.config.language_shift
        centroids = (self.index.language_centroids() or self.model_centroids) if shift else {}
        if lang not in centroids:
            return {}
        moved = {}
        for other, centroid in centroids.items():
            if other != lang:
                v = qvec + shift * (centroid - centroids[lang])
                moved[other] = (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)
        return moved

    # --- candidates ----------------------------------------------------------------------
    def _candidates(
        self,
        query: str,
        lang: str,
        qvec: np.ndarray,
        moved: dict[str, np.ndarray],
        filters: Filters,
        expand: bool,
    ) -> list[_Candidate]:
        n = self.config.candidates
        store = self.index.store
        # every candidate's id, in the order found: the dense side's, then the lexical side's
        wanted: dict[str, None] = {}
        if self.config.fusion != "lexical":
            if filters.lang and not expand:
                searches = [(chroma_where(filters), moved.get(filters.lang, qvec))]
            else:  # every language: the story may be found through any of its versions
                mixed = chroma_where(filters, with_lang=False)
                searches = [(mixed, qvec)]
                searches += [(mixed, v) for other, v in moved.items() if other != filters.lang]
                if filters.lang:  # the wanted language on its own, never crowded out
                    searches.append((chroma_where(filters), moved.get(filters.lang, qvec)))
            # unfiltered searches cost a third of filtered ones in Chroma; each hit is then
            # scored with its own language's vector, whichever search found it. The searches
            # with one filter go together, and return ids only: the chunks are read once below
            batches: dict[str, tuple[dict[str, Any] | None, list[np.ndarray]]] = {}
            for where, vector in searches:
                key = json.dumps(where, sort_keys=True)
                batches.setdefault(key, (where, []))[1].append(vector)
            with stage("dense"):
                for where, vectors in batches.values():
                    for ids in store.nearest_ids(vectors, n, where):
                        wanted.update(dict.fromkeys(ids))

        with stage("lexical"):
            lexical = self.index.lexical()
            lex_scores = lexical.scores(query, lang)
            if self.config.fusion != "dense" and len(lex_scores):
                langs = None if expand or not filters.lang else [filters.lang]
                mask = lexical.mask(
                    langs=langs, date_from=date_number(filters.date_from),
                    date_to=date_number(filters.date_to), source=filters.source,
                )  # fmt: skip
                wanted.update(
                    dict.fromkeys(h.doc.chunk_id for h in lexical.top(lex_scores, mask, n))
                )
        with stage("read"):  # every candidate's text, metadata and vector, in one round trip
            generation = self.index.manifest.generation()
            touched = self.index.manifest.touched
            hits = self._chunks.read(store, list(wanted), qvec, generation, touched)

        out = []
        for hit in hits:
            pos = lexical.position(hit.id)
            lex = float(lex_scores[pos]) if pos is not None and len(lex_scores) else 0.0
            if not self.config.cross_lexical and hit.metadata.get("lang") != lang:
                lex = 0.0
            dense, cosine = _cosines(hit, qvec, moved)
            out.append(
                _Candidate(hit.id, str(hit.metadata["article_id"]), dense, lex, hit.document,
                           hit.metadata, cosine=cosine)
            )  # fmt: skip
        return out

    def _fuse(
        self, candidates: list[_Candidate], recency: bool, when: TimeRange, unit: float = 0.0
    ) -> None:
        cfg = self.config
        if cfg.fusion == "rrf":
            by_dense = sorted(candidates, key=lambda c: -c.dense)
            by_lex = sorted(candidates, key=lambda c: -c.lexical)
            rank_d = {c.chunk_id: i for i, c in enumerate(by_dense)}
            rank_l = {c.chunk_id: i for i, c in enumerate(by_lex) if c.lexical > 0}
            for c in candidates:
                c.score = 1 / (cfg.rrf_k + rank_d[c.chunk_id] + 1)
                if c.chunk_id in rank_l:
                    c.score += 1 / (cfg.rrf_k + rank_l[c.chunk_id] + 1)
        else:
            top_lex = unit or max((c.lexical for c in candidates), default=0.0) or 1.0
            for c in candidates:
                if cfg.fusion == "dense":
                    c.score = c.dense
                elif cfg.fusion == "lexical":
                    c.score = c.lexical / top_lex
                else:
                    c.score = c.dense + cfg.lexical_weight * c.lexical / top_lex
        if cfg.coverage != "off":  # a time bonus only for what names what the question names
            most = max(c.covered for c in candidates)
            candidates = [c for c in candidates if c.covered == most]
        best = max(c.score for c in candidates)
        close = [c for c in candidates if c.score >= best - cfg.recency_window]
        if when:
            # among the candidates about as relevant as the best, those about the asked time
            # move up by the window's width, so they come before the others of the window
            for c in close:
                if when.covers((c.meta or {}).get("date_num"), c.text):
                    c.score += cfg.recency_window
        if recency:
            # among the candidates about as relevant as the best, newer ones win: a bonus that
            # halves every half-life before the newest of them; undated articles get none. The
            # window keeps a recent but unrelated article from being pulled up.
            days = {c.chunk_id: _days(c.meta) for c in close}
            newest = max((d for d in days.values() if d is not None), default=None)
            if newest is not None:
                decay = math.log(2) / cfg.recency_half_life_days
                for c in close:
                    d = days[c.chunk_id]
                    if d is not None:
                        c.score += cfg.recency_weight * math.exp(-(newest - d) * decay)

    # --- stories -------------------------------------------------------------------------
    def _one_per_story(
        self,
        best: dict[str, _Candidate],
        want_lang: str | None,
        filters: Filters,
        qvec: np.ndarray,
        moved: dict[str, np.ndarray],
        k: int,
    ) -> list[Passage]:
        """The k best stories, each shown through its best-matching member, or through its
        member in ``want_lang`` (a language filter) when it has one."""
        manifest = self.index.manifest
        info = manifest.story_info(list(best))
        if len(info) < len(best):  # in the vector store, not (or no longer) in the manifest
            log.info(
                "skipped chunks of %d articles the manifest does not hold: %s",
                len(best) - len(info),
                ", ".join(a for a in best if a not in info)[:300],
            )
            best = {a: c for a, c in best.items() if a in info}
        groups: dict[str, list[_Candidate]] = {}
        for c in best.values():
            story = info.get(c.article_id, (c.article_id, ""))[0]
            groups.setdefault(story, []).append(c)
        order = (lambda c: c.key) if self.config.coverage == "rank" else (lambda c: c.score)
        ranked = sorted(groups.items(), key=lambda kv: max(order(c) for c in kv[1]), reverse=True)
        members = manifest.stories_members([story for story, _ in ranked])

        chosen: list[tuple[_Candidate, float, set[str]]] = []
        fetch: dict[str, int] = {}  # sibling article to fetch -> position in chosen
        for story, cands in ranked:
            if len(chosen) >= k:
                break
            top = max(cands, key=lambda c: c.key)
            langs = {lang for _, lang in members.get(story, [])} or {info[top.article_id][1]}
            here = [c for c in cands if info.get(c.article_id, ("", ""))[1] == want_lang]
            if want_lang is None:
                pick = top
            elif here:
                pick = max(here, key=lambda c: c.key)
            else:
                sibling = next((a for a, lang in members.get(story, []) if lang == want_lang), None)
                if sibling is None and filters.lang and info[top.article_id][1] != filters.lang:
                    continue  # found only through a version the filter excludes
                pick = top
                if sibling is not None:
                    fetch[sibling] = len(chosen)
            chosen.append((pick, max(c.score for c in cands), langs))

        siblings = self.index.store.chunks_of_articles(
            list(fetch), moved.get(want_lang or "", qvec)
        )
        for article_id, hits in siblings.items():
            h = max(hits, key=lambda n: n.score)
            _, story_score, langs = chosen[fetch[article_id]]
            dense, cosine = _cosines(h, qvec, moved)
            found = _Candidate(h.id, article_id, dense, 0.0, h.document, h.metadata, dense, cosine)
            chosen[fetch[article_id]] = (found, story_score, langs)

        records = manifest.get_many([c.article_id for c, _, _ in chosen])
        # an article being written again: its stored text may not match the chunk found yet
        records = {a: r for a, r in records.items() if r.state == "done"}
        return [
            _passage(
                c, records[c.article_id], max(score, c.score), langs - {records[c.article_id].lang}
            )
            for c, score, langs in chosen
            if c.article_id in records
        ]


def is_year_of(term: Term, when: TimeRange) -> bool:
    """A year the time range already stands for ("in 1982"): judged as a time, not a number."""
    if term.kind != "number" or not when or not term.text.isdigit():
        return False
    lo, hi = when.years()
    return lo <= int(term.text) <= hi


def _cover(
    candidates: list[_Candidate],
    query: str,
    lang: str,
    when: TimeRange,
    given: Sequence[Term] | None = None,
) -> None:
    """Count, for each candidate, the question's names and numbers its chunk (or its
    article's title) mentions, in any spelling or language form (rag/mentions.py). A year
    the asked time stands for is not counted: time is a preference of its own."""
    found = given if given is not None else terms(query, lang)
    asked = [t for t in found if not is_year_of(t, when)]
    if not asked:
        return
    for c in candidates:
        meta = c.meta or {}
        words = passage_words(f"{meta.get('title') or ''}\n{c.text}", str(meta.get("lang", "")))
        c.covered = sum(mentions(words, t, lang) for t in asked)


def _cosines(hit: Neighbour, qvec: np.ndarray, moved: dict[str, np.ndarray]) -> tuple[float, float]:
    """(cosine to the question moved into the hit's language, cosine to the question)."""
    if hit.vector is None:
        return hit.score, hit.score
    own = float(hit.vector @ qvec)
    vector = moved.get(str(hit.metadata.get("lang")))
    return (own if vector is None else float(hit.vector @ vector)), own


def _days(meta: dict[str, Any] | None) -> float | None:
    num = (meta or {}).get("date_num")
    if not num:
        return None
    return float(date(num // 10000, num // 100 % 100, num % 100).toordinal())


def _passage(c: _Candidate, rec: ArticleRecord, score: float, also: set[str]) -> Passage:
    meta = c.meta or {}
    start, end = int(meta.get("start", 0)), int(meta.get("end", len(c.text)))
    return Passage(
        chunk_id=c.chunk_id, article_id=rec.id, text=rec.text[start:end], start=start, end=end,
        title=rec.title, date=rec.date, lang=rec.lang, source=rec.source, url=rec.url,
        story_id=rec.story_id, score=score, dense=c.cosine, lexical=c.lexical,
        also_in=tuple(sorted(also)),
    )  # fmt: skip


def rescore(passages: Sequence[Passage], scores: Sequence[float]) -> list[Passage]:
    """Passages re-ordered by new scores (used by the reranker)."""
    pairs = sorted(zip(passages, scores, strict=True), key=lambda p: -p[1])
    return [replace(p, score=float(s)) for p, s in pairs]
