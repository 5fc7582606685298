"""Evaluation of retrieval and answers on a questions file (JSONL).

One question per line: ``qid``, ``question``, optional ``lang``, ``relevant_ids`` (article
ids; empty = the archive does not answer it), optional ``filter`` (``lang``, ``source``,
``date_from``, ``date_to``), optional ``key_facts`` (short strings, any one of which a right
answer must state), optional ``tags`` and ``answers`` (gold strings, Belebele's). Belebele's
extra fields ``relevant_ids_same_lang`` / ``relevant_ids_cross_lang`` add the same- and
cross-language conditions: the question is asked again with a language filter set to that
passage's language.

Results are one per story, so relevance is counted per story: an article and its
translation are one relevant item. Retrieval metrics cover answerable questions only.

Answers are judged, not only rankings. Every answer falls in one of these:
- **right**: not refused, it states a key fact (in the answer text itself, not in the quoted
  passages or the list of sources' dates) and cites an article relevant to the question;
- **wrong**: answered, but without any key fact or citing no relevant article, or answered at
  all when the archive does not answer the question: the worst outcome, counted apart;
- **refused**: right for an unanswerable question, a wrong refusal for an answerable one.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import InputError
from .types import Filters, Turn

KS = (1, 5, 10)


@dataclass(frozen=True)
class Question:
    qid: str
    question: str
    relevant_ids: tuple[str, ...]
    lang: str | None = None
    filters: Filters = field(default_factory=Filters)
    answers: tuple[str, ...] = ()
    same_lang_ids: tuple[str, ...] = ()
    cross_lang_ids: tuple[str, ...] = ()
    key_facts: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    split: str | None = None  # "dev" (settings are chosen on it) or "test" (reported)
    history: tuple[str, ...] = ()  # earlier questions of a conversation, asked first
    standalone: str | None = None  # the same question written to stand on its own

    def alone(self) -> Question:
        """The question as it stands on its own: the conversation's fact asked directly."""
        return replace(self, question=self.standalone or self.question, history=())


def _strings(row: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = row.get(key) or ()
    if isinstance(value, str):
        raise ValueError(f"`{key}` must be a list of strings, not a string")
    return tuple(map(str, value))


def load_questions(path: Path) -> list[Question]:
    if not path.exists():
        raise InputError(f"{path} does not exist: give a JSONL file of questions.")
    out = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            f = row.get("filter") or {}
            out.append(
                Question(
                    qid=str(row.get("qid") or f"line-{n}"), question=str(row["question"]),
                    relevant_ids=_strings(row, "relevant_ids"),
                    lang=row.get("lang"),
                    filters=Filters(lang=f.get("lang"), source=f.get("source"),
                                    date_from=f.get("date_from"), date_to=f.get("date_to")),
                    answers=_strings(row, "answers"),
                    same_lang_ids=_strings(row, "relevant_ids_same_lang"),
                    cross_lang_ids=_strings(row, "relevant_ids_cross_lang"),
                    key_facts=_strings(row, "key_facts"),
                    tags=_strings(row, "tags"),
                    split=str(row["split"]) if row.get("split") else None,
                    history=_strings(row, "history"),
                    standalone=str(row["standalone"]) if row.get("standalone") else None,
                )
            )  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                f"{path}:{n}: not a question record ({exc}); each line must be a JSON object "
                "with at least `question` and `relevant_ids` (see the README)."
            ) from exc
    if not out:
        raise InputError(f"{path} holds no questions.")
    return out


