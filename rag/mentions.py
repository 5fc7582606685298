"""Does a passage mention a term of the question, in any spelling or language form?

A name is mentioned when the passage has it
- as written, or with the same stem in Italian or English ("Houthis" / "Houthi");
- spelt a little differently (a transliteration or the other language's spelling: "Siria" /
  "Syria", "Palmira" / "Palmyra", "Deir ez-Zor" / "Deir Ezzor"): an edit similarity of at
  least ``FUZZY_MIN`` between words of four letters or more;
- under another of its usual names: the few organisations and countries that the news names
  in several ways ("Isis" / "Islamic State" / "Daesh" / "Stato Islamico"; ALIASES below), and
  every country under its English and Italian names (pycountry: "Chad" / "Ciad").
A name of several words ("Bashar al-Assad", "Free Syrian Army") is mentioned when the whole
name is, glued, or its last word is (the surname, the place, the head of the name) and so are
its other rare words: "Farnborough Air Show" is not mentioned by "the Paris Air Show".

A number is mentioned as digits (separators ignored: "2,000" / "2.000" / "2000") or, up to
twenty and for round tens, as an Italian or English word ("seven", "sette").

Some words of a question cannot be checked in a passage in another language because they are
translated there, not respelt: "Esercito" is "Army", "Consiglio" is "Council". A word
much more frequent in the question's language than in the passage's (``translatable``; word
frequencies from ``wordfreq``) is such a word, and is not asked of a passage in another
language. It must also be a common word there (``COMMON_ZIPF``): a rare name is simply less
rare in the larger English corpora ("Kidal"), which says nothing about its translation. Names
that are names in both languages ("Acharan", "Nigeria", "Homs") are asked of every passage, and
so are the countries and organisations whose names in both languages are known (the aliases
below): an English passage mentions "Turchia" only as "Turkey" (or "Turkish", "Ankara"), an
Italian one mentions "Mexico" only as "Messico". Excusing them as translated words had let "How
many jobs will DaimlerChrysler cut in Mexico?" be answered from an Italian article on North
America.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from .words import NUMBER_WORDS as _NUMBER_WORDS
from .words import Term
from .words import stemmer as _stemmer
from .words import zipf as _zipf

FUZZY_MIN = 80.0  # rapidfuzz ratio (0-100): one letter changed in a five-letter name
TRANSLATED_ZIPF_GAP = 1.0  # ten times more frequent in the question's language...
COMMON_ZIPF = 3.0  # ...and common in it: once per million words (wordfreq's Zipf scale)

# fmt: off
ALIASES: tuple[frozenset[str], ...] = tuple(frozenset(g) for g in (
    {"isis", "isil", "daesh", "daish", "islamic state", "stato islamico",
     "califfato", "caliphate"},
    {"al qaeda", "al qaida", "al-qaeda", "al-qaida", "qaeda", "qaida"},
    {"nusra", "al nusra", "jabhat al nusra", "hts", "hayat tahrir al sham", "tahrir al sham",
     "fateh al sham"},
    {"sdf", "fds", "syrian democratic forces", "forze democratiche siriane"},
    {"fsa", "free syrian army", "esercito siriano libero"},
    {"ypg", "kurdish people's protection units", "unità di protezione popolare"},
    {"jnim", "gsim", "group for the support of islam and muslims",
     "gruppo di sostegno all'islam e ai musulmani", "nusrat al islam"},
    {"iswap", "islamic state west africa province",
     "provincia dell'africa occidentale dello stato islamico"},
    {"u.n.", "onu", "united nations", "nazioni unite"},
    {"nato", "otan", "alleanza atlantica"},
    {"eu", "ue", "european union", "unione europea"},
    {"oms", "world health organization", "organizzazione mondiale della sanità"},
    {"icrc", "cicr", "red cross", "croce rossa"},
    {"opcw", "opac", "organisation for the prohibition of chemical weapons"},
    {"usa", "u.s.", "united states", "stati uniti", "america", "american", "americans",
     "americano", "americani", "washington"},
    {"uk", "britain", "united kingdom", "regno unito", "british", "britannico", "britannici"},
    {"russia", "russian", "russians", "russo", "russi", "russa", "russe", "moscow", "mosca"},
    {"iran", "iranian", "iranians", "iraniano", "iraniani", "tehran", "teheran"},
    {"turkey", "turkish", "turchia", "turco", "turchi", "ankara"},
    {"hezbollah", "hizbollah", "hizballah", "hezbollah's"},
    {"assad", "al-assad", "al assad"},
))
# fmt: on

_TENS = {30: ("thirty", "trenta"), 40: ("forty", "quaranta"), 50: ("fifty", "cinquanta"),
         60: ("sixty", "sessanta"), 70: ("seventy", "settanta"), 80: ("eighty", "ottanta"),
         90: ("ninety", "novanta"), 100: ("hundred", "cento")}  # fmt: skip
_TOKEN = re.compile(r"\w+", re.UNICODE)


def plain(text: str) -> str:
    """Lower case without accents; apostrophes and hyphens as spaces."""
    low = text.lower()
    if low.isascii():
        return low
    return unicodedata.normalize("NFKD", low).translate(_combining()).replace("’", "'")


@lru_cache(maxsize=1)
def _combining() -> dict[int, None]:
    """Every combining mark, to be deleted by ``str.translate``: in C, where a Python loop
    over a passage's characters cost 5 ms a chunk (bench/query.py's name counting)."""
    return {c: None for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))}


def _glued(text: str) -> str:
    return _NOT_WORD.sub("", plain(text))


_NOT_WORD = re.compile(r"[\W_]+")


def translatable(word: str, question_lang: str, passage_lang: str) -> bool:
    """A word of the question's language that another language writes differently."""
    if question_lang == passage_lang or question_lang not in ("it", "en"):
        return False
    w = plain(word)
    mine = _zipf(w, question_lang)
    return mine >= COMMON_ZIPF and mine >= _zipf(w, passage_lang) + TRANSLATED_ZIPF_GAP


