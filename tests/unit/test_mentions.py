from __future__ import annotations

from rag.mentions import PassageWords, countries_in, mentions, translatable, unmentioned
from rag.words import Term

BADIA_EN = PassageWords(
    "The Islamic State is still able to strike in Syria. The most exposed areas are the "
    "triangle between al-Sukhnah, Palmyra and the T3 pumping station, and Deir Ezzor; "
    "seven militants were killed and 2,000 families fled.",
    "en",
)
MOPTI_IT = PassageWords(
    "I miliziani del JNIM hanno attaccato una base delle forze armate maliane nella regione "
    "di Mopti, nel centro del paese.",
    "it",
)


def name(text: str) -> Term:
    return Term(text, "name")


def test_a_name_in_another_spelling_or_language_is_mentioned():
    assert mentions(BADIA_EN, name("Palmira"), "it")  # the Italian spelling
    assert mentions(BADIA_EN, name("Siria"), "it")
    assert mentions(BADIA_EN, name("Deir ez-Zor"), "en")  # another transliteration, glued
    assert mentions(BADIA_EN, name("Isis"), "en")  # one of its usual names
    assert mentions(BADIA_EN, name("Stato Islamico"), "it")
    assert mentions(MOPTI_IT, name("JNIM"), "en")


def test_an_acronym_in_a_name_is_written_the_same_in_both_languages():
    games = PassageWords("Pechino ospiterà i Giochi Olimpici Invernali e la Coppa del 2022.", "it")
    # "World Cup" could be written in Italian words, "FIFA" could not
    assert not mentions(games, name("FIFA World Cup"), "en")
    assert mentions(PassageWords("La FIFA ha assegnato la Coppa del Mondo.", "it"),
                    name("FIFA World Cup"), "en")  # fmt: skip
    # an acronym the alias table translates is still found by its other name
    assert mentions(PassageWords("Le Nazioni Unite e la Coppa.", "it"), name("ONU Cup"), "en")


def test_a_name_the_passage_lacks_is_not_mentioned():
    assert not mentions(MOPTI_IT, name("Acharan"), "it")
    assert not mentions(MOPTI_IT, name("Acharan"), "en")
    assert not mentions(BADIA_EN, name("Tessalit"), "en")
    assert not mentions(BADIA_EN, name("Homs"), "en")
    # a short alias only as a word of its own: "is" in a sentence is not the Islamic State
    assert not mentions(PassageWords("It is over, said the mayor of Raqqa.", "en"), name("Isis"),
                        "en")  # fmt: skip


def test_numbers_as_digits_or_words():
    assert mentions(BADIA_EN, Term("7", "number"), "en")  # "seven"
    assert mentions(BADIA_EN, Term("2000", "number"), "it")  # "2,000"
    assert not mentions(BADIA_EN, Term("12", "number"), "en")


def test_translated_words_are_not_asked_of_another_language():
    assert translatable("Turchia", "it", "en")  # "Turkey" there
    assert translatable("Stati", "it", "en")
    assert not translatable("Acharan", "it", "en")  # a name in both languages
    assert not translatable("Nigeria", "it", "en")
    assert not translatable("Turchia", "it", "it")
    # so an Italian question about the Esercito is not refused by an English passage's
    # wording ("army")...
    assert mentions(BADIA_EN, name("Esercito"), "it")
    # ...but an Italian passage must say it
    assert not mentions(MOPTI_IT, name("Esercito"), "it")


def test_a_country_known_in_both_languages_is_asked_by_its_names():
    # "Turchia" is "Turkey" in English: the passage must say one of them, in any language
    assert mentions(PassageWords("Shells fired from Turkey hit Afrin.", "en"), name("Turchia"),
                    "it")  # fmt: skip
    assert not mentions(BADIA_EN, name("Turchia"), "it")
    # "Mexico" is "Messico" in Italian; the passage says neither
    assert not mentions(MOPTI_IT, name("Mexico"), "en")
    assert mentions(PassageWords("Tagli in Messico e in Canada.", "it"), name("Mexico"), "en")


def test_unmentioned_lists_what_no_passage_has():
    missing = unmentioned([BADIA_EN, MOPTI_IT], [name("JNIM"), name("Acharan"),
                                                   name("Palmyra")], "en")  # fmt: skip
    assert [t.text for t in missing] == ["Acharan"]


def test_a_word_with_an_apostrophe_is_the_words_of_the_text_it_joins():
    # the question's "Sha'fah" is read as "sha" and "fah": the article's "Sha’fah" is one of its
    # words, so a sentence that names only it names nothing new ("Come si chiamavano?")
    asked = PassageWords("Come si chiamavano? How many fugitives were executed at Sha'fah?", "it")
    assert asked.has_word("Sha’fah") and asked.has_word("Sha'fah")
    assert not asked.has_word("Sha’ar") and not asked.has_word("Deir Ezzor")


def test_countries_are_known_by_the_names_news_writes():
    # "Malesia" is not pycountry's Italian name, but it is the country: an English passage
    # mentions it only as Malaysia
    malesia = Term("Malesia", "name")
    assert mentions(PassageWords("Malaysia Airlines flew on.", "en"), malesia, "it")
    assert not mentions(PassageWords("The minister of Indonesia spoke.", "en"), malesia, "it")
    # a country is written with a capital, and its name may hold small words
    assert countries_in("Corea del Sud e Costa d'Avorio") == countries_in(
        "South Korea, Ivory Coast"
    )
    assert len(countries_in("Corea del Sud e Costa d'Avorio")) == 2
    assert countries_in("i mali della guerra") == set()