def resolve_ids(questions: Sequence[Question], known: Iterable[str]) -> list[Question]:
    """Relevant ids as the archive spells them.

    A questions file may name a file-based article by the end of its path
    (``seeds/000_x.txt``) where the archive holds the resolved path; such an id is replaced by
    the one archive id that ends with ``/`` + it. Ids found neither way are kept (they count as
    relevant articles the archive lacks).
    """
    known = set(known)
    by_tail: dict[str, list[str]] = defaultdict(list)
    for article_id in known:
        parts = article_id.split("/")
        for i in range(1, len(parts)):
            by_tail["/".join(parts[i:])].append(article_id)

    def one(article_id: str) -> str:
        if article_id in known:
            return article_id
        found = by_tail.get(article_id.lstrip("./"), [])
        return found[0] if len(found) == 1 else article_id

    def many(ids: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(one(a) for a in ids)

    return [
        replace(q, relevant_ids=many(q.relevant_ids), same_lang_ids=many(q.same_lang_ids),
                cross_lang_ids=many(q.cross_lang_ids))
        for q in questions
    ]  # fmt: skip


def ranking_metrics(retrieved: Sequence[str], relevant: set[str]) -> dict[str, float]:
    """hit@k (any relevant in the top k), recall@k, mrr@10 and ndcg@10 of a ranked list."""
    out: dict[str, float] = {}
    for k in KS:
        found = relevant & set(retrieved[:k])
        out[f"hit@{k}"] = 1.0 if found else 0.0
        out[f"recall@{k}"] = len(found) / len(relevant)
    first = next((i for i, r in enumerate(retrieved[:10]) if r in relevant), None)
    out["mrr@10"] = 1.0 / (first + 1) if first is not None else 0.0
    dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(retrieved[:10]) if r in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    out["ndcg@10"] = dcg / ideal
    return out


def _mean(rows: Iterable[Mapping[str, float]]) -> dict[str, float]:
    rows = list(rows)
    if not rows:
        return {}
    keys = rows[0].keys()
    return {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in keys} | {"n": len(rows)}


# --- judging an answer ------------------------------------------------------------------------
def normal(text: str) -> str:
    """Lower case, no accents, punctuation as spaces: how key facts are matched."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", plain).split())


_TRAILER = re.compile(r"\n\s*\n\s*(?:Sources|Fonti)\s*:[^\n]*\s*$")


def answer_body(answer: str) -> str:
    """The answer without the extractive answerer's closing line of source dates."""
    return _TRAILER.sub("", answer)


def states_fact(answer: str, facts: Sequence[str]) -> bool:
    body = f" {normal(answer_body(answer))} "
    return any(f" {normal(f)} " in body for f in facts if normal(f))


OUTCOMES = ("right", "wrong", "refused")


def outcome(q: Question, turn: Turn, story_of: StoryOf) -> str | None:
    """right / wrong / refused (see the module docstring); None when it cannot be judged
    (an answerable question without key facts)."""
    if turn.refused:
        return "refused"
    if not q.relevant_ids:
        return "wrong"
    if not q.key_facts:
        return None
    relevant = {story_of(a) for a in q.relevant_ids}
    cites_relevant = any(story_of(c.article_id) in relevant for c in turn.citations)
    return "right" if cites_relevant and states_fact(turn.answer, q.key_facts) else "wrong"


def crossing(q: Question, lang_of: LangOf) -> str:
    """``cross_lang`` when no relevant article is in the question's language."""
    if "cross_lang" in q.tags or "same_lang" in q.tags:
        return "cross_lang" if "cross_lang" in q.tags else "same_lang"
    langs = {lang_of(a) for a in q.relevant_ids} - {None}
    if not q.lang or not langs:
        return "unknown"
    return "same_lang" if q.lang in langs else "cross_lang"


def answer_metrics(rows: Sequence[tuple[Question, str | None]]) -> dict[str, Any]:
    """Accuracy, wrong answers and refusals of judged answers."""
    answerable = [o for q, o in rows if q.relevant_ids]
    judged = [o for o in answerable if o is not None]
    unanswerable = [o for q, o in rows if not q.relevant_ids]
    every = judged + unanswerable

    def share(values: Sequence[Any], of: str) -> float | None:
        return round(sum(v == of for v in values) / len(values), 4) if values else None

    return {
        "n": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answer_accuracy": share(judged, "right"),
        "wrong_answers": share(every, "wrong"),  # of every judged question
        "wrong_answers_answerable": share(judged, "wrong"),
        "answered_unanswerable": share(unanswerable, "wrong"),
        "refusal_rate": share(unanswerable, "refused"),
        "wrong_refusal_rate": share(answerable, "refused"),
    }


@dataclass
class _Tally:
    main: list[dict[str, float]] = field(default_factory=list)
    by_lang: dict[str, list[dict[str, float]]] = field(default_factory=lambda: defaultdict(list))
    by_crossing: dict[str, list[dict[str, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    by_relevance: dict[str, list[dict[str, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    answers: list[tuple[Question, str | None]] = field(default_factory=list)
    answer_hits: list[float] = field(default_factory=list)
    citation_precision: list[float] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)


SearchFn = Callable[[Question, Filters], list[str]]  # -> ranked article ids
AskFn = Callable[[Question], Turn]
StoryOf = Callable[[str], str]
LangOf = Callable[[str], str | None]


def archive_maps(records: Iterable[Any]) -> tuple[StoryOf, LangOf]:
    """``story_of`` and ``lang_of`` over the manifest's article records (unknown ids: own story)."""
    known = {r.id: (r.story_id or r.id, r.lang) for r in records}
    return (lambda a: known.get(a, (a, None))[0]), (lambda a: known.get(a, (a, None))[1])


def evaluate(
    questions: Sequence[Question],
    *,
    search: SearchFn,
    story_of: StoryOf,
    lang_of: LangOf,
    ask: AskFn | None = None,
    progress: Callable[[int], None] | None = None,
    details: bool = False,
) -> dict[str, Any]:
    """Run every question; ``ask`` (the whole answer pipeline) is skipped when None."""
    t = _Tally()
    for i, q in enumerate(questions, 1):
        ranked: list[str] = []
        if q.relevant_ids:
            relevant = {story_of(a) for a in q.relevant_ids}
            ranked = _stories(search(q, q.filters), story_of)
            metrics = ranking_metrics(ranked, relevant)
            t.main.append(metrics)
            t.by_lang[q.lang or "und"].append(metrics)
            t.by_crossing[crossing(q, lang_of)].append(metrics)
            for name, ids in (("same_lang", q.same_lang_ids), ("cross_lang", q.cross_lang_ids)):
                if not ids:
                    continue
                target = lang_of(ids[0])
                f = Filters(target, q.filters.date_from, q.filters.date_to, q.filters.source)
                t.by_relevance[name].append(
                    ranking_metrics(_stories(search(q, f), story_of), {story_of(a) for a in ids})
                )
        if ask is not None:
            turn = ask(q)
            verdict = outcome(q, turn, story_of)
            t.answers.append((q, verdict))
            _score_gold(q, turn, story_of, t)
            if details:
                t.details.append(
                    {"qid": q.qid, "question": q.question, "lang": q.lang, "outcome": verdict,
                     "answer": turn.answer, "cited": [c.article_id for c in turn.citations],
                     "relevant": list(q.relevant_ids), "key_facts": list(q.key_facts),
                     "ranked": ranked[:5], "tags": list(q.tags)}
                )  # fmt: skip
        if progress:
            progress(i)

    result: dict[str, Any] = {"n": len(questions), "answerable": len(t.main)}
    result.update(_mean(t.main))
    result["n"] = len(questions)
    result["by_lang"] = {k: _mean(v) for k, v in sorted(t.by_lang.items())}
    result["by_crossing"] = {k: _mean(v) for k, v in sorted(t.by_crossing.items())}
    result["by_relevance"] = {k: _mean(v) for k, v in sorted(t.by_relevance.items())}
    if ask is not None:
        result["answers"] = answer_metrics(t.answers)
        groups: dict[str, list[tuple[Question, str | None]]] = defaultdict(list)
        for q, o in t.answers:
            groups[f"lang {q.lang or 'und'}"].append((q, o))
            if q.relevant_ids:
                groups[crossing(q, lang_of)].append((q, o))
            for tag in q.tags:
                groups[f"tag {tag}"].append((q, o))
            if q.split:
                groups[f"split {q.split}"].append((q, o))
        result["answers_by"] = {k: answer_metrics(v) for k, v in sorted(groups.items())}
        for key, values in (
            ("answer_hit_rate", t.answer_hits), ("citation_precision", t.citation_precision),
        ):  # fmt: skip
            result[key] = round(sum(values) / len(values), 4) if values else None
        result["refusal_rate"] = result["answers"]["refusal_rate"]
        result["wrong_refusal_rate"] = result["answers"]["wrong_refusal_rate"]
        if details:
            result["details"] = t.details
    return result


def _stories(article_ids: Sequence[str], story_of: StoryOf) -> list[str]:
    seen: dict[str, None] = {}
    for a in article_ids:
        seen.setdefault(story_of(a), None)
    return list(seen)


def _score_gold(q: Question, turn: Turn, story_of: StoryOf, t: _Tally) -> None:
    """Belebele-style gold answers (in the answer or its cited passages) and citations."""
    if not q.relevant_ids:
        return
    if q.answers:
        haystack = normal(turn.answer + " " + " ".join(c.quote for c in turn.citations))
        t.answer_hits.append(1.0 if any(normal(a) in haystack for a in q.answers) else 0.0)
    if turn.citations:
        relevant = {story_of(a) for a in q.relevant_ids}
        cited = {story_of(c.article_id) for c in turn.citations}
        t.citation_precision.append(len(cited & relevant) / len(cited))
