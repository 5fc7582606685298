"""Words: tokens, stems and stop words per language, the words of a question's wording, and
the ``Term`` a question names; what the lexical index (rag/archive/lexical.py) and the question's
analysis (rag/question.py, rag/mentions.py, rag/answer/) share.

Nothing here knows about an index or a question's meaning: it is the vocabulary both sides
tokenise and compare with, so neither has to reach into the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

TOKEN = re.compile(r"\w+", re.UNICODE)
STEMMERS = {"it": "italian", "en": "english", "fr": "french", "de": "german", "es": "spanish",
            "pt": "portuguese", "nl": "dutch", "ru": "russian", "tr": "turkish"}  # fmt: skip


@lru_cache(maxsize=16)
def stemmer(lang: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer(STEMMERS.get(lang, "english"))


@lru_cache(maxsize=16)
def stopwords(lang: str) -> frozenset[str]:
    from bm25s import stopwords as sw

    table = {"it": sw.STOPWORDS_ITALIAN, "en": sw.STOPWORDS_EN, "fr": sw.STOPWORDS_FRENCH,
             "de": sw.STOPWORDS_GERMAN, "es": sw.STOPWORDS_SPANISH,
             "pt": sw.STOPWORDS_PORTUGUESE, "nl": sw.STOPWORDS_DUTCH,
             "ru": sw.STOPWORDS_RUSSIAN, "tr": sw.STOPWORDS_TURKISH}  # fmt: skip
    return frozenset(table.get(lang, sw.STOPWORDS_EN))


def tokenize(text: str, lang: str) -> list[str]:
    """Lower-case word tokens without stop words, stemmed in ``lang``."""
    stop = stopwords(lang)
    words = [
        w for w in TOKEN.findall(text.lower()) if w not in stop and (len(w) > 1 or w.isdigit())
    ]
    return list(stemmer(lang).stemWords(words))


# Words of a question's wording, not of its subject: never "unknown" (see
# LexicalIndex.unknown_words). The English stop list above is short (Lucene's 33 words), so an
# English question to an archive written only in Italian would otherwise "not know" words like
# "where" or "did".
# fmt: off
QUESTION_WORDS = {
    "en": frozenset((
        "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "many",
        "much", "did", "does", "do", "done", "doing", "has", "have", "had", "having", "was",
        "were", "been", "being", "can", "could", "would", "should", "shall", "may", "might",
        "must", "i", "me", "my", "we", "us", "our", "you", "your", "he", "him", "his", "she",
        "her", "its", "them", "those", "am", "about", "from", "than", "so", "any", "some",
        "latest", "still", "today", "now", "ago", "tell", "know",
    )),
    "it": frozenset((
        "cosa", "cos", "qual", "quando", "perché", "perche", "chi", "dove", "come",
        "quanti", "quante", "quale", "quali", "oggi", "ancora", "ultime", "ultimi", "ultima",
        "ultimo", "adesso", "ora", "dimmi", "sai",
    )),
}
# fmt: on


# particles inside names: "Ain al-Asad", "Abu Bakr al-Baghdadi", "Gruppo di sostegno all'Islam"
PARTICLES = frozenset(
    [
        "al",
        "el",
        "ad",
        "ar",
        "as",
        "at",
        "az",
        "ash",
        "ez",
        "bin",
        "ibn",
        "bint",
        "abu",
        "um",
        "de",
        "di",
        "del",
        "della",
        "dei",
        "da",
        "du",
        "la",
        "le",
        "van",
        "von",
        "of",
        "the",
        "and",
        "e",
    ]
)

# month and day names in English and Italian: capitalised, but a time (rag/timeparse.py reads
# those), not a name
TIME_WORDS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "gennaio",
        "febbraio",
        "marzo",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "agosto",
        "settembre",
        "ottobre",
        "novembre",
        "dicembre",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "lunedì",
        "martedì",
        "mercoledì",
        "giovedì",
        "venerdì",
        "sabato",
        "domenica",
    ]
)


# a stop word or a word of a question's wording, in the question's language, English or Italian
def stop_or_question_word(word: str, lang: str) -> bool:
    low = word.lower()
    return any(
        low in stopwords(x) or low in QUESTION_WORDS.get(x, frozenset()) for x in (lang, "en", "it")
    )


@dataclass(frozen=True)
class Term:
    """A specific thing a question names, as written (``text``), and what it is."""

    text: str
    kind: str  # "name" | "number"

    @property
    def words(self) -> tuple[str, ...]:
        """The name's own words, without particles: what a mention is looked for by."""
        parts = re.split(r"[\s'’-]+", self.text)
        kept = [p for p in parts if p and p.lower() not in PARTICLES]
        return tuple(kept or parts)


NUMBER_WORDS = {
    "en": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
           "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
           "seventeen", "eighteen", "nineteen", "twenty"],
    "it": ["zero", "uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove",
           "dieci", "undici", "dodici", "tredici", "quattordici", "quindici", "sedici",
           "diciassette", "diciotto", "diciannove", "venti"],
}  # fmt: skip


@lru_cache(maxsize=4096)
def zipf(word: str, lang: str) -> float:
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, lang))
