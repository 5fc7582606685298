"""The extractive answerer: the sentences of the top passages that answer the question.

Each sentence of the best passages is scored by its embedding's similarity to the question
(multilingual, so an Italian question finds an English sentence), plus a little for sharing
the question's words and for coming from a higher-ranked passage. The best few, each followed
by its [n], in reading order, make the answer; a last line gives the articles' dates. Nothing
is paraphrased, so nothing can be invented; what it cannot do is translate a quotation, so a
quotation in another language than the question's is introduced as such.

A who/where/when/how-many question is answered by sentences that state that kind of fact
(rag/answer/kinds.py): the one that states it best leads, and the one among those that state
it at all that is most like the question is quoted too. With the answer judge
(rag/answer/judge), the judge's choice among every sentence that states the kind leads, and
the best-graded one is quoted beside it. On data/eval/news.jsonl the second
sentence took answer accuracy (the key fact stated) from 0.68 to 0.77 (dev 0.67 → 0.76, test
0.70 → 0.77); on data/eval/sample.jsonl it stayed at 0.86.

A question that names a year is not answered by a sentence that dates its fact to other years
in an article of another year ("GM lost $4.8 billion in the fourth quarter of 2005" for "How
much did GM lose in 2010?"): the answer is then that the articles do not say. Nothing is
fitted; on MEANTIME it turned 6 wrong answers of 130 into refusals (mixed archive) and 5 of 65
(English questions, Italian-only archive), and changed no answer on the other three sets.
Nor is a question about what was done in a year ("Quanto ha guadagnato Ford nel 2007?")
answered from an article published before it; one about plans for it may be
(rag/question.py ``tells_past``).

When no sentence of the top 2 passages states the asked kind (they would give no answer),
the later passages found that name everything the question names are read too: "Chi è il
governatore di Homs?" is answered from the fourth article. On data/eval/news.jsonl two
questions refused before are answered right; no outcome of the MEANTIME sets, the three
conversation sets or no_answer.jsonl changed.

A question about a country is not answered by a sentence about another one: "Quando il Niger
ha chiuso l'operazione Barkhane?" is not answered by France's announcement, nor "Which
minister of Mali…?" by Burkina Faso's. A sentence that (with the one before it) names a country
the question does not, and none of the question's, states nothing of the asked kind, except
for "where", which another country may well answer. On `sample.jsonl` one wrong answer became
a refusal (the Niger question); no other outcome of the eight sets or no_answer.jsonl changed.

In a conversation, a follow-up that names something ("And at Mashhad?", ``QuestionInfo.focus``)
is led by a sentence that names it (or follows one that does): the Armenia crash does not
answer how many died at Mashhad, however like the question it is.

The cost is bounded: only the 6 sentences of the top 2 passages that share most words with
the question (or come first) are embedded, each by its first 32 words (a long sentence's head
says what it is about), and sentence vectors are cached. Embedding is nearly all of an
answer's time. On 300 Belebele questions, 8 whole sentences of 2 passages answered as often as
every sentence of 5 passages (hit rate 0.26, citation precision 0.90 vs 0.88) in 0.63x the
time; on 240 more, 6 sentences' heads kept the hit rate (0.217) and citation precision (0.885
vs 0.890), at 143 ms per ask against 257 ms.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..embedding import Embedder, VectorCache
from ..mentions import PassageWords, countries_in, mentions
from ..question import QuestionInfo, analyse, tells_past
from ..retrieval import YEARS, TimeRange, is_year_of
from ..sentences import sentence_spans
from ..types import Message, Passage, date_number
from ..words import Term, tokenize
from .judge.model import AnswerJudge
from .kinds import mentions_all, says_not_known, states
from .messages import format_date, language_name, text


@dataclass(frozen=True)
class _Sentence:
    passage: int  # 0-based index into the passages
    start: int
    end: int
    text: str
    headline: bool = False  # restates the article's title
    fits: int = 0  # states the kind of fact the question asks for: 0-2 (rag/answer/kinds.py)


# "What is his name?" or "How much did Aeroflot pay?" is answered "not stated" when one of the
# sentences most like the question (the ones about what was asked, not a victim further down)
# says the name or the sum is not known (rag/answer/kinds.py ``says_not_known``)
UNNAMED_AMONG = 3

# a sentence that opens with a pronoun, a demonstrative or a connective of consequence ("As a
# consequence, they…": what it follows from is the sentence before) leans on the one before it
_ANAPHOR = re.compile(
    r"^\W*(?:he|she|it|they|this|these|that|those|its|their|his|her|there|such|the latter|"
    r"as\s+a\s+(?:result|consequence)|consequently|therefore|thus|hence|"
    r"lui|lei|esso|essa|essi|esse|loro|questo|questa|questi|queste|quello|quella|ciò|tale|"
    r"tali|costui|costoro|di\s+conseguenza|pertanto|perciò|quindi|è|e['’])(?!\w)",
    re.IGNORECASE,
)


def _glued(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def _asked_years(question: str) -> TimeRange:
    """From the first to the last year ``question`` names (none: an empty range)."""
    found = [int(y) for y in YEARS.findall(question)]
    return TimeRange(f"{min(found)}-01-01", f"{max(found)}-12-31") if found else TimeRange()


def _elsewhen(sentence: str, date: str | None, asked: TimeRange) -> bool:
    """The sentence dates what it says to another time than the one asked: it names years,
    none of them asked, and its article is not from an asked year ("GM reported losing $4.8
    billion in the fourth quarter of 2005" does not say what GM lost in 2010)."""
    return bool(YEARS.search(sentence)) and not asked.covers(date_number(date), sentence)


def _published_before(date: str | None, asked: TimeRange) -> bool:
    """The article (of ``date``) was published before the first year asked."""
    published = date_number(date)
    return published is not None and published // 10000 < asked.years()[0]


def _about(
    s: _Sentence, sentences: Sequence[_Sentence], passages: Sequence[Passage],
    names: Sequence[Term], qlang: str,
) -> bool:  # fmt: skip
    """Whether ``s``, or the sentence before it, names every one of ``names``."""
    said = _with_before(s, sentences, passages)
    return all(mentions(said, t, qlang) for t in names)


def _with_before(
    s: _Sentence, sentences: Sequence[_Sentence], passages: Sequence[Passage]
) -> PassageWords:
    """The words of ``s`` and of the sentence before it, which may name what ``s`` is about."""
    before = _before(s, sentences)
    text = f"{before.text} {s.text}" if before else s.text
    return PassageWords(text, passages[s.passage].lang)


def _elsewhere(
    s: _Sentence, sentences: Sequence[_Sentence], passages: Sequence[Passage],
    countries: Sequence[Term], asked: set[int], qlang: str,
) -> bool:  # fmt: skip
    """Whether ``s`` (with the sentence before it) is about another country than the
    question's (``countries``, numbered ``asked`` by mentions.countries_in): it names one the
    question does not, and none of the question's."""
    said = _with_before(s, sentences, passages)
    if any(mentions(said, t, qlang) for t in countries):
        return False
    return bool(countries_in(said.raw) - asked)


def _names_all(p: Passage, info: QuestionInfo, lang: str) -> bool:
    """Whether the passage (its title too) names everything the question names. A year of
    the time asked is named by an article published then, as the engine's check has it
    (rag/chat.py ``_check``): the report of 3 November 2009 on Ford's third quarter does not
    write "2009"."""
    when = TimeRange(*info.during)
    published = when.published_in(date_number(p.date))
    terms = [t for t in info.terms if not (published and is_year_of(t, when))]
    return mentions_all(f"{p.title}\n{p.text}", p.lang, terms, lang)


def _after(s: _Sentence, sentences: Sequence[_Sentence]) -> _Sentence | None:
    """The sentence just after ``s`` in the same passage, if it is one of ``sentences``."""
    later = [x for x in sentences if x.passage == s.passage and x.start >= s.end]
    return min(later, key=lambda x: x.start) if later else None


def _before(s: _Sentence, sentences: Sequence[_Sentence]) -> _Sentence | None:
    """The sentence just before ``s`` in the same passage, if it is one of ``sentences``."""
    earlier = [x for x in sentences if x.passage == s.passage and x.end <= s.start]
    return max(earlier, key=lambda x: x.end) if earlier else None


class ExtractiveAnswerer:
    name = "extractive"
    quotes = True  # every sentence is the passage's own: nothing to check (rag/answer/claims.py)

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_sentences: int = 3,
        max_per_passage: int = 2,
        max_passages: int = 2,
        max_candidates: int = 6,
        head_words: int = 32,
        margin: float = 0.03,
        lexical_weight: float = 0.1,
        rank_weight: float = 0.02,
        cache_size: int = 8192,
        min_fit: int = 1,
        max_fitting: int = 10,
        judge: AnswerJudge | None = None,
        judge_problem: str | None = None,
    ) -> None:
        if max_sentences < 1 or max_passages < 1:
            raise ValueError("max_sentences and max_passages must be at least 1")
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.max_per_passage = max_per_passage
        self.max_passages = max_passages
        self.margin = margin
        self.lexical_weight = lexical_weight
        self.rank_weight = rank_weight
        self.max_candidates = max_candidates
        self.head_words = head_words
        self.min_fit = min_fit
        self.max_fitting = max_fitting
        self.judge = judge
        # why a judge that was asked for is not used (a missing, corrupt or foreign file)
        self.judge_problem = judge_problem
        # sentence vectors: the articles people ask about come back often
        self._cache = VectorCache(cache_size)

    def select(
        self,
        question: str,
        lang: str,
        passages: Sequence[Passage],
        asked_info: QuestionInfo | None = None,
    ) -> list[_Sentence]:
        info = asked_info or analyse(question, lang)
        asked = PassageWords(question, lang)
        top = list(passages[: self.max_passages])
        # a later passage is quoted only when it names everything the question names: the
        # sentences of unrelated articles are never spliced into one answer
        usable = [0] + [
            i for i in range(1, len(top)) if info.terms and _names_all(top[i], info, lang)
        ]  # fmt: skip
        sentences = self._sentences(top, usable, info, asked)
        if info.wants and info.terms and all(s.fits < self.min_fit for s in sentences):
            # the first passages do not state the asked kind of fact, so they would give no
            # answer: a later one that names everything the question names may ("Chi è il
            # governatore di Homs?": the governor is named in the fourth article found)
            later = [i for i in range(len(top), len(passages))
                     if _names_all(passages[i], info, lang)]  # fmt: skip
            if later:
                top = list(passages[: later[-1] + 1])
                sentences += self._sentences(top, later, info, asked)
        if not sentences:
            return []
        numbered = {t: countries_in(t.text) for t in info.names}
        countries = [t for t, found in numbered.items() if found]
        if info.wants not in (None, "place") and countries:
            # "minister of transport for Indonesia" does not say who Malaysia's is; "where"
            # may well be answered by another country ("assembled in Toulouse, France" before
            # production moves to the United States)
            asked_countries = set().union(*numbered.values())
            sentences = [
                replace(s, fits=0)
                if s.fits and _elsewhere(s, sentences, top, countries, asked_countries, lang)
                else s
                for s in sentences
            ]  # fmt: skip
        if any(not s.headline for s in sentences):  # the headline restates, the body tells
            sentences = [s for s in sentences if not s.headline]
        q_tokens = set(tokenize(question, lang))
        cheap = {}  # words shared with the question, then the passage's rank
        for s in sentences:
            toks = set(tokenize(s.text, top[s.passage].lang))
            lexical = len(q_tokens & toks) / len(q_tokens) if q_tokens else 0.0
            prior = (len(top) - s.passage) / len(top)
            cheap[s] = self.lexical_weight * lexical + self.rank_weight * prior
        # only the most promising sentences are embedded, so an answer's cost is bounded; the
        # ones that state the kind of fact asked for are among them
        by_cheap = sorted(sentences, key=lambda s: (-cheap[s], s.passage, s.start))
        pool = by_cheap[: self.max_candidates]
        fitting = sorted(
            (s for s in by_cheap if s.fits >= 2 and s not in pool), key=lambda s: -s.fits
        )
        pool += fitting[: self.max_fitting]
        q = self.embedder.embed_queries([question])[0]
        heads = [" ".join(s.text.split()[: self.head_words]) for s in pool]
        vectors = self._cache.vectors(heads, self.embedder.embed_documents)
        scores = {s: float(d) + cheap[s] for s, d in zip(pool, vectors @ q, strict=True)}
        vector_of = dict(zip(pool, vectors, strict=True))

        ranked = sorted(pool, key=lambda s: -scores[s])
        if any(says_not_known(asked, s.text) for s in ranked[:UNNAMED_AMONG]):
            return []  # "What is his name?": the article itself says it is not known
        if info.wants and max(s.fits for s in pool) < self.min_fit:
            return []  # asked who/where/when/how many, and no sentence says: no answer
        leads = ranked
        if info.focus:  # "And in Iraq?" is answered by a sentence about Iraq, not about Syria
            leads = [s for s in ranked if _about(s, sentences, top, info.focus, lang)]
            if not leads:
                return []
        lead, graded = self._leads(question, leads)
        asked_years = _asked_years(question)
        if asked_years and _elsewhen(lead.text, top[lead.passage].date, asked_years):
            return []  # the fact that answers best is of another year than the one asked
        if (
            asked_years
            and _published_before(top[lead.passage].date, asked_years)
            and tells_past(question)
        ):
            return []  # an article of 2006 cannot say what Ford earned in 2007
        chosen = self._ranked(lead, ranked, scores, vector_of)
        if graded not in chosen:
            chosen.append(graded)  # the judge can be wrong: the best-graded is quoted too
        before = _before(lead, sentences)
        if before is not None and before not in chosen and _ANAPHOR.match(lead.text):
            chosen.append(before)  # "They..." needs the sentence that says who they are
        after = _after(lead, sentences)
        if after is not None and after not in chosen and _ANAPHOR.match(after.text):
            chosen.append(after)  # "...at Acharan. It was the answer to..." goes on about it
        return sorted(chosen, key=lambda s: (s.passage, s.start))

    @staticmethod
    def _sentences(
        top: Sequence[Passage], usable: Sequence[int], info: QuestionInfo, asked: PassageWords
    ) -> list[_Sentence]:
        out = []
        for i in usable:
            p = top[i]
            title = _glued(p.title)
            for a, b in sentence_spans(p.text):
                body = p.text[a:b]
                if len(body.split()) < 4:
                    continue
                out.append(
                    _Sentence(i, a, b, body, headline=len(title) >= 20 and title in _glued(body),
                              fits=states(info.wants, body, p.lang, asked))
                )  # fmt: skip
        return out

    def _ranked(
        self, lead: _Sentence, ranked: list[_Sentence], scores: dict[_Sentence, float],
        vector_of: dict[_Sentence, np.ndarray],
    ) -> list[_Sentence]:  # fmt: skip
        """The lead, then the sentences scored within ``margin`` of the best, then the one
        that states the asked kind and is most like the question, if it is not already quoted."""
        best = scores[ranked[0]]
        chosen = [lead]
        per_passage = {lead.passage: 1}
        for s in ranked:
            if len(chosen) >= self.max_sentences or scores[s] < best - self.margin:
                break
            if s in chosen or per_passage.get(s.passage, 0) >= self.max_per_passage:
                continue
            if any(float(vector_of[s] @ vector_of[c]) > 0.97 for c in chosen):
                continue  # the same sentence again (a story told twice)
            chosen.append(s)
            per_passage[s.passage] = per_passage.get(s.passage, 0) + 1
        other = next((s for s in ranked if s.fits >= 2 and s not in chosen), None)
        if other is not None:
            chosen.append(other)
        return chosen

    def _leads(self, question: str, ranked: list[_Sentence]) -> tuple[_Sentence, _Sentence]:
        """(the lead, the best-graded): the best-graded is the most similar of the sentences
        that state the asked kind best (rag/answer/kinds.py); with the answer judge, the one of
        them it rates highest. The judge, reading the question and each sentence together,
        chooses the lead among every sentence that states the asked kind at all: a grade
        cannot tell "signed in Paris" (an everyday word, graded low) from "China Eastern
        Airlines" (a rare name) for "in which city". ``ranked`` is the pool, most similar
        first. The judge costs about 25 ms a sentence on 2 cores, and reads at most the pool
        (``max_candidates`` + ``max_fitting`` sentences)."""
        best = max(s.fits for s in ranked)
        tied = [s for s in ranked if s.fits == best][: self.max_candidates]
        if self.judge is None:
            return tied[0], tied[0]
        stating = [s for s in ranked if s.fits >= self.min_fit] if best >= self.min_fit else []
        read = list(dict.fromkeys([*tied, *stating]))
        if len(read) == 1:
            return read[0], read[0]
        logits = dict(zip(read, self.judge.logits(question, [s.text for s in read]), strict=True))
        return max(read, key=logits.__getitem__), max(tied, key=logits.__getitem__)

    def stream(
        self,
        question: str,
        lang: str,
        passages: Sequence[Passage],
        history: Sequence[Message] = (),
        *,
        asked: QuestionInfo | None = None,
    ) -> Iterator[str]:
        info = asked or analyse(question, lang)
        picked = self.select(question, lang, passages, info)
        if not picked:
            return
        # "when" is answered with the article's date too: "on Wednesday" means nothing alone
        dated = info.wants == "time"
        quoting = lang  # a quotation in another language is introduced where it starts
        for s in picked:
            of = passages[s.passage].lang or lang
            if of != quoting and of != lang:
                yield text(lang, "quoted_in").format(langs=language_name(lang, of)) + " "
            quoting = of
            body = s.text.rstrip()
            end = len(body.rstrip(".!?…"))  # the marker goes before the final punctuation
            when = passages[s.passage].date if dated else None
            note = (
                f" ({text(lang, 'article_of').format(date=format_date(when, lang))})"
                if when
                else ""
            )
            yield f"{body[:end]} [{s.passage + 1}]{note}{body[end:]} "
        cited = sorted({s.passage for s in picked})
        dates = ", ".join(f"[{i + 1}] {format_date(passages[i].date, lang)}" for i in cited)
        yield f"\n\n{text(lang, 'sources')}: {dates}."
