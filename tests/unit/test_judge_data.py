"""The judge's training questions keep the split by story: no article an evaluation set asks
about is trained on, and every answering sentence is one the trainer finds in its article."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answer.judge.train import eval_stories, split

REPO = Path(__file__).resolve().parents[2]
FILES = ("fakes_train.jsonl", "fakes_train_batch3.jsonl")


def _rows(name: str) -> list[dict]:
    text = (REPO / "data" / "judge" / name).read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def articles(shared_data: Path) -> dict[str, str]:
    path = shared_data / "fakes_syria_en.passages.jsonl"
    rows = (json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip())
    return {r["id"]: r["text"] for r in rows}


@pytest.mark.parametrize("name", FILES)
def test_no_evaluated_article_is_trained_on(name: str) -> None:
    asked = eval_stories(REPO / "data" / "eval")
    used = {r["article_id"] for r in _rows(name)}
    assert used and not used & asked


@pytest.mark.parametrize("name", FILES)
def test_each_answer_is_one_sentence_the_trainer_splits_out(name, articles) -> None:
    for r in _rows(name):
        if r["kind"] == "not_stated":
            assert r["answer"] == r["answer_sentence"] == "", r["qid"]
            continue
        assert r["kind"] == "answerable", r["qid"]
        sentences, _ = split(articles[r["article_id"]])
        target = r["answer_sentence"]
        assert any(target in s or s in target for s in sentences), r["qid"]


def test_the_third_batch_is_on_other_articles_with_other_ids() -> None:
    first, third = _rows(FILES[0]), _rows(FILES[1])
    assert not {r["article_id"] for r in first} & {r["article_id"] for r in third}
    assert not {r["qid"] for r in first} & {r["qid"] for r in third}
    assert len({r["question"] for r in first + third}) == len(first) + len(third)
