"""parse_time: the date range and recency a question asks about, in Italian and English."""

from __future__ import annotations

import dataclasses
import time

import pytest

from rag.retrieval import TimeRange
from rag.timeparse import TimeIntent, names_day, names_month, parse_time

# (lang, question, date_from, date_to, recency)
CASES = [
    # recency, both languages whatever lang says
    ("en", "Where is Isis still active in Syria?", None, None, True),
    ("en", "Who controls Raqqa now?", None, None, True),
    ("en", "What is currently happening in Idlib?", None, None, True),
    ("en", "Latest news on the Wagner group", None, None, True),
    ("en", "How many drones has Russia launched so far?", None, None, True),
    ("en", "Is the war in Sudan ongoing?", None, None, True),
    ("en", "What is the situation at the moment?", None, None, True),
    ("en", "Who leads Hezbollah these days?", None, None, True),
    ("en", "recent attacks in the Sahel", None, None, True),
    ("en", "dove è ancora attivo l'Isis?", None, None, True),  # Italian words, lang "en"
    ("it", "Dove è ancora attivo l'Isis in Siria?", None, None, True),
    ("it", "Chi controlla attualmente Raqqa?", None, None, True),
    ("it", "Cosa succede oggi in Libia?", None, None, True),
    ("it", "Dove si trova ora il califfo?", None, None, True),
    ("it", "Ora, dove combattono?", None, None, True),
    ("it", "Le ultime notizie dal Mali", None, None, True),
    ("it", "l'ultimo rapporto dell'Onu sullo Yemen", None, None, True),
    ("it", "Gli scontri sono ancora in corso?", None, None, True),
    ("it", "Chi ha vinto di recente?", None, None, True),
    ("it", "al momento chi governa?", None, None, True),
    ("it", "quanti attacchi finora?", None, None, True),
    ("it", "la milizia è tuttora attiva?", None, None, True),
    ("it", "la milizia è tutt’ora attiva?", None, None, True),
    ("it", "al giorno d'oggi", None, None, True),
    # not recency: other senses and other words
    ("it", "Storia della guerra in Iraq", None, None, False),
    ("it", "l'orario dei voli militari", None, None, False),
    ("it", "alle ore 12 è scattato l'attacco", None, None, False),
    ("it", "è durato un'ora", None, None, False),
    ("it", "a che ora è iniziato il bombardamento?", None, None, False),
    ("it", "alle 5 ora locale", None, None, False),
    ("it", "ancora una volta l'esercito ha attaccato", None, None, False),
    ("it", "al momento dell'attacco chi c'era?", None, None, False),
    ("it", "allora chi governava?", None, None, False),
    ("en", "at the moment of the explosion", None, None, False),
    ("en", "the deal must be signed by 2018 at the latest", None, None, False),
    ("en", "What do we know about the Kurds?", None, None, False),
    ("en", "What happened last year in Gaza?", None, None, False),
    ("it", "cosa è successo ieri a Kiev?", None, None, False),
    ("it", "l'anno scorso cosa è successo?", None, None, False),
    # years
    ("it", "cosa è successo a Mosul nel 2016?", "2016-01-01", "2016-12-31", False),
    ("en", "What happened in Mosul in 2016?", "2016-01-01", "2016-12-31", False),
    ("en", "attacks during 2017", "2017-01-01", "2017-12-31", False),
    ("it", "attentati durante il 2017", "2017-01-01", "2017-12-31", False),
    ("it", "l'offensiva del 2016 su Mosul", "2016-01-01", "2016-12-31", False),
    ("en", "the battle of 2017", "2017-01-01", "2017-12-31", False),
    ("en", "the 2017 attack in Manchester", "2017-01-01", "2017-12-31", False),
    ("en", "In 2017, civilians fled Mosul", "2017-01-01", "2017-12-31", False),
    ("en", "in 2017 civilians fled Mosul", "2017-01-01", "2017-12-31", False),
    ("it", "nell'estate del 2014", "2014-01-01", "2014-12-31", False),
    # a quarter or half of a year is about that year ("What was Ford's third-quarter 2009
    # profit per share?": the report of 3 November 2009 does not write "2009")
    ("en", "Ford's third-quarter 2009 profit per share", "2009-01-01", "2009-12-31", False),
    ("it", "l'utile di Ford nel terzo trimestre 2009", "2009-01-01", "2009-12-31", False),
    ("it", "le vendite del primo semestre 2017", "2017-01-01", "2017-12-31", False),
    ("en", "Isis in Syria in 2100", "2100-01-01", "2100-12-31", False),
    # numbers that are not years
    ("en", "How many of the 2017 soldiers died?", None, None, False),
    ("en", "2017 soldiers were deployed", None, None, False),
    ("en", "a convoy that travelled 1500 km", None, None, False),
    ("en", "after 2000 soldiers died", None, None, False),
    ("en", "up to 2000 fighters", None, None, False),
    ("it", "fino a 2000 combattenti", None, None, False),
    ("en", "Mosul 2016", None, None, False),
    ("en", "in 1899", None, None, False),
    ("en", "in 2101", None, None, False),
    ("it", "entro il 2025", None, None, False),
    # months
    ("en", "in March 2016", "2016-03-01", "2016-03-31", False),
    ("en", "March 2016 offensive", "2016-03-01", "2016-03-31", False),
    ("it", "a marzo 2016", "2016-03-01", "2016-03-31", False),
    ("it", "nel marzo 2016", "2016-03-01", "2016-03-31", False),
    ("it", "marzo del 2016", "2016-03-01", "2016-03-31", False),
    ("it", "ad aprile 2016", "2016-04-01", "2016-04-30", False),
    ("it", "nell’aprile 2016", "2016-04-01", "2016-04-30", False),
    ("it", "febbraio 2016", "2016-02-01", "2016-02-29", False),  # leap year
    ("en", "February 2015", "2015-02-01", "2015-02-28", False),
    ("en", "February 2000", "2000-02-01", "2000-02-29", False),  # divisible by 400
    ("en", "February 1900", "1900-02-01", "1900-02-28", False),  # divisible by 100
    ("en", "Jan. 2016", "2016-01-01", "2016-01-31", False),
    ("it", "gen. 2016", "2016-01-01", "2016-01-31", False),
    ("it", "sett. 2016", "2016-09-01", "2016-09-30", False),
    ("it", "ago 2016", "2016-08-01", "2016-08-31", False),
    ("en", "two years ago 2016 was bad", None, None, False),  # "ago" is not agosto in English
    ("it", "scontri in 03/2016", None, None, False),
    ("it", "cosa è successo a marzo?", None, None, False),  # no year: needs the clock
    # days
    ("en", "on 5 April 2017", "2017-04-05", "2017-04-05", False),
    ("en", "April 5, 2017", "2017-04-05", "2017-04-05", False),
    ("en", "the 5th of April 2017", "2017-04-05", "2017-04-05", False),
    ("en", "Sept. 11, 2001", "2001-09-11", "2001-09-11", False),
    ("it", "il 5 aprile 2017", "2017-04-05", "2017-04-05", False),
    ("it", "l'11 settembre 2001", "2001-09-11", "2001-09-11", False),
    ("it", "il 1º maggio 2017", "2017-05-01", "2017-05-01", False),
    ("en", "on 1st May 2017", "2017-05-01", "2017-05-01", False),
    ("it", "29 febbraio 2016", "2016-02-29", "2016-02-29", False),
    ("en", "2017-04-05", "2017-04-05", "2017-04-05", False),
    ("it", "il 16/4/2017", "2017-04-16", "2017-04-16", False),  # only d/m possible
    ("en", "on 4/16/2017", "2017-04-16", "2017-04-16", False),  # only m/d possible
    ("en", "on 5/5/2017", "2017-05-05", "2017-05-05", False),  # both readings agree
    ("it", "il 5/4/2017", None, None, False),  # 5 April or 4 May: skipped
    ("en", "il 5 aprile", None, None, False),  # no year
    ("en", "Feb 29 2015", None, None, False),  # no such day
    # ranges
    ("en", "between 2015 and 2017", "2015-01-01", "2017-12-31", False),
    ("en", "from 2015 to 2017", "2015-01-01", "2017-12-31", False),
    ("it", "tra il 2015 e il 2017", "2015-01-01", "2017-12-31", False),
    ("it", "fra 2015 e 2017", "2015-01-01", "2017-12-31", False),
    ("it", "dal 2015 al 2017", "2015-01-01", "2017-12-31", False),
    ("en", "in 2015-2017", "2015-01-01", "2017-12-31", False),
    ("it", "nel 2015–2017", "2015-01-01", "2017-12-31", False),
    ("it", "nel 2015-17", "2015-01-01", "2017-12-31", False),
    ("en", "the 2015-2017 figures", None, None, False),  # no temporal preposition
    ("en", "from March 2016 to June 2017", "2016-03-01", "2017-06-30", False),
    ("it", "tra marzo e giugno 2016", "2016-03-01", "2016-06-30", False),
    ("it", "dal 5 al 10 aprile 2017", "2017-04-05", "2017-04-10", False),
    ("en", "between 5 and 10 April 2017", "2017-04-05", "2017-04-10", False),
    ("en", "from 2017 to 2015", None, None, False),  # backwards: which year is the slip?
    # open ranges
    ("en", "since 2019", "2019-01-01", None, False),
    ("en", "after 2019", "2020-01-01", None, False),
    ("en", "post-2014 Iraq", "2015-01-01", None, False),
    ("it", "dal 2019", "2019-01-01", None, False),
    ("it", "dal 2019 in poi", "2019-01-01", None, False),
    ("it", "dopo il 2019", "2020-01-01", None, False),
    ("it", "a partire dal 2019", "2019-01-01", None, False),
    ("en", "after March 2016", "2016-04-01", None, False),
    ("it", "dopo il 31 dicembre 2016", "2017-01-01", None, False),
    ("en", "before 2016", None, "2015-12-31", False),
    ("en", "until 2016", None, "2016-12-31", False),
    ("it", "fino al 2016", None, "2016-12-31", False),
    ("it", "prima del 2016", None, "2015-12-31", False),
    ("it", "prima di marzo 2016", None, "2016-02-29", False),
    ("en", "by the end of 2016", None, "2016-12-31", False),
    # decades
    ("en", "in the 1990s", "1990-01-01", "1999-12-31", False),
    ("en", "the '90s", "1990-01-01", "1999-12-31", False),
    ("en", "the nineties", "1990-01-01", "1999-12-31", False),
    ("en", "since the 1990s", "1990-01-01", None, False),
    ("it", "negli anni '90", "1990-01-01", "1999-12-31", False),
    ("it", "negli anni 90", "1990-01-01", "1999-12-31", False),
    ("it", "negli anni novanta", "1990-01-01", "1999-12-31", False),
    ("it", "negli anni 2000", "2000-01-01", "2009-12-31", False),
    ("it", "dagli anni ’80", "1980-01-01", None, False),
    ("it", "ha 90 anni", None, None, False),
    # several expressions
    ("en", "in 2015 and in 2017", None, None, False),
    ("en", "in 2015 and 2017", None, None, False),
    ("it", "nel 2015 e nel 2017", None, None, False),
    ("it", "nel 2015, 2016 e 2017", None, None, False),
    ("en", "the 2016 and 2017 offensives", None, None, False),
    ("en", "March and June 2016", None, None, False),
    ("it", "il 5 e 6 aprile 2017", None, None, False),
    ("en", "the 1980s and 1990s", None, None, False),
    ("en", "in 2016, and again in 2016", "2016-01-01", "2016-12-31", False),
    ("it", "nel 2016, soprattutto a marzo 2016", "2016-01-01", "2016-12-31", False),
    ("en", "since 2015; what happened in 2017?", "2015-01-01", None, False),
    ("en", "since 2015 but before 2018", "2015-01-01", "2017-12-31", False),
    ("en", "after 2019 and before 2016", None, None, False),
    ("en", "is Isis still active in Syria since 2019 and in 2015?", None, None, True),
    # dates and recency together
    ("it", "dal 2019 ad oggi", "2019-01-01", None, True),
    ("en", "latest news on Mosul in 2016", "2016-01-01", "2016-12-31", True),
]