class PassageWords:
    """A passage's words, prepared once for many lookups."""

    def __init__(self, text: str, lang: str) -> None:
        self.lang = lang
        self.raw = text  # as written: a question's capitals tell its names from its nouns
        self.text = plain(text)
        self.glued = _NOT_WORD.sub("", self.text)
        self.tokens = frozenset(_TOKEN.findall(self.text))
        self.long_tokens = [t for t in self.tokens if len(t) >= 4]
        self._stems: frozenset[str] | None = None
        self.numbers = frozenset(
            re.sub(r"[.,]", "", n) for n in re.findall(r"\d+(?:[.,]\d{3})*", text)
        )

    @property
    def stems(self) -> frozenset[str]:
        """The tokens' Italian and English stems, made when first asked for: most lookups
        end at a token, a phrase or an alias."""
        if self._stems is None:
            self._stems = frozenset(s for t in self.tokens for s in stems_of(t))
        return self._stems

    def has_word(self, word: str) -> bool:
        w = plain(word)
        if w in self.tokens:
            return True
        parts = _TOKEN.findall(w)  # "Sha’fah" is the words "sha" and "fah" of the text
        if len(parts) > 1 and all(p in self.tokens for p in parts):
            return True
        if any(_stemmer(x).stemWord(w) in self.stems for x in ("it", "en")):
            return True
        if len(w) >= 4:
            from rapidfuzz import fuzz, process

            found = process.extractOne(w, self.long_tokens, scorer=fuzz.ratio,
                                       score_cutoff=FUZZY_MIN)  # fmt: skip
            if found is not None:
                return True
        return False

    def has_phrase(self, phrase: str) -> bool:
        """The phrase as written, glued ("Deir ez-Zor" in "Deir Ezzor"), or word by word; a
        short one ("SDF", "U.S.") only as a word of its own."""
        p = plain(phrase)
        if "." in p:
            return re.search(rf"(?<!\w){re.escape(p)}", self.text) is not None
        words = _TOKEN.findall(p)
        if len(words) == 1 and len(words[0]) < 5:
            return words[0] in self.tokens
        glued = _glued(phrase)
        if glued in self.glued:
            return True
        return bool(words) and all(w in self.tokens for w in words)


@lru_cache(maxsize=4096)
def passage_words(text: str, lang: str) -> PassageWords:
    """``PassageWords(text, lang)``, remembered: the same chunks are candidates for question
    after question, and preparing one's words costs about 2 ms (bench/query.py: a search
    with names in the question counted them in 40-80 chunks)."""
    return PassageWords(text, lang)


@lru_cache(maxsize=65536)
def stems_of(token: str) -> tuple[str, str]:
    """A word's Italian and English stems (the same words come back in every passage)."""
    return _stemmer("it").stemWord(token), _stemmer("en").stemWord(token)


# the names news writes that ISO 3166 and its Italian translation do not give ("Malesia" is
# "Malaysia" in pycountry's Italian)
_EVERYDAY_NAMES = {
    "MY": ("Malesia",),
    "KR": ("Corea del Sud",),
    "KP": ("Corea del Nord",),
    "CZ": ("Czech Republic", "Repubblica Ceca"),
    "PS": ("Palestine", "Palestina"),
    "NL": ("Holland", "Olanda"),
    "CI": ("Ivory Coast", "Costa d'Avorio"),
}


@lru_cache(maxsize=1)
def _country_names() -> tuple[frozenset[str], ...]:
    """Every country's English and Italian names ("Chad" / "Ciad", "Jordan" / "Giordania"),
    from pycountry's ISO 3166 names and their translations."""
    import gettext

    import pycountry

    italian = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["it"])
    groups = []
    for country in pycountry.countries:
        names = {country.name, getattr(country, "common_name", country.name)}
        names |= {italian.gettext(n) for n in list(names)}
        names |= set(_EVERYDAY_NAMES.get(country.alpha_2, ()))
        groups.append(frozenset(" ".join(_TOKEN.findall(plain(n))) for n in names))
    return tuple(groups)


