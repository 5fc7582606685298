"""One question in, one Turn out: the pipeline behind the CLI, the web chat and the API.

    question ─► language ─► standalone query (follow-ups) ─► time intent ─► filters
             ─► retrieve (hybrid, one per story) ─► [rerank] ─► refuse?
             ─► answerer streams text ─► citation guard ─► Turn

A question is refused (a message in its language plus the closest articles) when
- nothing passes the person's filters;
- it names a specific place, person, group or number that none of the passages found
  mentions, in any spelling or language form (rag/question.py finds the names, rag/mentions.py
  looks for them): "the base at Acharan" is not answered from a report on a base at Mopti.
  The reply says so ("No article in the archive mentions Acharan") and lists the closest
  articles;
- it asks about a time (a year, a month) and no passage found is from then or mentions it;
- its support (see ``support``) is under the calibrated threshold: the passages are not about
  the question at all.
newsrag never invents an answer from passages that do not answer. An answerer that reads the
passages and finds no answer in them (an LLM writes NO_ANSWER) gets the same refusal.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from .answer import Answerer, declines, may_decline
from .answer.citations import guard
from .answer.kinds import names_a_title
from .answer.messages import asked_kind, format_date, text
from .archive.lexical import LexicalIndex
from .embedding import Embedder
from .followup import answer_names, pointed_question, standalone_question
from .language import detect_query_language
from .mentions import common_word, mentions, passage_words
from .question import Question, Term, analyse
from .question import read as read_question
from .retrieval import YEARS, Retriever, TimeRange, is_year_of
from .stages import record, stage
from .timeparse import TimeIntent
from .types import Filters, Message, Passage, Turn, date_number
from .words import TIME_WORDS

REWRITE_HISTORY = 40  # messages the follow-up rewrite may look back through
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


_DIGITS = re.compile(r"\d+")  # the numbers of a date phrase ("March 23, 2019")


def unknown_words(
    lexical: LexicalIndex, query: str, lang: str, dates: Sequence[str] = ()
) -> list[str]:
    """The question's words the archive never contains, that ``support`` counts: not a month,
    a weekday, a year or the day of a date, which are checked against the articles' dates
    (``Engine._check``): "January 2020" is unknown to an archive whose article says "Nella
    notte" and is dated 8 January 2020, and so is the "23" of "on March 23, 2019". In an
    archive without the question's language, an ordinary word of it ("lavoro", "promesso") is
    not counted either: no article could use it, whether or not one answers; a name no article
    uses ("Rafale") still is. ``dates`` are the question's date phrases (``TimeIntent.phrases``)."""
    dated = set(_DIGITS.findall(" ".join(dates)))
    words = lexical.unknown_words(query, lang)
    words = [w for w in words if w not in TIME_WORDS and not YEARS.fullmatch(w) and w not in dated]
    if lang in lexical.languages:
        return words
    return [w for w in words if not common_word(w)]


class Rewriter(Protocol):
    def rewrite(self, question: str, history: Sequence[Message], lang: str) -> str: ...


class HeuristicRewriter:
    """Carries the previous question's subject over (see rag/followup.py)."""

    def rewrite(self, question: str, history: Sequence[Message], lang: str) -> str:
        return standalone_question(question, history)


class Reranker(Protocol):
    def rerank(self, query: str, passages: Sequence[Passage]) -> list[Passage]: ...


@dataclass(frozen=True)
class Refusal:
    """Why a question is not answered: ``reason`` is "no_passages", "unmentioned" (``terms``
    are what no passage mentions; ``in_archive`` whether the archive has them elsewhere),
    "untimely" (``when`` is the asked time), "low_support" or "answerer" (``wants`` is the
    kind of fact asked that no passage states, ``terms`` what the question names), or, in a
    conversation, "topic" (``terms``: what the conversation is about)."""

    reason: str
    terms: tuple[str, ...] = ()
    in_archive: bool = False
    when: str = ""
    wants: str | None = None