@pytest.mark.parametrize(("lang", "question", "date_from", "date_to", "recency"), CASES)
def test_parse_time(lang, question, date_from, date_to, recency):
    got = parse_time(question, lang)
    assert (got.date_from, got.date_to, got.recency) == (date_from, date_to, recency)
    assert all(phrase in question for phrase in got.phrases)


@pytest.mark.parametrize(
    ("lang", "question", "phrases"),
    [
        ("en", "Where is Isis still active in Syria?", ("still",)),
        ("it", "cosa è successo a Mosul nel 2016?", ("nel 2016",)),
        ("it", "Chi ha vinto di recente?", ("di recente",)),
        ("it", "ultima ora dalla Siria", ("ultima ora",)),
        ("en", "What is the situation at the moment?", ("at the moment",)),
        ("it", "tra il 2015 e il 2017 chi è ancora lì?", ("tra il 2015 e il 2017", "ancora")),
        ("it", "nell’aprile 2016", ("nell’aprile 2016",)),  # the question's own apostrophe
        ("it", "l'11 settembre 2001", ("l'11 settembre 2001",)),
        ("en", "the 2017 attack", ("the 2017",)),
        ("en", "since 2015 but before 2018", ("since 2015", "before 2018")),
        # ambiguous: the dates are dropped, what was recognised is still listed
        ("en", "in 2015 and in 2017", ("in 2015 and in 2017",)),
        ("en", "Latest news, now", ("Latest", "now")),
        ("en", "2017 soldiers in 1500 km", ()),
    ],
)
def test_phrases_are_the_recognised_substrings_in_order(lang, question, phrases):
    assert parse_time(question, lang).phrases == phrases


