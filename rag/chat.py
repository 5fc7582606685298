"""One question in, one Turn out: the pipeline behind the CLI, the web chat and the API.

    question ─► language ─► standalone query (follow-ups) ─► time intent ─► filters
             ─► retrieve (hybrid, one per story) ─► [rerank] ─► refuse?
             ─► answerer streams text ─► citation guard ─► Turn

A question is refused (a fixed message in its language plus the closest articles) when nothing
passes the filters or when its support (see ``support``) is under the calibrated threshold:
newsrag never invents an answer from passages that do not answer. An answerer that reads the
passages and finds no answer in them (an LLM writes NO_ANSWER) gets the same refusal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from .answer import Answerer, declines, may_decline
from .answer.citations import guard
from .answer.messages import format_date, text
from .embedding import Embedder
from .followup import standalone_question
from .language import detect_query_language
from .retrieval import Retriever
from .timeparse import parse_time
from .types import Filters, Message, Passage, Turn

MAX_UNKNOWN_WORDS = 2  # more unknown words than this add no more doubt (typos, odd phrasing)


def support(
    lang: str,
    passages: Sequence[Passage],
    unknown_words: int,
    *,
    cross_lang_allowance: float,
    unknown_word_penalty: float,
) -> float | None:
    """How well the retrieved passages can answer a question in ``lang``; None if none can.

    The best passage's cosine to the question, where a passage in another language gets
    ``cross_lang_allowance`` added (the same evidence scores lower across languages: e5-small's
    cosines are about 0.05 lower, so without it most questions answered only by an article in
    the other language were refused), minus ``unknown_word_penalty`` for each of the question's
    words that the archive never contains (up to MAX_UNKNOWN_WORDS): "Rafale", "AUKUS". Both
    are calibrated per model with bench/refusal.py.
    """
    scores = [
        p.dense + (cross_lang_allowance if p.lang != lang else 0.0)
        for p in passages
        if p.dense is not None
    ]
    if not scores:
        return None
    return max(scores) - unknown_word_penalty * min(unknown_words, MAX_UNKNOWN_WORDS)


class Rewriter(Protocol):
    def rewrite(self, question: str, history: Sequence[Message], lang: str) -> str: ...


class HeuristicRewriter:
    """Carries the previous question's subject over (see rag/followup.py)."""

    def rewrite(self, question: str, history: Sequence[Message], lang: str) -> str:
        return standalone_question(question, history)


class Reranker(Protocol):
    def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]: ...


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Done:
    turn: Turn


Event = Token | Done


