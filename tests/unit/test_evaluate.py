from __future__ import annotations

import json

import pytest

from rag.errors import InputError
from rag.evaluate import evaluate, load_questions, ranking_metrics
from rag.types import Citation, Filters, Turn


def test_ranking_metrics_by_hand():
    m = ranking_metrics(["x", "r1", "y", "r2"], {"r1", "r2"})
    assert m["recall@1"] == 0 and m["recall@5"] == 1 and m["recall@10"] == 1
    assert m["mrr@10"] == 0.5
    ideal = 1 + 1 / 1.5849625
    assert m["ndcg@10"] == pytest.approx((1 / 1.5849625 + 1 / 2.321928) / ideal)


def test_load_questions_reads_filters_and_reports_bad_lines(tmp_path):
    good = tmp_path / "q.jsonl"
    good.write_text(
        json.dumps({"qid": "q1", "question": "Who?", "relevant_ids": ["a"], "lang": "en",
                    "filter": {"lang": "it", "date_from": "2017-01-01"}, "answers": ["JNIM"]})
        + "\n"
    )  # fmt: skip
    (q,) = load_questions(good)
    assert q.filters == Filters(lang="it", date_from="2017-01-01") and q.answers == ("JNIM",)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok", "relevant_ids": []}\n[1, 2]\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2"):
        load_questions(bad)


def _turn(refused: bool, cited: list[str], answer: str = "") -> Turn:
    cites = tuple(
        Citation(n=i + 1, article_id=a, chunk_id=f"{a}:0", title="", date=None, url=None,
                 lang="en", source=None, quote=f"text of {a}", start=0, end=1)
        for i, a in enumerate(cited)
    )  # fmt: skip
    return Turn(question="", query="", lang="en", answer=answer, citations=cites,
                mode="x", refused=refused, passages=())  # fmt: skip


def test_evaluate_counts_stories_conditions_and_answers(tmp_path):
    path = tmp_path / "q.jsonl"
    rows = [
        {"qid": "b:en:001:q1", "question": "q1", "lang": "en", "relevant_ids": ["en1", "it1"],
         "relevant_ids_same_lang": ["en1"], "relevant_ids_cross_lang": ["it1"],
         "answers": ["text of en1"]},
        {"qid": "n1", "question": "nothing", "lang": "en", "relevant_ids": []},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stories = {"en1": "s1", "it1": "s1"}
    langs = {"en1": "en", "it1": "it"}
    seen_filters = []

    def search(q, filters):
        seen_filters.append(filters.lang)
        return {None: ["x", "en1", "it1"], "en": ["en1"], "it": ["y", "it1"]}[filters.lang]

    turns = {"q1": _turn(False, ["en1", "zz"]), "nothing": _turn(True, [])}
    result = evaluate(
        load_questions(path), search=search, story_of=lambda a: stories.get(a, a),
        lang_of=langs.get, ask=lambda q: turns[q.question],
    )  # fmt: skip
    assert seen_filters == [None, "en", "it"]
    assert result["n"] == 2 and result["answerable"] == 1
    assert result["recall@1"] == 0 and result["recall@5"] == 1  # en1 and it1 are one story
    assert result["by_relevance"]["same_lang"]["recall@1"] == 1
    assert result["by_relevance"]["cross_lang"]["recall@1"] == 0
    assert result["by_relevance"]["cross_lang"]["mrr@10"] == 0.5
    assert result["answer_hit_rate"] == 1.0
    assert result["citation_precision"] == 0.5
    assert result["refusal_rate"] == 1.0 and result["wrong_refusal_rate"] == 0.0