def test_ambiguous_month_abbreviations_depend_on_the_language():
    assert parse_time("set 2016", "it").date_from == "2016-09-01"
    assert parse_time("set 2016", "en").date_from is None
    assert parse_time("anni fa, ago 2016", "it").date_to == "2016-08-31"


def test_other_languages_are_read_like_english():
    assert parse_time("ago 2016", "fr").date_from is None
    assert parse_time("in 2016", "de").date_from == "2016-01-01"


def test_same_question_same_answer_and_a_frozen_result():
    first = parse_time("cosa è successo a Mosul nel 2016? e oggi?", "it")
    assert first == parse_time("cosa è successo a Mosul nel 2016? e oggi?", "it")
    assert first.has_dates and first.recency
    assert not parse_time("Who is the Houthi leader?", "en").has_dates
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.recency = False  # type: ignore[misc]


def test_empty_question():
    assert parse_time("", "it") == TimeIntent(None, None, False, ())


@pytest.mark.parametrize(
    "question", ["5, " * 2000 + "maggio", "marzo e " * 1000, "in 2015, " * 1000]
)
def test_long_repetitive_text_stays_linear(question):
    # these took seconds when lists could backtrack without bound; now some tens of ms
    started = time.perf_counter()
    parse_time(question, "it")
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("destroyed by Russian airstrikes on May 25 while fleeing Raqqa", True),
        ("i raid del 25 maggio sulla colonna", True),
        ("on the 25th of May", True),
        ("on May 26 the convoy", False),  # another day
        ("on June 25 the convoy", False),  # another month
        ("25 days later", False),  # no month
    ],
)
def test_names_day_reads_the_day_and_month_in_either_order(text, named):
    assert names_day(text, "2017-05-25") is named


