"""The chat page's interface strings in Italian and English, and the choice between them.

The page starts in the browser's language (its ``Accept-Language``) and a visible switch changes
it. Answers are in the question's language whatever the interface says (rag/chat.py).
"""

from __future__ import annotations

LANGS = ("it", "en")
DEFAULT = "en"

STRINGS: dict[str, dict[str, str]] = {
    "it": {
        "title": "Archivio notizie: chiedi",
        "intro": "Domande in italiano o in inglese; ogni risposta cita i passaggi degli "
        "articoli su cui si basa.",
        "ui_lang": "Lingua dell'interfaccia",
        "question": "Domanda",
        "placeholder": "Scrivi una domanda sull'archivio…",
        "send": "Chiedi",
        "new": "Nuova conversazione",
        "examples": "Esempi",
        "filters": "Filtri",
        "lang_filter": "Lingua degli articoli",
        "any": "qualsiasi",
        "date_from": "Dal (AAAA-MM-GG)",
        "date_to": "Al (AAAA-MM-GG)",
        "source": "Fonte",
        "source_any": "tutte le fonti",
        "chat": "Conversazione",
        "sources": "Fonti",
        "also_in": "disponibile anche in",
        "untitled": "(senza titolo)",
        "answerer": "Risposte: {mode}",
        "answerer_loading": "Risposte: archivio in caricamento…",
        "without_judge": "(senza il giudice delle risposte: vedi /api/status)",
        "archive_status": "Archivio aggiornato il {date}, {n} articoli",
        "extractive": "estrattive (frasi citate dagli articoli)",
        "llm": "modello linguistico {name}",
        "thinking": "Cerco nell'archivio…",
        "feedback_title": "Grazie del giudizio. Vuoi aggiungere un commento?",
        "comment": "Commento (facoltativo)",
        "send_comment": "Invia commento",
        "thanks": "Grazie, commento registrato.",
        "feedback_off": "Il giudizio non è stato registrato: {why}",
        "bad_date": "La data {value!r} non è valida: scrivila come AAAA-MM-GG, per esempio "
        "2017-10-20.",
        "bad_range": "La data iniziale viene dopo quella finale: correggi i filtri.",
        "too_long": "La domanda è troppo lunga: al massimo {n} caratteri.",
        "rate_limited": "Troppe domande in poco tempo: riprova tra {n} secondi.",
        "failed": "Qualcosa è andato storto nel rispondere. Riprova; se il problema "
        "continua, avvisa chi gestisce il servizio.",
        "error": "Errore",
    },
    "en": {
        "title": "News archive: ask",
        "intro": "Questions in English or Italian; every answer cites the article passages it "
        "rests on.",
        "ui_lang": "Interface language",
        "question": "Question",
        "placeholder": "Ask a question about the archive…",
        "send": "Ask",
        "new": "New conversation",
        "examples": "Examples",
        "filters": "Filters",
        "lang_filter": "Article language",
        "any": "any",
        "date_from": "From (YYYY-MM-DD)",
        "date_to": "To (YYYY-MM-DD)",
        "source": "Source",
        "source_any": "all sources",
        "chat": "Conversation",
        "sources": "Sources",
        "also_in": "also in",
        "untitled": "(untitled)",
        "answerer": "Answers: {mode}",
        "answerer_loading": "Answers: the archive is loading…",
        "without_judge": "(without the answer judge: see /api/status)",
        "archive_status": "Archive updated {date}, {n} articles",
        "extractive": "extractive (sentences quoted from the articles)",
        "llm": "language model {name}",
        "thinking": "Searching the archive…",
        "feedback_title": "Thanks for the rating. Would you like to add a comment?",
        "comment": "Comment (optional)",
        "send_comment": "Send comment",
        "thanks": "Thanks, your comment was recorded.",
        "feedback_off": "The rating was not recorded: {why}",
        "bad_date": "The date {value!r} is not valid: write it as YYYY-MM-DD, e.g. 2017-10-20.",
        "bad_range": "The start date is after the end date: fix the filters.",
        "too_long": "The question is too long: at most {n} characters.",
        "rate_limited": "Too many questions in a short time: try again in {n} seconds.",
        "failed": "Something went wrong while answering. Try again; if it keeps happening, "
        "tell whoever runs the service.",
        "error": "Error",
    },
}

LANG_NAMES = {
    "it": {"it": "italiano", "en": "inglese", "fr": "francese", "de": "tedesco",
           "es": "spagnolo", "ar": "arabo"},
    "en": {"it": "Italian", "en": "English", "fr": "French", "de": "German", "es": "Spanish",
           "ar": "Arabic"},
}  # fmt: skip

# The chat page's example questions: each is answered right from the sample archive
# (data/sample), the last is the honest refusal of a near-topic question about a base no
# article names; tests/browser/test_demo_examples.py asks every one of them.
EXAMPLES = {
    "it": [
        "Dove è ancora attivo l'Isis in Siria?",
        "Chi ha attaccato la base di Acharan?",
        "Quali gruppi si contendono il lago Ciad?",
        "Chi ha attaccato la base di Tessalit?",
    ],
    "en": [
        "Where is Isis still active in Syria?",
        "Who attacked the base at Acharan?",
        "When did France end Operation Barkhane?",
        "Who attacked the base at Tessalit?",
    ],
}


def t(lang: str, key: str, **values: object) -> str:
    """The string ``key`` in ``lang`` (English when unknown), formatted with ``values``."""
    text = STRINGS.get(lang, STRINGS[DEFAULT])[key]
    return text.format(**values) if values else text


def language_name(ui_lang: str, code: str) -> str:
    return LANG_NAMES.get(ui_lang, LANG_NAMES[DEFAULT]).get(code, code)


def pick_lang(accept_language: str | None) -> str:
    """The first of it/en in an ``Accept-Language`` header, by its q weights; else English."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        if code not in LANGS:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or (q, -position) > (best[0], best[1])):
            best = (q, -position, code)
    return best[2] if best else DEFAULT
