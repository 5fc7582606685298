from __future__ import annotations

import pytest

from rag.sentences import split_sentences


def pieces(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Isis is imploding. The fight started at dawn.",
            ["Isis is imploding.", "The fight started at dawn."],
        ),
        (
            "Is it over? No! It goes on… Nobody knows.",
            ["Is it over?", "No!", "It goes on…", "Nobody knows."],
        ),
        (
            "Gen. Smith met the U.S. envoy. Talks ended.",
            ["Gen. Smith met the U.S. envoy.", "Talks ended."],
        ),
        (
            "The rate rose to 3.5 per cent. Prices fell.",
            ["The rate rose to 3.5 per cent.", "Prices fell."],
        ),
        (
            "J. R. Smith spoke at 5 p.m. on Monday. He left.",
            ["J. R. Smith spoke at 5 p.m. on Monday.", "He left."],
        ),
        (
            'He said: "We will return." Then he left.',
            ['He said: "We will return."', "Then he left."],
        ),
        (
            "Il Sig. Rossi è arrivato. Poi è ripartito.",
            ["Il Sig. Rossi è arrivato.", "Poi è ripartito."],
        ),
        (
            "L'Isis è in ritirata. «Non torneranno», ha detto.",
            ["L'Isis è in ritirata.", "«Non torneranno», ha detto."],
        ),
        (
            "Attacco a Mopti. È la risposta del JNIM.",
            ["Attacco a Mopti.", "È la risposta del JNIM."],
        ),
        (
            "Raids continue. - Troops kill 12. - Air raids hit Homs.",
            ["Raids continue.", "- Troops kill 12.", "- Air raids hit Homs."],
        ),
        ("In 2017. 2018 was worse.", ["In 2017.", "2018 was worse."]),
        ("no final period", ["no final period"]),
        ("   ", []),
    ],
)
def test_sentence_boundaries(text, expected):
    assert pieces(text) == expected


def test_spans_are_trimmed_and_point_into_the_text():
    text = "  First one.   Second one.  "
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == ["First one.", "Second one."]
    assert spans[0][0] == 2
