from __future__ import annotations

import numpy as np

from rag.answer.citations import guard
from rag.types import Passage


def passage(n: int, text: str, lang: str = "en", date: str | None = "2018-03-01") -> Passage:
    return Passage(
        chunk_id=f"a{n}:0", article_id=f"a{n}", text=text, start=10 * n, end=10 * n + len(text),
        title=f"Title {n}", date=date, lang=lang, source="test", url=None, story_id=f"a{n}",
        score=1.0 - n / 10, dense=0.9,
    )  # fmt: skip


P = [
    passage(1, "Isis is confined to Deir Ezzor. A small group tries to take al-Yarmouk."),
    passage(2, "JNIM attacked a base at Acharan. It answered a Russian operation."),
    passage(3, "Il JNIM ha attaccato la base di Acharan.", lang="it"),
]


def test_markers_to_missing_passages_are_removed_and_the_rest_renumbered():
    text, cites = guard(
        "Isis is in Deir Ezzor [1][7]. JNIM attacked Acharan [2, 99].", P, lang="en"
    )
    assert text == "Isis is in Deir Ezzor [1]. JNIM attacked Acharan [2]."
    assert [c.article_id for c in cites] == ["a1", "a2"]


def test_a_marker_after_the_full_stop_moves_before_it():
    text, cites = guard("Isis is in Deir Ezzor. [1] JNIM attacked Acharan. [2]", P, lang="en")
    assert text == "Isis is in Deir Ezzor [1]. JNIM attacked Acharan [2]."
    assert cites[0].quote[slice(*cites[0].highlight)] == "Isis is confined to Deir Ezzor."


def test_numbering_follows_first_use():
    text, cites = guard("JNIM attacked [2]. Isis is in Deir Ezzor [1]. Again [2].", P, lang="en")
    assert text == "JNIM attacked [1]. Isis is in Deir Ezzor [2]. Again [1]."
    assert [(c.n, c.article_id) for c in cites] == [(1, "a2"), (2, "a1")]


def test_citations_carry_the_exact_span_and_the_supporting_sentence():
    _, cites = guard("A small group tries to take al-Yarmouk [1].", P, lang="en")
    c = cites[0]
    assert (c.quote, c.start, c.end, c.title, c.date, c.lang) == (
        P[0].text,
        P[0].start,
        P[0].end,
        "Title 1",
        "2018-03-01",
        "en",
    )
    a, b = c.highlight
    assert c.quote[a:b] == "A small group tries to take al-Yarmouk."


def test_an_answer_without_markers_gets_them_by_word_overlap():
    text, cites = guard(
        "JNIM attacked a base at Acharan. Isis is confined to Deir Ezzor.", P, lang="en"
    )
    assert text == "JNIM attacked a base at Acharan [1]. Isis is confined to Deir Ezzor [2]."
    assert [c.article_id for c in cites] == ["a2", "a1"]


def test_attachment_across_languages_uses_the_similarity_function():
    def similarity(a, b):  # the Italian sentence is close to passage 1 only
        return np.array([[0.95, 0.2, 0.1]])

    text, cites = guard(
        "L'Isis è ormai confinato a Deir Ezzor.", P, lang="it", similarity=similarity
    )
    assert text.endswith("[1].")
    assert cites[0].article_id == "a1"


def test_unsupported_sentences_stay_uncited():
    text, cites = guard("The weather in Oslo was mild.", P, lang="en")
    assert text == "The weather in Oslo was mild." and cites == ()


def test_nothing_can_be_cited_without_passages():
    text, cites = guard("Something [1].", [], lang="en")
    assert text == "Something." and cites == ()