# the countries among ALIASES' groups, which name them more ways ("Turkey", "Washington")
_ALIASED_COUNTRIES = frozenset({"united states", "united kingdom", "russia", "iran", "turkey"})


@lru_cache(maxsize=1)
def _country_index() -> dict[str, int]:
    """Each country name (lower case, its words spaced) and a number for its country: the
    names of ``_country_names`` and, for the countries of ALIASES, theirs too (pycountry calls
    Turkey "Türkiye")."""
    groups = _country_names()
    index = {n: i for i, group in enumerate(groups) for n in group}
    for k, group in enumerate(g for g in ALIASES if g & _ALIASED_COUNTRIES):
        at = next((index[n] for n in group if n in index), len(groups) + k)
        index.update((" ".join(_TOKEN.findall(n)), at) for n in group)
    return index


def countries_in(text: str) -> set[int]:
    """The countries ``text`` names, written with a capital ("Indonesia", "Corea del Sud"),
    as numbers (``_country_index``): "i mali" or "a turkey" name none."""
    words = re.findall(r"[^\W\d_][\w'’-]*", text)
    index = _country_index()
    found = set()
    for i in range(len(words)):
        for n in (4, 3, 2, 1):
            run = words[i : i + n]
            if len(run) == n and run[0][:1].isupper():
                group = index.get(" ".join(_TOKEN.findall(plain(" ".join(run)))))
                if group is not None:
                    found.add(group)
                    break
    return found


def is_country(name: str) -> bool:
    """Whether ``name`` is a country's English or Italian name ("Iran", "Sudan", "Ciad")."""
    key = " ".join(_TOKEN.findall(plain(name)))
    return any(key in group for group in _country_names())


@lru_cache(maxsize=4096)
def _aliases(term: str) -> tuple[str, ...]:
    """The other names of ``term``'s organisation or country (ALIASES, ``_country_names``)."""
    low = plain(term)
    key = " ".join(_TOKEN.findall(low))
    out: list[str] = []
    for group in (*ALIASES, *_country_names()):
        if key in group or low in group:
            out += group
    return tuple(out)


def _number_forms(text: str) -> set[str]:
    digits = re.sub(r"[.,]", "", text)
    forms = {digits}
    if digits.isdigit():
        n = int(digits)
        for words in _NUMBER_WORDS.values():
            if n < len(words):
                forms.add(words[n])
        forms.update(_TENS.get(n, ()))
    return forms


def mentions(passage: PassageWords, term: Term, question_lang: str) -> bool:
    """Whether the passage mentions ``term`` (see the module docstring)."""
    if term.kind == "number":
        forms = _number_forms(term.text)
        return bool(forms & passage.numbers) or bool(forms & passage.tokens)
    head = term.words[-1]
    for alias in {*_aliases(term.text), *_aliases(head)}:
        if passage.has_phrase(alias):
            return True
    if passage.has_phrase(term.text):
        return True
    # a country or organisation whose names in both languages are known is mentioned only by
    # one of them: "Mexico" is not excused in an Italian passage without "Messico"
    known = bool(_aliases(term.text) or _aliases(head))
    if not (
        passage.has_word(head) or (not known and translatable(head, question_lang, passage.lang))
    ):
        return False
    # "Farnborough Air Show" is not mentioned by "the Paris Air Show": the rare words before
    # the head must be there too, and an acronym as written ("FIFA World Cup" is not the
    # "Giochi Olimpici" of 2022: an acronym is the same in both languages unless the alias
    # table says otherwise)
    return all(
        passage.has_word(w) or (not _acronym(w) and translatable(w, question_lang, passage.lang))
        for w in term.words[:-1]
        if _rare(w) or _acronym(w)
    )


def _acronym(word: str) -> bool:
    """An acronym of three letters or more that the alias table does not translate."""
    return len(word) >= 3 and word.isalpha() and word.isupper() and not _aliases(word)


def listed(name: str) -> bool:
    """Whether ``name`` is a country or an organisation of the alias table ("Turchia", "Daesh",
    "ISIL"): a place or a group, never a person."""
    return bool(_aliases(name))


def common_word(word: str) -> bool:
    """An ordinary word of Italian or English (COMMON_ZIPF), not only a name."""
    w = plain(word)
    return any(_zipf(w, lang) >= COMMON_ZIPF for lang in ("en", "it"))


def _rare(word: str) -> bool:
    """A word of a name that is no ordinary word of Italian or English ("Farnborough",
    "Druyun"), so a name without it is another name."""
    w = plain(word)
    return len(w) > 2 and not w.isdigit() and not common_word(w)


def unmentioned(
    passages: Iterable[PassageWords], terms: Iterable[Term], question_lang: str
) -> list[Term]:
    """The terms that none of the passages mentions."""
    prepared = list(passages)
    return [t for t in terms if not any(mentions(p, t, question_lang) for p in prepared)]
