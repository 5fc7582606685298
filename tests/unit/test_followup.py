from __future__ import annotations

import pytest

from rag.followup import standalone_question
from rag.types import Message

ISIS = [Message("user", "where is Isis still active in Syria?"), Message("assistant", "…")]
JNIM = [Message("user", "chi ha attaccato la base di Acharan?"), Message("assistant", "…")]


@pytest.mark.parametrize(
    ("history", "question", "expected"),
    [
        (ISIS, "and in Iraq?", "where is Isis still active in Iraq?"),
        (ISIS, "what about in Iraq?", "where is Isis still active in Iraq?"),
        (ISIS, "and Iraq?", "where is Isis still active in Iraq?"),
        (ISIS, "when did it happen?", "when did it happen? where is Isis still active in Syria?"),
        (ISIS, "why?", "why? where is Isis still active in Syria?"),
        (ISIS, "Who attacked the base in Mali?", "Who attacked the base in Mali?"),
        (JNIM, "e quando è successo?", "e quando è successo? chi ha attaccato la base di Acharan?"),
        (JNIM, "e a Timbuctù?", "chi ha attaccato la base a Timbuctù?"),
        (JNIM, "e nel Mali?", "chi ha attaccato la base nel Mali?"),
        (JNIM, "Cosa succede in Libia?", "Cosa succede in Libia?"),
        ([], "and in Iraq?", "and in Iraq?"),
    ],
)
def test_follow_ups_become_standalone(history, question, expected):
    assert standalone_question(question, history) == expected


def test_follow_ups_that_point_back_keep_the_question_they_point_to():
    history = [
        Message("user", "Who attacked the base at Acharan?"), Message("assistant", "JNIM [1]"),
        Message("user", "And when?"), Message("assistant", "At dawn [1]"),
        Message("user", "Quando?"), Message("assistant", "All'alba [1]"),
    ]  # fmt: skip
    assert standalone_question("When did they attack it?", history) == (
        "When did they attack it? Who attacked the base at Acharan?"
    )
    moved = [Message("user", "where is Isis still active in Syria?"), Message("assistant", "x"),
             Message("user", "and in Iraq?"), Message("assistant", "y")]  # fmt: skip
    assert (
        standalone_question("and when?", moved) == "and when? where is Isis still active in Iraq?"
    )


def test_a_follow_up_that_names_nothing_leans_on_the_conversation():
    history = [Message("user", "Who took Raqqa from the Islamic State in 2017?"),
               Message("assistant", "The SDF [1]")]  # fmt: skip
    assert standalone_question("When did the battle begin?", history) == (
        "When did the battle begin? Who took Raqqa from the Islamic State in 2017?"
    )
    # an Italian verb without its subject, an object pronoun before the verb
    assert "Raqqa" in standalone_question("Perché riescono a sopravvivere?", history)
    assert "Raqqa" in standalone_question("Dove sono quelli che l'hanno lasciata?", history)
    # a question that names its own subject stands alone
    own = "What happened at Mosul in 2016?"
    assert standalone_question(own, history) == own