@dataclass(frozen=True)
class Retrieved:
    """What ``ask`` answers from."""

    passages: list[Passage]
    filters: Filters  # the person's filters, the only ones applied
    refusal: Refusal | None
    question: Question  # the query as read once (rag/question.py ``read``)
    when: TimeRange  # the time asked, as searched (``Engine.asked_time``)

    @property
    def refuse(self) -> bool:
        return self.refusal is not None


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
        context_chunks: int = 0,
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
        self.context_chunks = context_chunks
        self.max_history = max_history
        self.rewriter = rewriter or HeuristicRewriter()
        self.reranker = reranker
        self.default_lang = default_lang
        # called with each question's outcome: "answered", "refused" or "error" (the server's
        # /metrics counts them, ui/web/metrics.py); a stream abandoned by its reader is none
        self.observers: list[Callable[[str], None]] = []

    @property
    def mode(self) -> str:
        return self.answerer.name

    @property
    def judge_state(self) -> tuple[str, str | None]:
        """("on" | "off" | "unavailable", why not): the answer judge, as /api/status and the
        chat page's footer show it."""
        if getattr(self.answerer, "judge", None) is not None:
            return "on", None
        problem = getattr(self.answerer, "judge_problem", None)
        return ("unavailable", problem) if problem else ("off", None)

    def warm_up(self) -> None:
        """Load what the first question would otherwise wait for (language models, BM25, word
        frequencies and country names, the newest articles' chunks)."""
        self.retriever.prefetch()
        self.search("warm up the archive", k=1)
        hits = self.search("riscaldare l'archivio", k=1)
        self._check(read_question("Chi ha attaccato la base di Acharan in Ciad?", "it"), hits,
                    TimeRange())  # fmt: skip

    # --- search ---------------------------------------------------------------------------
    def search(
        self, query: str, *, k: int = 10, filters: Filters | None = None, lang: str | None = None
    ) -> list[Passage]:
        with stage("question"):  # read once, as ``retrieve`` reads it
            lang = detect_query_language(query, default=lang or self.default_lang)
            asked = read_question(query, lang)
        given = filters or Filters()
        return self.retriever.search(
            query, lang=lang, k=k, filters=given, recency=asked.time.recency,
            when=self.asked_time(asked.time, given), asked_terms=asked.info.terms,
        )  # fmt: skip

    @staticmethod
    def asked_time(intent: TimeIntent, given: Filters) -> TimeRange:
        """The time the question names, a preference in ranking; none when the person set a
        date filter (theirs is what counts)."""
        if given.date_from or given.date_to:
            return TimeRange()
        return TimeRange(intent.date_from, intent.date_to)

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
        """The answer's tokens as they are written, then Done with the Turn."""
        events = self._answer(question, history=history, filters=filters, lang=lang)
        if not self.observers:
            yield from events
            return
        try:
            for event in events:
                if isinstance(event, Done):
                    self._observe("refused" if event.turn.refused else "answered")
                yield event
        except Exception:
            self._observe("error")
            raise

    def _observe(self, outcome: str) -> None:
        for observe in list(self.observers):
            observe(outcome)

    def _answer(
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
            record(stage.removesuffix("_ms"), (now - clock) * 1000)
            clock = now

        started = clock
        # the rewrite reads further back than the answerer: "When did they attack it?" after
        # three follow-ups is still about the question before them
        conversation = list(history)[-REWRITE_HISTORY:]
        history = conversation[-self.max_history :]
        default = lang or _last_lang(history) or self.default_lang
        with stage("question"):
            lang = detect_query_language(question, default=default)
        query = self.rewriter.rewrite(question, conversation, lang) if history else question
        # "Quando?" after an English question is answered in Italian, but the question it
        # became ("Quando? Who attacked the base at Acharan?") is searched and checked as the
        # language most of its words are in
        query_lang = lang if query == question else detect_query_language(query, default=lang)
        lap("rewrite_ms")
        # "there", "it" after an answer: what the answer named is searched for too; "after
        # taking it", when the answer named the air base asked for, is searched and answered
        # as itself with that name, and checked against the whole conversation (``query``)
        pointed = None
        if history and isinstance(self.rewriter, HeuristicRewriter):  # an LLM resolves "it"
            pointed = pointed_question(question, conversation, lang)
        hint = answer_names(question, conversation, lang) if history and not pointed else ()
        found = self.retrieve(
            query, query_lang, filters or Filters(), lap,
            follow_up=question if query != question else None, hint=hint, searched=pointed,
        )  # fmt: skip
        passages, effective = found.passages, found.filters

        base = Turn(
            question=question, query=pointed or query, lang=lang, answer="", citations=(),
            mode=self.mode, refused=False, passages=tuple(passages), filters=effective,
        )  # fmt: skip

        def said(why: Refusal) -> Refusal:  # in a conversation, what it is about
            return _in_conversation(why, found.question) if query != question else why

        def refused(why: Refusal) -> Iterator[Event]:
            message = self._refusal(lang, passages, said(why), filtered=not effective.is_empty())
            yield Token(message)
            timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
            yield Done(
                replace(base, answer=message, mode="refusal", refused=True, timings=timings,
                        refusal=why.reason)
            )  # fmt: skip

        if found.refusal is not None:
            yield from refused(found.refusal)
            return

        pieces: list[str] = []
        held: str | None = ""  # the answer's start, held back while it may be NO_ANSWER
        # the answerer gets the question as read, when it reads it in the same language
        # (a pointed follow-up is read as "…after taking it? (Tabqa; Islamic State)", not
        # with "Which air base…?": ``found.question`` is then that)
        answered = pointed or query
        read = found.question.info if query_lang == lang else analyse(answered, lang)
        if query != question:  # a follow-up that names something is answered about it
            read = replace(read, focus=read_question(question, lang).info.names)
        read = replace(read, during=(found.when.date_from, found.when.date_to))
        for piece in self.answerer.stream(answered, lang, passages, history, asked=read):
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
            yield from refused(_not_stated(found.question))
            return
        if held:
            yield Token(held)
        answer, citations = guard(
            "".join(pieces), passages, lang=lang, similarity=self._similarity,
            check=not getattr(self.answerer, "quotes", False),
        )  # fmt: skip
        lap("guard_ms")
        timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if not citations:  # the answerer produced nothing that rests on a passage
            why = said(_not_stated(found.question))
            message = self._refusal(lang, passages, why, filtered=False)
            yield Done(
                replace(base, answer=message, mode="refusal", refused=True, timings=timings,
                        refusal="answerer")
            )  # fmt: skip
            return
        yield Done(replace(base, answer=answer, citations=citations, timings=timings))

    def retrieve(
        self,
        query: str,
        lang: str,
        given: Filters,
        lap: Callable[[str], None] = lambda _: None,
        *,
        follow_up: str | None = None,
        hint: Sequence[str] = (),
        searched: str | None = None,
    ) -> Retrieved:
        """What ``ask`` answers from: the passages, the filters applied, and why not, if not.

        ``follow_up``: the question as asked, when ``query`` is what the conversation made of
        it. The names and time it gives are the ones the passages must have ("E Baghuz, nel
        2019?" after a question on Raqqa in 2017); one that gives none ("And when?") asks
        about the names and time of the question before it. ``searched``: what is searched
        instead of ``query`` and its ``hint`` (``followup.pointed_question``), with the
        follow-up's own time: the previous question's ("in October 2017") was the time of
        what it asked, not of what "it" is asked about now."""
        with stage("question"):  # read once: retrieval, the rules and the answerer share it
            asked = read_question(query, lang)
            own = read_question(follow_up, lang) if follow_up else None
        intent = asked.time
        if own is not None and (own.time.date_from or own.time.date_to or searched):
            intent = own.time
        when = self.asked_time(intent, given)
        passages = self.retriever.search(
            searched or " ".join([query, *hint]), lang=lang, k=self.passages, filters=given,
            recency=intent.recency, when=when, asked_terms=asked.info.terms,
        )  # fmt: skip
        lap("retrieve_ms")
        if self.reranker and passages:
            passages = self.reranker.rerank(query, passages)
            lap("rerank_ms")
        checked = own if own is not None and own.info.terms else asked
        named = checked is not asked
        if searched and not named:
            # the earlier question's year ("…in February 2024?") was the time of what it
            # asked, not a word the articles about "there" must spell: the date is not asked
            timeless = tuple(t for t in asked.info.terms if not YEARS.fullmatch(t.text))
            checked = replace(asked, info=replace(asked.info, terms=timeless))
        with stage("check"):
            passages, refusal = self._check(checked, passages, when, named=named)
        if refusal is None and self.context_chunks:
            passages = self._widen(passages)
        # a pointed follow-up is about what it points at: "…do not say how many" names Djibo
        return Retrieved(
            passages, given, refusal, read_question(searched, lang) if searched else asked, when
        )

    def _widen(self, passages: list[Passage]) -> list[Passage]:
        """Each passage with ``context_chunks`` chunks of its article before and after: the
        fact asked for is often in the sentences after the ones that matched the question."""
        manifest = self.retriever.index.manifest
        records = manifest.get_many([p.article_id for p in passages])
        out = []
        for p in passages:
            record = records.get(p.article_id)
            spans = manifest.chunk_spans(p.article_id) if record else []
            at = next((i for i, (cid, _, _) in enumerate(spans) if cid == p.chunk_id), None)
            if record is None or at is None:
                out.append(p)
                continue
            lo = spans[max(0, at - self.context_chunks)][1]
            hi = spans[min(len(spans) - 1, at + self.context_chunks)][2]
            out.append(replace(p, text=record.text[lo:hi], start=lo, end=hi))
        return out

    def _check(
        self,
        question: Question,
        passages: list[Passage],
        when: TimeRange,
        *,
        named: bool = False,
    ) -> tuple[list[Passage], Refusal | None]:
        """The passages that name everything the question names (and are about its time, by
        their date or their words) come first, in their order, then the others; if there is
        none, why not. All the names must be in one passage, the part of the article that
        answers: the number of a swapped question is in one article, its place in another,
        and a long article may name the swapped place far from the event asked about.
        Checking passages instead of whole articles refused 3-9 points more of the near-topic
        unanswerable questions on three of the team's four sets, for one answerable question
        more refused in 330."""
        if not passages:
            return passages, Refusal("no_passages")
        query, lang = question.text, question.lang
        asked = [t for t in question.info.terms if not is_year_of(t, when)]
        gaps: list[tuple[list[Term], bool]] = []
        for p in passages:
            body = f"{p.title}\n{p.text}"
            missing = [t for t in asked if not mentions(passage_words(body, p.lang), t, lang)]
            timely = not when or when.covers(date_number(p.date), body)
            gaps.append((missing, timely))
        complete = [p for p, (missing, timely) in zip(passages, gaps, strict=True)
                    if not missing and timely]  # fmt: skip
        if not complete:
            missing, timely = min(gaps, key=lambda g: (len(g[0]), not g[1]))
            if missing:
                lexical = self.retriever.index.lexical()
                known = all(not lexical.unknown_words(t.text, lang) for t in missing)
                return passages, Refusal(
                    "unmentioned", tuple(t.text for t in missing), in_archive=known
                )
            return passages, Refusal("untimely", when=_when_text(when, lang))
        ordered = complete + [p for p in passages if p not in complete]
        if named:  # a follow-up's own names, all in one passage: the conversation's topic
            return ordered, None
        score = self.support(query, lang, ordered, question.time.phrases)
        if score is None or score < self.refusal_threshold:
            return ordered, Refusal("low_support")
        return ordered, None

    def support(
        self, query: str, lang: str, passages: Sequence[Passage], dates: Sequence[str] = ()
    ) -> float | None:
        """The score compared with the refusal threshold (see the module's ``support``);
        ``dates``: the question's date phrases."""
        unknown = 0
        if self.unknown_word_penalty and passages:
            unknown = len(unknown_words(self.retriever.index.lexical(), query, lang, dates))
        return support(
            lang, passages, unknown,
            cross_lang_allowance=self.cross_lang_allowance,
            unknown_word_penalty=self.unknown_word_penalty,
        )  # fmt: skip

    @staticmethod
    def _refusal(lang: str, passages: Sequence[Passage], why: Refusal, *, filtered: bool) -> str:
        if why.reason == "unmentioned":
            names = _join(why.terms, lang)
            first = text(lang, "unmentioned_found" if why.in_archive else "unmentioned")
            first = first.format(terms=names)
        elif why.reason == "untimely":
            first = text(lang, "untimely").format(when=why.when)
        elif why.reason == "topic":
            first = text(lang, "topic_unanswered").format(terms=_join(why.terms, lang))
        elif why.reason == "answerer" and why.wants:
            what = asked_kind(lang, why.wants)
            if why.terms:
                first = text(lang, "not_stated").format(terms=_join(why.terms, lang), what=what)
            else:
                first = text(lang, "not_stated_plain").format(what=what)
        else:
            first = text(lang, "refusal_filtered" if filtered and not passages else "refusal")
        lines = [first]
        if passages:
            lines.append(text(lang, "closest"))
            lines += [
                f"- {p.title or p.article_id} ({format_date(p.date, lang)})" for p in passages[:3]
            ]
        return "\n".join(lines)

    def _similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_documents(list(a)) @ self.embedder.embed_documents(list(b)).T


def _not_stated(question: Question) -> Refusal:
    """The answerer found no sentence stating the asked fact: say which kind, and about what
    ("The articles found on “Djibo” do not say how many or how much.")."""
    info = question.info
    wants = info.wants
    if wants == "leader" and names_a_title(question.text):
        wants = "actor"  # "do not say who", not "who is in charge", of a minister asked
    return Refusal("answerer", tuple(t.text for t in info.names), wants=wants)


def _in_conversation(why: Refusal, question: Question) -> Refusal:
    """A follow-up's refusal names what the conversation is about ("The articles found on
    “Acharan” do not answer this question."), not "no article answers this question": the
    names of the question the follow-up became. A refusal that already says what is missing
    (a name no article mentions, the kind of fact not stated) stays as it is."""
    names = tuple(t.text for t in question.info.names)
    if why.reason not in ("low_support", "answerer") or why.wants or not names:
        return why
    return Refusal("topic", names)


def _when_text(when: TimeRange, lang: str) -> str:
    """The asked time as the refusal names it: "8 gennaio 2020", "January 2023",
    "March–June 2016", "2017", "since 2015"."""
    if when.months() is not None and when.date_from and when.date_to:
        a, b = when.date_from, when.date_to
        if a == b:
            return format_date(a, lang)
        first, last = _month_of(a, lang), _month_of(b, lang)
        if first == last:
            return first
        if a[:4] == b[:4]:
            return f"{first.rsplit(' ', 1)[0]}–{last}"
        return f"{first} – {last}"
    lo, hi = when.years()
    if lo == hi:
        return str(lo)
    if not when.date_to:
        return ("dal " if lang == "it" else "since ") + str(lo)
    if not when.date_from:
        return ("fino al " if lang == "it" else "until ") + str(hi)
    return f"{lo}–{hi}"


def _month_of(iso: str, lang: str) -> str:
    """ "gennaio 2023" for any day of that month."""
    return format_date(iso, lang).split(" ", 1)[1]


def _join(items: Sequence[str], lang: str) -> str:
    quoted = [f"«{x}»" if lang == "it" else f"“{x}”" for x in items]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + (" e " if lang == "it" else " and ") + quoted[-1]


def _last_lang(history: Sequence[Message]) -> str | None:
    for message in reversed(history):
        if message.role == "user":
            return detect_query_language(message.content, default="en")
    return None