def test_a_report_naming_the_asked_day_covers_it_only_in_that_year():
    # "Quanti pick-up … hanno distrutto i raid russi del 25 maggio 2017?": the Sputnik report of
    # 27 May says "on May 25" without the year
    asked = TimeRange("2017-05-25", "2017-05-25")
    text = "The radicals were eliminated by Russian airstrikes on May 25 while fleeing"
    assert asked.covers(20170527, text)
    assert not asked.covers(20160527, text)  # "May 25" of a 2016 article is 2016's
    assert not asked.covers(20170527, "The radicals were eliminated on Thursday")
    # a month asked: a report of June that tells of May 25 is about May too
    assert TimeRange("2017-05-01", "2017-05-31").covers(20170627, text)
    assert not TimeRange("2017-04-01", "2017-04-30").covers(20170627, text)


def test_a_month_asked_is_not_told_of_by_a_report_that_only_names_its_year():
    # "Where did Russian aircraft hit three schools in January 2016?": a report of October
    # 2016 on another school names 2016, not January
    january = TimeRange("2016-01-01", "2016-01-31")
    assert not january.covers(20161026, "Published October 26 2016 air strikes hit a school")
    assert january.covers(20160120, "Three schools were hit this morning")  # published then
    assert january.covers(20160201, "On January 29 Russian jets hit three schools")
    assert january.covers(None, "Russian jets hit three schools in January 2016")
    assert january.covers(20170301, "Schools were hit in Ain Jara in gennaio 2016")
    # a recap of another year that names 2016 and not the month does not
    assert not january.covers(20170301, "Schools were hit across Syria in 2016")
    # a year asked is still told of by its year, whenever the report appeared
    assert TimeRange("2016-01-01", "2016-12-31").covers(20170301, "Schools were hit in 2016")
    # a season spans its months; more than a year's months are years again
    assert TimeRange("2016-11-01", "2017-02-28").months() == {11, 12, 1, 2}
    assert TimeRange("2015-01-01", "2016-06-30").months() is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("the strikes of January", True),
        ("i raid di marzo", True),
        ("Il 3 Marzo", True),
        ("in March", True),
        ("troops may march on", False),  # a verb, not May or March
        ("in Jan.", False),  # only full names: "mar", "set", "ago" are words too
    ],
)
def test_names_month_reads_full_month_names(text, named):
    assert names_month(text, {1, 3, 5}) is named
