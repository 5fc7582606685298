"""LLM sentences checked against the passages they cite (rag/answer/claims.py)."""

from __future__ import annotations

from rag.answer.citations import guard
from rag.answer.claims import check_claims, facts
from rag.types import Passage


def passage(n: int, text: str, lang: str = "en") -> Passage:
    return Passage(
        chunk_id=f"a{n}#0", article_id=f"a{n}", text=text, start=0, end=len(text), title="",
        date="2023-10-04", lang=lang, source="s", url=None, story_id=None, score=1.0,
    )  # fmt: skip


ACHARAN = passage(1, "JNIM fighters attacked the Acharan base at dawn, west of Timbuktu.")
BAGHUZ = passage(2, "The SDF took Baghuz in March 2019, ending the last enclave.")


def test_facts_are_the_names_and_numbers_a_sentence_states():
    found = {t.text for t in facts("The SDF took Baghuz in 2019 with 300 fighters [2].", "en")}
    assert found == {"SDF", "Baghuz", "2019", "300"}
    assert facts("It was a long battle [1].", "en") == []


def test_a_supported_sentence_stays_and_an_invented_one_goes():
    text = "JNIM attacked the Acharan base [1]. The attack killed 40 soldiers at Tessalit [1]."
    assert check_claims(text, [ACHARAN, BAGHUZ], "en") == "JNIM attacked the Acharan base [1]."


def test_a_sentence_citing_the_wrong_passage_is_pointed_to_the_right_one():
    text = "The SDF took Baghuz in 2019 [1][1]. JNIM attacked Acharan [1]."
    assert check_claims(text, [ACHARAN, BAGHUZ], "en") == (
        "The SDF took Baghuz in 2019 [2]. JNIM attacked Acharan [1]."
    )


def test_a_sentence_with_nothing_to_check_is_kept_and_other_languages_count():
    italian = passage(3, "I combattenti del JNIM hanno attaccato la base di Acharan.", "it")
    text = "The fighting was heavy [1]. JNIM fighters hit Acharan [1]."
    assert check_claims(text, [italian], "en") == text


def test_an_answer_with_nothing_supported_has_no_citation_left():
    answer, citations = guard(
        "Wagner troops attacked Kidal in 2021 [1].", [ACHARAN], lang="en", check=True
    )
    assert citations == () and "[1]" not in answer
    answer, citations = guard("JNIM attacked Acharan [1].", [ACHARAN], lang="en", check=True)
    assert [c.article_id for c in citations] == ["a1"]
