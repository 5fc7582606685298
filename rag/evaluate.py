"""Evaluation of retrieval and answers on a questions file (JSONL).

One question per line: ``qid``, ``question``, optional ``lang``, ``relevant_ids`` (article
ids; empty = the archive does not answer it), optional ``filter`` (``lang``, ``source``,
``date_from``, ``date_to``), optional ``answers`` (gold strings). Belebele's extra fields
``relevant_ids_same_lang`` / ``relevant_ids_cross_lang`` add the same- and cross-language
conditions: the question is asked again with a language filter set to that passage's language.

Results are one per story, so relevance is counted per story: an article and its
translation are one relevant item. Retrieval metrics cover answerable questions only.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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
                    relevant_ids=tuple(map(str, row.get("relevant_ids") or ())),
                    lang=row.get("lang"),
                    filters=Filters(lang=f.get("lang"), source=f.get("source"),
                                    date_from=f.get("date_from"), date_to=f.get("date_to")),
                    answers=tuple(map(str, row.get("answers") or ())),
                    same_lang_ids=tuple(map(str, row.get("relevant_ids_same_lang") or ())),
                    cross_lang_ids=tuple(map(str, row.get("relevant_ids_cross_lang") or ())),
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


def ranking_metrics(retrieved: Sequence[str], relevant: set[str]) -> dict[str, float]:
    """recall@k, mrr@10 and ndcg@10 of a ranked list of (story) ids against a relevant set."""
    out: dict[str, float] = {}
    for k in KS:
        out[f"recall@{k}"] = len(relevant & set(retrieved[:k])) / len(relevant)
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


@dataclass
class _Tally:
    main: list[dict[str, float]] = field(default_factory=list)
    by_lang: dict[str, list[dict[str, float]]] = field(default_factory=lambda: defaultdict(list))
    by_relevance: dict[str, list[dict[str, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    answer_hits: list[float] = field(default_factory=list)
    citation_precision: list[float] = field(default_factory=list)
    refused_unanswerable: list[float] = field(default_factory=list)
    refused_answerable: list[float] = field(default_factory=list)


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
) -> dict[str, Any]:
    """Run every question; ``ask`` (the whole answer pipeline) is skipped when None."""
    t = _Tally()
    for i, q in enumerate(questions, 1):
        if q.relevant_ids:
            relevant = {story_of(a) for a in q.relevant_ids}
            ranked = _stories(search(q, q.filters), story_of)
            metrics = ranking_metrics(ranked, relevant)
            t.main.append(metrics)
            t.by_lang[q.lang or "und"].append(metrics)
            for name, ids in (("same_lang", q.same_lang_ids), ("cross_lang", q.cross_lang_ids)):
                if not ids:
                    continue
                target = lang_of(ids[0])
                f = Filters(target, q.filters.date_from, q.filters.date_to, q.filters.source)
                t.by_relevance[name].append(
                    ranking_metrics(_stories(search(q, f), story_of), {story_of(a) for a in ids})
                )
        if ask is not None:
            _score_answer(q, ask(q), story_of, t)
        if progress:
            progress(i)

    result: dict[str, Any] = {"n": len(questions), "answerable": len(t.main)}
    result.update(_mean(t.main))
    result["n"] = len(questions)
    result["by_lang"] = {k: _mean(v) for k, v in sorted(t.by_lang.items())}
    result["by_relevance"] = {k: _mean(v) for k, v in sorted(t.by_relevance.items())}
    if ask is not None:
        for key, values in (
            ("answer_hit_rate", t.answer_hits), ("citation_precision", t.citation_precision),
            ("refusal_rate", t.refused_unanswerable),
            ("wrong_refusal_rate", t.refused_answerable),
        ):  # fmt: skip
            result[key] = round(sum(values) / len(values), 4) if values else None
    return result


def _stories(article_ids: Sequence[str], story_of: StoryOf) -> list[str]:
    seen: dict[str, None] = {}
    for a in article_ids:
        seen.setdefault(story_of(a), None)
    return list(seen)


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _score_answer(q: Question, turn: Turn, story_of: StoryOf, t: _Tally) -> None:
    if not q.relevant_ids:
        t.refused_unanswerable.append(1.0 if turn.refused else 0.0)
        return
    t.refused_answerable.append(1.0 if turn.refused else 0.0)
    if q.answers:
        haystack = _normal(turn.answer + " " + " ".join(c.quote for c in turn.citations))
        t.answer_hits.append(1.0 if any(_normal(a) in haystack for a in q.answers) else 0.0)
    if turn.citations:
        relevant = {story_of(a) for a in q.relevant_ids}
        cited = {story_of(c.article_id) for c in turn.citations}
        t.citation_precision.append(len(cited & relevant) / len(cited))
