"""The few fixed sentences newsrag writes itself, in the languages it answers in."""

from __future__ import annotations

from ..timeparse import MONTH_NAMES as MONTHS

TEXT = {
    "it": {
        "refusal": "Non ho trovato nell'archivio articoli che rispondano a questa domanda.",
        "refusal_filtered": "Nessun articolo che rispetti i filtri scelti risponde a questa "
        "domanda.",
        "unmentioned": "Nessun articolo dell'archivio parla di {terms}.",
        "unmentioned_found": "Gli articoli pertinenti non parlano di {terms}.",
        "untimely": "Nessun articolo del periodo chiesto ({when}) o che ne parli risponde a "
        "questa domanda.",
        "not_stated": "Gli articoli trovati su {terms} non dicono {what}.",
        "not_stated_plain": "Gli articoli trovati non dicono {what}.",
        "topic_unanswered": "Gli articoli trovati su {terms} non rispondono a questa domanda.",
        "what": {"number": "quanti o quanto", "time": "quando", "place": "dove", "actor": "chi",
                 "reason": "perché", "name": "quale", "leader": "chi è a capo"},
        "closest": "Gli articoli più vicini sono:",
        "sources": "Fonti",
        "article_of": "articolo del {date}",
        "undated": "senza data",
        "quoted_in": "Citazioni in {langs}:",
        "lang_names": {"it": "italiano", "en": "inglese", "fr": "francese", "de": "tedesco",
                       "es": "spagnolo", "ar": "arabo"},
    },
    "en": {
        "refusal": "I found no article in the archive that answers this question.",
        "refusal_filtered": "No article matching the chosen filters answers this question.",
        "unmentioned": "No article in the archive mentions {terms}.",
        "unmentioned_found": "The articles on this subject do not mention {terms}.",
        "untimely": "No article from the time asked about ({when}) or about it answers this "
        "question.",
        "not_stated": "The articles found on {terms} do not say {what}.",
        "not_stated_plain": "The articles found do not say {what}.",
        "topic_unanswered": "The articles found on {terms} do not answer this question.",
        "what": {"number": "how many or how much", "time": "when", "place": "where",
                 "actor": "who", "reason": "why", "name": "which one",
                 "leader": "who is in charge"},
        "closest": "The closest articles are:",
        "sources": "Sources",
        "article_of": "article of {date}",
        "undated": "undated",
        "quoted_in": "Quoted in {langs}:",
        "lang_names": {"it": "Italian", "en": "English", "fr": "French", "de": "German",
                       "es": "Spanish", "ar": "Arabic"},
    },
}  # fmt: skip


def text(lang: str, key: str) -> str:
    table = TEXT.get(lang, TEXT["en"])
    value = table[key]
    assert isinstance(value, str)
    return value


def asked_kind(lang: str, kind: str) -> str:
    """ "how many or how much", "quando": the kind of fact a question asks for, in words."""
    names = TEXT.get(lang, TEXT["en"])["what"]
    assert isinstance(names, dict)
    return str(names[kind])


def language_name(lang: str, of: str) -> str:
    names = TEXT.get(lang, TEXT["en"])["lang_names"]
    assert isinstance(names, dict)
    return str(names.get(of, of))


def format_date(iso: str | None, lang: str) -> str:
    if not iso:
        return text(lang, "undated")
    year, month, day = int(iso[:4]), int(iso[5:7]), int(iso[8:10])
    month_name = MONTHS.get(lang, MONTHS["en"])[month - 1]
    return f"{day} {month_name} {year}"
