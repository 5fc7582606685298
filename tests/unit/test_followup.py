from __future__ import annotations

import pytest

from rag.followup import answer_names, pointed_question, standalone_question
from rag.question import wants
from rag.types import Message

ISIS = [Message("user", "where is Isis still active in Syria?"), Message("assistant", "…")]
JNIM = [Message("user", "chi ha attaccato la base di Acharan?"), Message("assistant", "…")]
ACHARAN = [Message("user", "Who attacked the base at Acharan?"), Message("assistant", "JNIM [1]")]
DIVISION = [Message("user", "How many soldiers did IS kill at Division 17 in July 2014?"),
            Message("assistant", "85 [1]")]  # fmt: skip
LEADS = [Message("user", "Who leads Boko Haram?"), Message("assistant", "Shekau [1]")]
DJIBO = [Message("user", "Who attacked the convoy on the road to Djibo?"),
         Message("assistant", "JNIM [1]")]  # fmt: skip


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
        # something new without the previous question's preposition takes its last name's place
        (
            ACHARAN,
            "And the army base in the Mopti region?",
            "Who attacked the army base in the Mopti region?",
        ),
        (
            DIVISION,
            "and the Tabqa air base?",
            "How many soldiers did IS kill at the Tabqa air base in July 2014?",
        ),
        # the words it repeats are not said twice; a bare name replaces one without preposition
        (ACHARAN, "And the base at Tessalit?", "Who attacked the base at Tessalit?"),
        (LEADS, "And ISWAP?", "Who leads ISWAP?"),
        (LEADS, "E l'ISWAP?", "Who leads l'ISWAP?"),
        # "da quanto tempo" is not a place after "da": the question points back instead
        (
            DJIBO,
            "E da quanto tempo è sotto blocco quella città?",
            "E da quanto tempo è sotto blocco quella città? "
            "Who attacked the convoy on the road to Djibo?",
        ),
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
        "When did they attack it? And when? Who attacked the base at Acharan?"
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


def test_a_follow_up_that_points_back_searches_what_the_answer_named():
    history = [
        Message("user", "In quale città si trova il mausoleo di Hafez e Bassil al-Assad?"),
        Message("assistant", "Citazioni in inglese: The mausoleum of Hafez and Bassil is located "
                             "in Qardaha [1].\n\nFonti: [1] 23 febbraio 2015."),
    ]  # fmt: skip
    there = "What did the suicide bomber drive into the hospital car park there?"
    assert answer_names(there, history, "en") == ("Qardaha",)  # not Hafez, asked already
    # a question of its own, or a new place put in the previous frame, needs none
    assert answer_names("What happened at Mosul in 2016?", history, "en") == ()
    assert answer_names("E a Damasco?", history, "it") == ()
    assert answer_names(there, [], "en") == ()
    refused = [
        history[0],
        Message(
            "assistant",
            "No article in the archive mentions “Hafez”. "
            "The closest articles are: - Raqqa falls (2017)",
        ),
    ]
    assert answer_names(there, refused, "en") == ()  # a refusal cites nothing to point back to


def test_a_pointer_searches_the_name_that_answered_not_every_name_of_the_answer():
    asked = "Which air base did Islamic State capture from the Syrian army in August 2014?"
    answer = (
        "Islamic State militants stormed an air base in northeast Syria on Sunday [1]. The "
        "Syrian Observatory for Human Rights said 346 fighters died in the fight over Tabqa "
        "base [1] (article of 24 August 2014).\n\nSources: [1] 24 August 2014."
    )
    history = [Message("user", asked), Message("assistant", answer)]
    # "it" is the air base the answer named beside the question's own noun, not the Observatory
    it = "How many captured soldiers did they massacre after taking it?"
    assert answer_names(it, history, "en") == ("Tabqa",)
    # a follow-up with no pointer is about the whole answer: every name it gave is searched
    assert "Syrian Observatory" in answer_names("On what date?", history, "en")
    # an answer that names nothing beside the question's noun does not say what "it" is
    vague = [history[0], Message("assistant", "Officials in Raqqa told the Observatory [1].")]
    assert set(answer_names(it, vague, "en")) == {"Raqqa", "Observatory"}


def test_the_kind_of_fact_asked_last_is_the_one_a_later_follow_up_asks():
    airliner = [
        Message("user", "Where was the airliner of Iran's worst air disaster heading?"),
        Message("assistant", "Armenia [1]"),
        Message("user", "How many people died?"), Message("assistant", "168 [1]"),
    ]  # fmt: skip
    mashhad = standalone_question("And at Mashhad?", airliner)
    assert mashhad.startswith("How many people died?") and "at Mashhad" in mashhad
    golan = [
        Message("user", "Quanto del Golan ha occupato Israele nella guerra del 1967?"),
        Message("assistant", "1200 km² [1]"),
        Message("user", "Quando l'ha annesso?"), Message("assistant", "Nel 1981 [1]"),
    ]  # fmt: skip
    syria = standalone_question("E quanto ne controlla ancora la Siria?", golan)
    assert wants(syria) == "number" and "Siria" in syria and "Golan" in syria


def test_a_refused_follow_up_does_not_frame_the_next_one():
    refused = [
        Message("user", "Chi ha attaccato la base di Acharan?"), Message("assistant", "JNIM [1]"),
        Message("user", "Come si chiama il loro capo?"),
        Message("assistant", "Gli articoli trovati su «Acharan» non dicono chi è a capo."),
    ]  # fmt: skip
    assert standalone_question("E quando?", refused) == (
        "E quando? Chi ha attaccato la base di Acharan?"
    )
    answered = [*refused[:3], Message("assistant", "Iyad Ag Ghaly [1]")]
    assert standalone_question("E quando?", answered) == (
        "E quando? Come si chiama il loro capo? Chi ha attaccato la base di Acharan?"
    )


def test_a_pointer_to_the_name_that_answered_stands_alone_with_it():
    asked = (
        "In which Homs province town did Islamic State kill dozens of civilians accused of "
        "collaborating with the government in October 2017?"
    )
    answer = (
        "The Observatory says the number of those killed in Qaryatayn in central Homs province "
        "is likely to rise [1].\n\nSources: [1] 23 October 2017."
    )
    history = [Message("user", asked), Message("assistant", answer)]
    # the town, and the previous question's names; not its other words, nor October 2017
    assert pointed_question("When had the army first taken it back?", history, "en") == (
        "When had the army first taken it back? (Qaryatayn; Homs, Islamic State)"
    )
    # no pointer, a follow-up of its own, or an answer that named nothing beside "town"
    assert pointed_question("And when?", history, "en") is None
    assert pointed_question("E a Palmira?", history, "it") is None
    vague = [history[0], Message("assistant", "Officials in Raqqa told the Observatory [1].")]
    assert pointed_question("When had the army first taken it back?", vague, "en") is None
