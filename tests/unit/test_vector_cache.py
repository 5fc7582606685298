"""The small vector cache behind query and sentence embeddings."""

from __future__ import annotations

import numpy as np

from rag.embedding import VectorCache


def test_only_missing_texts_are_computed_and_rows_follow_the_input():
    asked: list[list[str]] = []

    def compute(texts: list[str]) -> np.ndarray:
        asked.append(texts)
        return np.array([[float(len(t))] for t in texts])

    cache = VectorCache(10)
    first = cache.vectors(["aa", "b", "aa"], compute)
    assert first.tolist() == [[2.0], [1.0], [2.0]]
    second = cache.vectors(["b", "cccc"], compute)
    assert second.tolist() == [[1.0], [4.0]]
    assert asked == [["aa", "b"], ["cccc"]]  # a repeated text is computed once


def test_the_least_recently_used_text_goes_first():
    calls: list[str] = []

    def compute(texts: list[str]) -> np.ndarray:
        calls.extend(texts)
        return np.ones((len(texts), 2))

    cache = VectorCache(2)
    cache.vectors(["a"], compute)
    cache.vectors(["b"], compute)
    cache.vectors(["a"], compute)  # a is used again: b is now the oldest
    cache.vectors(["c"], compute)  # evicts b
    cache.vectors(["a", "b"], compute)
    assert calls == ["a", "b", "c", "b"]


def test_one_question_is_remembered_and_batches_are_computed_as_they_come():
    asked: list[list[str]] = []

    def compute(texts) -> np.ndarray:
        asked.append(list(texts))
        return np.array([[float(len(t))] for t in texts])

    cache = VectorCache(10)
    assert cache.question(["who?"], compute).tolist() == [[4.0]]
    assert cache.question(["who?"], compute).tolist() == [[4.0]]
    assert cache.question(["a", "bb"], compute).tolist() == [[1.0], [2.0]]
    assert cache.question(["a", "bb"], compute).tolist() == [[1.0], [2.0]]
    assert asked == [["who?"], ["a", "bb"], ["a", "bb"]]