class Engine:
    def __init__(
        self,
        retriever: Retriever,
        answerer: Answerer,
        embedder: Embedder,
        *,
        refusal_threshold: float,
        cross_lang_allowance: float = 0.0,
        unknown_word_penalty: float = 0.0,
        passages: int = 5,
        max_history: int = 6,
        rewriter: Rewriter | None = None,
        reranker: Reranker | None = None,
        default_lang: str = "en",
    ) -> None:
        if passages < 1:
            raise ValueError("passages must be at least 1")
        self.retriever = retriever
        self.answerer = answerer
        self.embedder = embedder
        self.refusal_threshold = refusal_threshold
        self.cross_lang_allowance = cross_lang_allowance
        self.unknown_word_penalty = unknown_word_penalty
        self.passages = passages
        self.max_history = max_history
        self.rewriter = rewriter or HeuristicRewriter()
        self.reranker = reranker
        self.default_lang = default_lang

    @property
    def mode(self) -> str:
        return self.answerer.name

    def warm_up(self) -> None:
        """Load what the first question would otherwise wait for (language models, BM25)."""
        self.search("warm up the archive", k=1)
        self.search("riscaldare l'archivio", k=1)

    # --- search ---------------------------------------------------------------------------
    def search(
        self, query: str, *, k: int = 10, filters: Filters | None = None, lang: str | None = None
    ) -> list[Passage]:
        lang = detect_query_language(query, default=lang or self.default_lang)
        effective, recency = self._filters(query, lang, filters or Filters())
        return self.retriever.search(query, lang=lang, k=k, filters=effective, recency=recency)

    def _filters(self, query: str, lang: str, given: Filters) -> tuple[Filters, bool]:
        intent = parse_time(query, lang)
        if given.date_from or given.date_to:  # the person's own filter wins
            return given, intent.recency
        return replace(given, date_from=intent.date_from, date_to=intent.date_to), intent.recency

    # --- ask ------------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        *,
        history: Sequence[Message] = (),
        filters: Filters | None = None,
        lang: str | None = None,
    ) -> Turn:
        for event in self.ask_stream(question, history=history, filters=filters, lang=lang):
            if isinstance(event, Done):
                return event.turn
        raise AssertionError("ask_stream ended without a turn")  # pragma: no cover

    def ask_stream(
        self,
        question: str,
        *,
        history: Sequence[Message] = (),
        filters: Filters | None = None,
        lang: str | None = None,
    ) -> Iterator[Event]:
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = round((now - clock) * 1000, 1)
            clock = now

        started = clock
        history = list(history)[-self.max_history :]
        default = lang or _last_lang(history) or self.default_lang
        lang = detect_query_language(question, default=default)
        query = self.rewriter.rewrite(question, history, lang) if history else question
        lap("rewrite_ms")
        passages, effective, refuse = self.retrieve(query, lang, filters or Filters(), lap)

        base = Turn(
            question=question, query=query, lang=lang, answer="", citations=(),
            mode=self.mode, refused=False, passages=tuple(passages), filters=effective,
        )  # fmt: skip

        def refused(*, filtered: bool) -> Iterator[Event]:
            message = self._refusal(lang, passages, filtered=filtered)
            yield Token(message)
            timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
            yield Done(replace(base, answer=message, mode="refusal", refused=True, timings=timings))

        if refuse:
            yield from refused(filtered=not effective.is_empty())
            return

        pieces: list[str] = []
        held: str | None = ""  # the answer's start, held back while it may be NO_ANSWER
        for piece in self.answerer.stream(query, lang, passages, history):
            pieces.append(piece)
            if held is None:
                yield Token(piece)
            elif may_decline(held + piece):
                held += piece
            else:
                yield Token(held + piece)
                held = None
        lap("answer_ms")
        if held is not None and declines(held):  # the answerer found no answer in them
            yield from refused(filtered=False)
            return
        if held:
            yield Token(held)
        answer, citations = guard("".join(pieces), passages, lang=lang, similarity=self._similarity)
        lap("guard_ms")
        timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if not citations:  # the answerer produced nothing that rests on a passage
            message = self._refusal(lang, passages, filtered=False)
            yield Done(replace(base, answer=message, mode="refusal", refused=True, timings=timings))
            return
        yield Done(replace(base, answer=answer, citations=citations, timings=timings))

    def retrieve(
        self, query: str, lang: str, given: Filters, lap: Callable[[str], None] = lambda _: None
    ) -> tuple[list[Passage], Filters, bool]:
        """What ``ask`` answers from: (passages, the filters applied, whether to refuse)."""
        effective, recency = self._filters(query, lang, given)
        passages = self.retriever.search(
            query, lang=lang, k=self.passages, filters=effective, recency=recency
        )
        lap("retrieve_ms")
        if self.reranker and passages:
            passages = self.reranker.rerank(query, passages)
            lap("rerank_ms")
        return passages, effective, self._should_refuse(query, lang, passages)

    def support(self, query: str, lang: str, passages: Sequence[Passage]) -> float | None:
        """The score compared with the refusal threshold (see the module's ``support``)."""
        unknown = 0
        if self.unknown_word_penalty and passages:
            unknown = len(self.retriever.index.lexical().unknown_words(query, lang))
        return support(
            lang, passages, unknown,
            cross_lang_allowance=self.cross_lang_allowance,
            unknown_word_penalty=self.unknown_word_penalty,
        )  # fmt: skip

    def _should_refuse(self, query: str, lang: str, passages: Sequence[Passage]) -> bool:
        score = self.support(query, lang, passages)
        return score is None or score < self.refusal_threshold

    @staticmethod
    def _refusal(lang: str, passages: Sequence[Passage], *, filtered: bool) -> str:
        lines = [text(lang, "refusal_filtered" if filtered and not passages else "refusal")]
        if passages:
            lines.append(text(lang, "closest"))
            lines += [
                f"- {p.title or p.article_id} ({format_date(p.date, lang)})" for p in passages[:3]
            ]
        return "\n".join(lines)

    def _similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_documents(list(a)) @ self.embedder.embed_documents(list(b)).T


def _last_lang(history: Sequence[Message]) -> str | None:
    for message in reversed(history):
        if message.role == "user":
            return detect_query_language(message.content, default="en")
    return None
