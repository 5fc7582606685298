from __future__ import annotations

import json
from dataclasses import replace

import pytest

from rag.errors import InputError
from rag.evaluate import Question, evaluate, load_questions, ranking_metrics, resolve_ids
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


def _cited_turn(answer: str, cited: list[str], refused: bool = False) -> Turn:
    return replace(_turn(refused, cited), answer=answer)


def test_answers_are_judged_on_the_fact_and_the_citation(tmp_path):
    rows = [
        # right: states a key fact (any spelling variant, accents and case ignored) and cites
        {"qid": "a1", "question": "Who attacked?", "lang": "en", "relevant_ids": ["r1"],
         "key_facts": ["JNIM", "Gruppo di sostegno all'Islam"]},
        # wrong: cites the relevant article but never says the fact
        {"qid": "a2", "question": "Where?", "lang": "it", "relevant_ids": ["r2"],
         "key_facts": ["Palmira", "Palmyra"]},
        # wrong: says the fact but from an irrelevant article
        {"qid": "a3", "question": "How many?", "lang": "en", "relevant_ids": ["r3"],
         "key_facts": ["seven", "7"]},
        # a wrong refusal
        {"qid": "a4", "question": "When?", "lang": "en", "relevant_ids": ["r4"],
         "key_facts": ["1982"]},
        # unanswerable: one refused, one answered (wrong, the worst outcome)
        {"qid": "u1", "question": "Acharan?", "lang": "it", "relevant_ids": []},
        {"qid": "u2", "question": "Tessalit?", "lang": "en", "relevant_ids": []},
    ]  # fmt: skip
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    turns = {
        "a1": _cited_turn("Il gruppo di sostegno all'islam ha attaccato [1].", ["r1"]),
        "a2": _cited_turn("Lo Stato Islamico colpisce ancora [1].\n\nFonti: [1] Palmyra.", ["r2"]),
        "a3": _cited_turn("Seven were killed [1].", ["other"]),
        "a4": _cited_turn("I found no article.", [], refused=True),
        "u1": _cited_turn("No article mentions Acharan.", [], refused=True),
        "u2": _cited_turn("JNIM attacked a base [1].", ["r1"]),
    }
    questions = load_questions(path)
    result = evaluate(
        questions, search=lambda q, f: ["r1", "r2", "r3", "r4"], story_of=lambda a: a,
        lang_of=lambda a: "en", ask=lambda q: turns[q.qid], details=True,
    )  # fmt: skip
    answers = result["answers"]
    assert answers["answer_accuracy"] == 0.25  # a1 only
    assert answers["wrong_answers"] == 0.5  # a2, a3, u2 of all six
    assert answers["refusal_rate"] == 0.5 and answers["wrong_refusal_rate"] == 0.25
    assert answers["answered_unanswerable"] == 0.5
    # the source-dates line never counts as stating the fact (a2 would be right otherwise)
    assert [d["outcome"] for d in result["details"]] == [
        "right",
        "wrong",
        "wrong",
        "refused",
        "refused",
        "wrong",
    ]
    assert result["answers_by"]["lang it"]["answerable"] == 1
    assert result["answers_by"]["cross_lang"]["answer_accuracy"] == 0.0  # a2: it -> en
    assert result["hit@1"] == 0.25 and result["hit@5"] == 1.0


def test_relevant_ids_resolve_by_path_suffix():
    q = Question("q", "?", ("seeds/000_x.txt", "fakes:1", "gone"))
    (resolved,) = resolve_ids([q], ["/abs/shared/seeds/000_x.txt", "fakes:1", "/b/001_y.txt"])
    assert resolved.relevant_ids == ("/abs/shared/seeds/000_x.txt", "fakes:1", "gone")


def test_key_facts_must_be_a_list(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"question": "q", "relevant_ids": ["a"], "key_facts": "JNIM"}))
    with pytest.raises(InputError, match="key_facts"):
        load_questions(path)


def test_a_conversation_record_keeps_its_history_and_its_standalone_form(tmp_path):
    from rag.evaluate import load_questions

    path = tmp_path / "conv.jsonl"
    path.write_text(
        json.dumps({"qid": "c1", "history": ["Who attacked the base at Acharan?"],
                    "question": "And when?", "standalone": "When was the base at Acharan attacked?",
                    "relevant_ids": ["a"], "key_facts": ["2023"]}) + "\n"
    )  # fmt: skip
    (q,) = load_questions(path)
    assert q.history == ("Who attacked the base at Acharan?",) and q.question == "And when?"
    alone = q.alone()
    assert alone.question == "When was the base at Acharan attacked?" and alone.history == ()
    path.write_text(json.dumps({"question": "q", "relevant_ids": [], "history": "not a list"}))
    with pytest.raises(InputError, match="history"):
        load_questions(path)
