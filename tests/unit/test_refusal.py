"""The support score behind refusals: cross-language allowance and words the archive lacks."""

from __future__ import annotations

import pytest

from rag.archive.lexical import LexicalDoc, LexicalIndex
from rag.chat import MAX_UNKNOWN_WORDS, support, unknown_words
from rag.timeparse import parse_time
from rag.types import Passage


def passage(lang: str, dense: float | None) -> Passage:
    return Passage(
        chunk_id=f"{lang}-{dense}", article_id=lang, text="t", start=0, end=1, title="",
        date=None, lang=lang, source=None, url=None, story_id=None, score=0.0, dense=dense,
    )  # fmt: skip


def test_a_passage_in_another_language_gets_the_allowance():
    ps = [passage("en", 0.80), passage("it", 0.78)]
    assert support("en", ps, 0, cross_lang_allowance=0.0, unknown_word_penalty=0.1) == 0.80
    got = support("en", ps, 0, cross_lang_allowance=0.05, unknown_word_penalty=0.0)
    assert got == pytest.approx(0.83)  # the Italian passage, lifted, is now the best
    same = support("it", ps, 0, cross_lang_allowance=0.05, unknown_word_penalty=0.0)
    assert same == pytest.approx(0.85)  # for an Italian question the English one is foreign


def test_unknown_words_lower_the_support_up_to_a_cap():
    ps = [passage("en", 0.80)]
    scores = [
        support("en", ps, n, cross_lang_allowance=0.0, unknown_word_penalty=0.02)
        for n in range(MAX_UNKNOWN_WORDS + 3)
    ]
    assert scores[0] == 0.80 and scores[1] == pytest.approx(0.78)
    assert scores[MAX_UNKNOWN_WORDS] == pytest.approx(0.80 - 0.02 * MAX_UNKNOWN_WORDS)
    assert scores[-1] == scores[MAX_UNKNOWN_WORDS]


def test_no_passage_with_a_cosine_means_no_support():
    assert support("en", [], 0, cross_lang_allowance=0.05, unknown_word_penalty=0.0) is None
    lexical_only = [passage("en", None)]
    assert support("en", lexical_only, 0, cross_lang_allowance=0, unknown_word_penalty=0) is None


def lexical(*docs: tuple[str, str]) -> LexicalIndex:
    return LexicalIndex.build(
        ((LexicalDoc(f"c{i}", f"a{i}", lang, 0, ""), text) for i, (lang, text) in enumerate(docs)),
        generation=1,
    )


def test_unknown_words_are_the_question_words_no_chunk_contains():
    index = lexical(
        ("it", "Gli Houthi hanno attaccato le navi nel Mar Rosso."),
        ("en", "The offensive on Raqqa began in June."),
    )
    # stop and question words never count; "attack" is unknown: only "attaccato" is there
    assert index.unknown_words("Where did the Houthis attack the ships?", "en") == [
        "attack", "ships",
    ]  # fmt: skip
    assert index.unknown_words("Who attacked Raqqa in June?", "en") == ["attacked"]
    # a name spelt alike in both languages is known whichever language the question is in
    assert index.unknown_words("Chi sono gli Houthi?", "it") == []
    assert index.unknown_words("Who are the Houthi?", "en") == []
    assert index.unknown_words("How many Rafale jets did India buy?", "en") == [
        "rafale", "jets", "india", "buy",
    ]  # fmt: skip
    assert lexical().unknown_words("anything at all", "en") == []


def test_without_the_questions_language_its_ordinary_words_are_not_unknown():
    boeing = ("en", "Boeing promised 44,000 new jobs at 300 suppliers.")
    question = "Quanti posti di lavoro aveva promesso Boeing per i Rafale?"
    english = lexical(boeing)
    assert english.languages == frozenset({"en"})
    # no article could say "lavoro" or "promesso": only the name no article uses counts
    assert unknown_words(english, question, "it") == ["rafale"]
    # an archive that has Italian articles would have used them
    both = lexical(boeing, ("it", "L'offensiva su Raqqa è iniziata a giugno."))
    assert unknown_words(both, question, "it") == ["posti", "lavoro", "promesso", "rafale"]


def test_the_day_of_a_date_is_not_an_unknown_word():
    # the demo had refused "What did the SDF announce on March 23, 2019?" for the "23" that no
    # article writes (its article is dated 23 March 2019), and answered "… in March 2019?"
    index = lexical(
        ("en", "The SDF announced the capture of Baghuz on Saturday."),
        ("it", "Le SDF hanno conquistato Baghuz sabato."),
    )
    for question, lang, unknown in [
        ("What did the SDF announce on March 23, 2019?", "en", []),
        ("Cosa hanno annunciato le SDF l'8 gennaio 2020?", "it", ["annunciato"]),
        ("Did the SDF capture 23 villages?", "en", ["23", "villages"]),  # not a date: counts
    ]:
        dates = parse_time(question, lang).phrases
        assert unknown_words(index, question, lang, dates) == unknown
    assert unknown_words(index, "What did the SDF announce on March 23, 2019?", "en") == ["23"]
