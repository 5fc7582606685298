"""`newsrag search`, `ask`, `chat` and `eval` as a user runs them, over the real model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.integration.test_cli import assert_clean_error, newsrag

pytestmark = [pytest.mark.slow, pytest.mark.integration]

EVAL_KEYS = {
    "n", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "by_lang", "by_relevance",
    "answer_hit_rate", "citation_precision", "refusal_rate", "wrong_refusal_rate",
}  # fmt: skip


@pytest.fixture(scope="module")
def index(tmp_path_factory, seeds_dir, shared_data):
    folder = tmp_path_factory.mktemp("cli-query") / "index"
    wikinews = shared_data / "sample" / "belebele_wikinews_it_en.passages.jsonl"
    out = newsrag(
        "ingest", str(REPO / "data" / "sample"), str(seeds_dir), str(wikinews),
        "--index", str(folder), "-q",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return str(folder)


def as_json(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_search_json_ranks_the_article_that_answers(index):
    query = "chi ha attaccato la base di Acharan?"
    got = as_json(newsrag("search", query, "--json", "--k", "3", "--index", index))
    assert got["query"] == query
    assert 1 <= len(got["results"]) <= 3
    assert any("Acharan" in r["text"] for r in got["results"])
    assert all(r["lang"] == "it" for r in got["results"])  # an Italian question, Italian text
    assert {"article_id", "chunk_id", "title", "date", "lang", "score"} <= set(got["results"][0])


def test_search_filters_apply(index):
    got = as_json(newsrag("search", "Stato Islamico", "--json", "--lang", "en", "--index", index))
    assert got["results"] and all(r["lang"] == "en" for r in got["results"])
    old = as_json(newsrag("search", "Syria", "--json", "--date-to", "2000-01-01", "--index", index))
    assert old["results"] == []


def test_ask_json_is_the_typed_turn_with_citations(index):
    turn = as_json(newsrag("ask", "where is Isis still active in Syria?", "--json",
                           "--index", index))  # fmt: skip
    assert turn["mode"] == "extractive" and not turn["refused"] and turn["lang"] == "en"
    assert "[1]" in turn["answer"]
    given = {p["chunk_id"] for p in turn["passages"]}
    for c in turn["citations"]:
        assert c["chunk_id"] in given and c["quote"]
        assert {"article_id", "title", "date", "url", "lang", "start", "end"} <= set(c)
    assert set(turn["timings"]) >= {"retrieve_ms", "answer_ms", "total_ms"}


def test_ask_streams_text_then_the_sources(index):
    out = newsrag("ask", "chi ha attaccato la base di Acharan?", "--index", index)
    assert out.returncode == 0, out.stderr
    assert "JNIM" in out.stdout and "[1]" in out.stdout
    assert out.stdout.index("JNIM") < out.stdout.rindex("Acharan")  # answer, then its card


def test_a_filter_that_excludes_everything_is_refused_in_the_question_language(index):
    turn = as_json(newsrag("ask", "chi ha attaccato la base di Acharan?", "--json",
                           "--source", "nessuna", "--index", index))  # fmt: skip
    assert turn["refused"] and turn["citations"] == []
    assert "filtri" in turn["answer"]


def test_bad_filter_is_a_one_line_error(index):
    out = newsrag("ask", "Syria", "--date-from", "March 2016", "--index", index)
    assert_clean_error(out, 6, "--date-from", "YYYY-MM-DD")


def test_chat_keeps_the_subject_for_a_follow_up(index):
    lines = "chi ha attaccato la base di Acharan?\ne perché?\n/quit\n"
    out = subprocess.run(
        [sys.executable, "-m", "ui.cli", "chat", "--index", index],
        input=lines, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("Fonti") >= 2  # two answers, each with its Italian sources
    assert "Acharan" in out.stdout.split("e quando")[-1] or out.stdout.count("Acharan") >= 3


def test_eval_json_on_the_belebele_format_unchanged(index, shared_data):
    questions = shared_data / "sample" / "belebele_wikinews_it_en.questions.jsonl"
    got = as_json(newsrag("eval", "--questions", str(questions), "--json", "--retrieval-only",
                          "--index", index))  # fmt: skip
    assert got["n"] == sum(1 for _ in questions.open())
    assert set(got["by_relevance"]) == {"same_lang", "cross_lang"}
    assert set(got["by_lang"]) == {"it", "en"}
    assert 0.5 < got["recall@5"] <= 1 and got["recall@1"] <= got["recall@5"] <= got["recall@10"]
    assert "refusal_rate" not in got  # retrieval only: nothing was asked


def test_eval_json_with_answers_and_unanswerable_questions(index, tmp_path, seeds_dir):
    seed_it = f"file:{(seeds_dir / '001_af3cd1c6c052b50c.txt').resolve()}"
    seed_en = f"file:{(seeds_dir / '000_6473641cabe65d09.txt').resolve()}"
    rows = [
        {"qid": "a1", "question": "Chi ha attaccato la base di Acharan?", "lang": "it",
         "relevant_ids": [seed_it], "answers": ["JNIM"]},
        {"qid": "a2", "question": "Where is Isis still active in Syria?", "lang": "en",
         "relevant_ids": [seed_en], "answers": ["Deir Ez"]},
        {"qid": "u1", "question": "Who won the 1998 football world cup final?", "lang": "en",
         "relevant_ids": []},
        {"qid": "u2", "question": "Qual è la ricetta della carbonara?", "lang": "it",
         "relevant_ids": [], "filter": {"lang": "it"}},
    ]  # fmt: skip
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    got = as_json(newsrag("eval", "--questions", str(path), "--json", "--index", index))
    assert set(got) >= EVAL_KEYS
    assert got["n"] == 4 and got["refusal_rate"] == 1.0 and got["wrong_refusal_rate"] == 0.0
    assert got["answer_hit_rate"] == 1.0 and got["citation_precision"] > 0
    table = newsrag("eval", "--questions", str(path), "--index", index)
    assert table.returncode == 0 and "recall@5" in table.stdout and "refusal rate" in table.stdout


def test_eval_reports_a_malformed_line(index, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"qid": "x", "question": "q", "relevant_ids": []}\n{not json\n', "utf-8")
    out = newsrag("eval", "--questions", str(path), "--index", index)
    assert_clean_error(out, 6, "bad.jsonl", "2")
