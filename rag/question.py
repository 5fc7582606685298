"""What a question asks for, and the specific things it names.

``analyse("Chi ha attaccato la base di Acharan?", "it")`` gives ``wants="actor"`` and the term
``Acharan``; ``analyse("How many people died in Hama in 1982?", "en")`` gives
``wants="number"`` and the terms ``Hama`` and ``1982``.

- ``wants`` is the kind of fact a where / who / when / how-many / which-thing question asks
  for: "place", "actor", "leader" ("who leads ISWAP?", "chi guida…": a person in charge),
  "time", "number" (how many, quanti, and a quantity asked by its noun: "what price", "what
  stake", "quale autonomia", "qual è l'apertura alare"), "name" ("which air base", "quale
  tribù", "come si chiama?", "what is his name?") or "reason" (why, perché, "what was it a
  response to"); None for what / how and the rest.
  An answer to such a question must state one (rag/answer/extractive.py prefers sentences
  that do).
- ``terms`` are the specific things the question is about: proper names (a capitalised word
  that does not open the question, or a run of them with the particles names carry:
  "Deir ez-Zor", "Ain al-Asad", "Free Syrian Army"), acronyms ("JNIM", "SDF") and numbers
  ("7", "2,000", "1982"). A passage that mentions none of them in any form is about something
  else, however close its topic (rag/mentions.py checks; rag/chat.py refuses).

Names are found by their spelling, so no model is needed and nothing is fitted: Italian and
English both capitalise names and not common nouns. A question written all in lower case
names nothing this way, and is then judged by its similarity alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .mentions import common_word, is_country
from .timeparse import TimeIntent, parse_time
from .words import PARTICLES as _PARTICLES
from .words import TIME_WORDS as _TIME_WORDS
from .words import Term
from .words import stop_or_question_word as _common
from .words import stopwords as _stopwords

# (pattern, kind): the one that matches first in the question decides (see ``wants``)
# fmt: off
_WANTS = [
    (r"\b(?:how\s+many|how\s+much|how\s+(?:old|long|far|large|big|tall|high|heavy|wide|deep)|"
     r"what\s+number\s+of|quant[iaoe]|"
     r"qual\s+è\s+il\s+numero|(?:che|quale)\s+età|"
     r"(?:what|which)\s+(?:was\s+|is\s+|were\s+)?(?:the\s+)?(?:price|cost|value|percentage|"
     r"share|stake|proportion|amount|sum|figure|range|distance|length|height|speed|weight|"
     r"wingspan|capacity|duration)|"
     # "What was Ford's third-quarter 2009 profit per share?": a company's figure, asked
     r"(?:what|which)\s+(?:was|is|were|are)\s+(?:the\s+)?[\w.&-]+['’]s?\s+(?:[\w-]+\s+){0,3}?"
     r"(?:profits?|loss(?:es)?|revenues?|earnings|turnover|income|sales|debts?|deficit)"
     r"(?=\s*(?:\?|$|per\b|in\b|for\b|of\b|at\b|during\b|last\b|this\b))|"
     r"(?:(?:qual\s+(?:è|era)|quale\s+(?:è|era|fu))(?:\s+stat[oa])?\s+(?:il|la|l['’])\s*|"
     r"(?:quale|che)\s+)(?:prezzo|costo|valore|percentuale|quota|importo|somma|cifra|autonomia|"
     r"distanza|lunghezza|altezza|velocità|apertura\s+alare|capacità|peso|durata|utile|perdita|"
     r"fatturato|ricavi)|(?:a\s+)?che\s+prezzo)\b",
     "number"),
    (r"\b(?:when|(?:what|which)\s+(?:year|date|day|month)|quando|"
     r"(?:che|quale|quali)\s+(?:anno|mese|giorno|data|giorni|ora)|da\s+quando|since\s+when|"
     r"(?:at\s+)?what\s+time)\b",
     "time"),
    (r"\b(?:where|whereabouts|(?:in|at|to|from)\s+(?:which|what)\s+(?:town|city|village|place|"
     r"country|region|province|area|district)|dove|da\s+dove|"
     r"(?:in|da|a|verso)\s+(?:quale|che)\s+(?:città|paese|villaggio|luogo|regione|provincia|zona|"
     r"area))\b",
     "place"),
    # "who leads ISWAP?", "chi guida l'Esercito dell'Islam?": a person named as in charge
    (r"\b(?:who\s+(?:leads|led|heads|headed|commands|commanded|runs|ran|directs|directed|"
     r"(?:is|was|are|were)\s+(?:the\s+|its\s+|their\s+|[\w.-]+['’]s\s+)?"
     r"(?:new\s+|current\s+|top\s+)?"
     r"(?:leader|head|chief|commander|emir|boss|director|president|chairman|ceo|"
     r"chief\s+executive|governor|minister|mayor))|chi\s+(?:guida|guidava|guidò|ha\s+guidato|"
     r"comanda|comandava|dirige|dirigeva|capeggia|capeggiava|(?:è|era|sono|erano|fu)\s+"
     r"(?:il\s+|l['’]\s*|i\s+)?(?:nuovo\s+|attuale\s+)?(?:capo|leader|comandante|emiro|"
     r"direttore|presidente|amministratore\s+delegato|numero\s+uno|governatore|ministro|"
     r"sindaco))|"
     # "Come si chiama il loro capo?", "What is the name of its leader?"
     r"come\s+si\s+chiama(?:va)?\s+(?:il\s+|l['’]\s*)(?:suo\s+|loro\s+)?(?:capo|leader|"
     r"comandante|emiro|direttore|presidente|amministratore\s+delegato|governatore|ministro|"
     r"sindaco)|what\s+(?:is|was)\s+the\s+name\s+of\s+(?:the|its|their|his|her)\s+"
     r"(?:leader|head|chief|commander|emir|boss|director|president|chairman|ceo|"
     r"chief\s+executive|governor|minister|mayor))\b",
     "leader"),
    # "Which transport minister…?", "Con quale ministro degli Esteri…?": a minister, governor
    # or mayor is named beside the title, as "Who is the minister…?" is answered (a president
    # is as often named bare: "Carter", so "which president" stays a name)
    (r"^\W*(?:(?:in|a|di|da|con|per|with|by|of|to|for|from)\s+)?(?:which|what|quale|quali|che)\s+"
     r"(?:[^\W\d_]+\s+)?(?:ministers?|ministr[oi]|governors?|governator[ei]|mayors?|sindac[oi])\b",
     "leader"),
    (r"\b(?:who|whom|whose|chi|da\s+chi|a\s+chi|con\s+chi)\b", "actor"),
    (r"\b(?:why|for\s+what\s+reason|what\s+(?:\S+\s+){0,8}?(?:a\s+)?(?:response|reaction|"
     r"retaliation)\s+(?:to|for)|perch[ée]|come\s+mai|per\s+quale\s+(?:motivo|ragione)|"
     r"a\s+che\s+cosa\s+rispond|(?:qual\s+è|qual\s+era)\s+il\s+motivo)",
     "reason"),
    # "which air base", "what town", "quale tribù", "in quale città": a thing with a name
    (r"^\W*(?:(?:in|at|from|to|of|by|with|for|on)\s+)?(?:which|what)\s+(?!(?:is|was|were|are|"
     r"did|does|do|has|have|had|happened|will|would|can|could|should|caused|made|led|kind|sort|"
     r"type|reason|role|about|if|year|years|date|dates|day|days|month|months)\b)[a-z]",
     "name"),
    (r"^\W*(?:(?:in|a|di|da|con|per|su|tra|fra|dell[a']?|nell[a']?)\s*)?(?:quale|quali|qual|"
     r"che)\s+(?!(?:cosa|è|era|sono|erano|ha|hanno|aveva|avevano|fu|furono|sarà|succede|"
     r"successo|ruolo|tipo|motivo|ragione|anno|anni|mese|mesi|giorno|giorni|data|date|ora)\b)"
     r"[a-zà-ù]",
     "name"),
    # "After speaking with which leader…?", "…his interest in which war?", "Per conto di quale
    # paese…?": the same, asked after a preposition further on in the question
    (r"\b(?:with|after|before|by|from|in|at|to|of|for|on|against|under|over|into|between|"
     r"among|behind|about)\s+which\s+(?!(?:is|was|were|are|did|does|do|has|have|had|will|"
     r"would|can|could|should|kind|sort|type|reason|role|year|years|date|dates|day|days|month|"
     r"months)\b)[a-z]",
     "name"),
    (r"\b(?:con|in|a|di|da|per|su|tra|fra|dell[ae]|nell[ae]|dall[ae]|all[ae]|sull[ae])\s+"
     r"(?:quale|quali)\s+(?!(?:è|era|sono|erano|ha|hanno|aveva|avevano|fu|furono|sarà|ruolo|"
     r"tipo|motivo|ragione|anno|anni|mese|mesi|giorno|giorni|data|date|ora)\b)[a-zà-ù]",
     "name"),
    # "Come si chiama?", "What is his name?", "Qual era il nome della sposa?": a name asked
    (r"\b(?:come\s+si\s+chiam(?:a|ava|ano|avano)|(?:what|which)\s+(?:is|was|are|were)\s+"
     r"(?:his|her|its|their|the)\s+names?|(?:qual\s+(?:è|era)|quali\s+(?:sono|erano))\s+"
     r"(?:il\s+|i\s+)(?:suo\s+|loro\s+|suoi\s+)?nom[ei])\b",
     "name"),
]
# fmt: on
_WANTS_RE = [(re.compile(p, re.IGNORECASE), kind) for p, kind in _WANTS]

_WORD = re.compile(r"[^\W_](?:[\w’'-]*\w)?|\d+(?:[.,]\d+)*", re.UNICODE)
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")
# an elided article or preposition glued to a name: "l'Isis", "dell'Iraq", "d'Italia"
_ELISION = re.compile(
    r"^(?:l|d|un|dell|all|dall|nell|sull|coll|quest|quell|sant|c|s)['’](?=\w)", re.IGNORECASE
)
# capitalised, but a time ("July", "Monday": rag/timeparse.py reads those) or, in English, an
# adjective of nationality or direction before a noun ("Syrian army", "Western ambassadors")
_ADJECTIVE = re.compile(r"(?:an|ian|ern|ese|ish|ic|i)$")


@dataclass(frozen=True)
class QuestionInfo:
    wants: str | None
    terms: tuple[Term, ...]
    # in a conversation, the names the follow-up itself gives ("And in Iraq?"): the answer
    # must be about them, not about what the conversation asked before
    focus: tuple[Term, ...] = ()
    # the time the question asks about, as the engine searched it (ISO dates, either end
    # open; none when the person set a date filter): an article published then names the
    # question's year without writing it
    during: tuple[str | None, str | None] = (None, None)

    @property
    def names(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.kind == "name")


def wants(question: str) -> str | None:
    """The kind of fact the question asks for (see the module docstring): the question word
    that comes first decides ("e perché? chi ha attaccato…" asks why)."""
    found = []
    for order, (pattern, kind) in enumerate(_WANTS_RE):
        m = pattern.search(question)
        if m:
            found.append((m.start(), order, kind))
    return min(found)[2] if found else None


def _is_capitalised(word: str) -> bool:
    return word[:1].isupper() and word.lower() not in _TIME_WORDS


def terms(question: str, lang: str) -> tuple[Term, ...]:
    """The names and numbers the question mentions, in order, each once."""
    found: list[Term] = []
    run: list[str] = []
    tokens = [(m.group(), m.start()) for m in _WORD.finditer(question)]

    def close() -> None:
        while run and run[-1].lower() in _PARTICLES:  # "the base of" ends before "of"
            run.pop()
        if run:
            found.append(Term(" ".join(run), "name"))
        run.clear()

    for i, (raw, start) in enumerate(tokens):
        word = _bare(raw)
        nxt = _bare(tokens[i + 1][0]) if i + 1 < len(tokens) else ""
        if _NUMBER.match(word):
            close()
            if not _date_part(tokens, i):
                found.append(Term(word, "number"))
            continue
        before = question[:start].rstrip()
        opening = i == 0 or before.endswith(("?", "!", ":", "\n"))
        if i and _APART.search(question[tokens[i - 1][1] + len(tokens[i - 1][0]) : start]):
            close()  # "Aleppo, Homs", "(Qaryatayn; Homs…)": two names, not one
        if before.endswith(".") and not _ABBREVIATION.fullmatch(tokens[i - 1][0]):
            opening = True  # "…in Syria. And Iraq?", not "St. Thomas"
        if opening:
            close()  # a name does not run on into the next sentence
        if _shouted(word) and any(
            _shouted(_bare(tokens[j][0])) for j in (i - 1, i + 1) if 0 <= j < len(tokens)
        ):
            close()  # a heading in capitals ("Tabqa MILITARY BASES Slideshow") parts names
            continue
        if _is_capitalised(word):
            # a sentence's first word is a name only when it is an acronym or a name runs on
            runs_on = _is_capitalised(nxt) or nxt.lower().startswith(("al-", "el-", "ad-", "as-"))
            acronym = word.isupper() and len(word) > 1
            if opening and not acronym and (not runs_on or _common(word, lang)):
                continue
            if not run and lang == "en" and _adjective(word, nxt):
                continue  # "Syrian army", "Western ambassadors"
            run.append(word)
            if _POSSESSIVE.search(raw):
                close()  # "Ford's St. Thomas plant": Ford, then St. Thomas
        elif run and word.lower() in _PARTICLES and nxt:
            if _is_capitalised(nxt) or nxt.lower().startswith(("al-", "el-", "ad-", "as-")):
                run.append(word)
            else:
                close()
        elif run and word.lower().startswith(("al-", "el-", "ad-", "as-", "ash-", "ez-")):
            run.append(word)
        else:
            close()
    close()
    out: dict[str, Term] = {}
    for t in found:
        if t.kind == "name" and all(_common(w, lang) for w in t.words):
            continue  # "The", "Il" after a full stop, a capitalised question word
        out.setdefault(t.text.lower(), t)
    return tuple(out.values())


# a question about what was done ("Quanto ha guadagnato Ford nel 2007?", "How many vehicles
# did GM sell in 2010?"), not about what was planned or expected then ("Quanti concessionari
# vuole chiudere entro il 2010?", "Where will Qatar fly its A380s from in 2009?")
_PAST = re.compile(
    r"\b(?:did|was|were|had)\b|\b(?:ha|hanno|è|sono|era|erano|aveva|avevano)\s+(?:\w+\s+)?"
    r"\w+(?:at|ut|it)[oaie]\b",
    re.IGNORECASE,
)
_PLANNED = re.compile(
    r"\b(?:will|plan\w*|expect\w*|forecast\w*|target\w*|aim\w*|by\s+the\s+end|entro|"
    r"prevede\w*|previst\w*|piano|obiettivo|intende\w*|vuole|conta)\b",
    re.IGNORECASE,
)


def tells_past(question: str) -> bool:
    """Whether ``question`` asks what was done, in a past tense, not what was planned."""
    return bool(_PAST.search(question)) and not _PLANNED.search(question)


def _shouted(word: str) -> bool:
    """An ordinary word written in capitals ("MILITARY", "BASES"), as a page's section
    headings are: not an acronym ("NATO" is a word of Italian, but stands alone)."""
    return len(word) > 3 and word.isupper() and common_word(word)


def _adjective(word: str, nxt: str) -> bool:
    """An English adjective of a place or people before the noun it qualifies ("Syrian
    army"), not a name before a verb or a small word ("Iran attacked", "Acharan in 2023"):
    a known word with an adjective's ending, not a country, before a lower-case content word."""
    if not (_ADJECTIVE.search(word) and nxt[:1].islower()):
        return False
    low = nxt.lower()
    if low in _PARTICLES or low in _stopwords("en"):
        return False
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en") > 0 and not is_country(word)


_POSSESSIVE = re.compile(r"['’]s$")
_APART = re.compile(r"[,;()\[\]]")  # punctuation between two names parts them
_ABBREVIATION = re.compile(r"[A-Z][a-z]{1,2}")  # "St.", "Mt.", "Dr.", "Gen." end no sentence


def _bare(token: str) -> str:
    """Without an elided article before it or a possessive after it: "l'Isis", "JNIM's"."""
    return _POSSESSIVE.sub("", _ELISION.sub("", token))


def _date_part(tokens: list[tuple[str, int]], i: int) -> bool:
    """A day next to a month name ("July 8", "8 luglio", "l'8 gennaio"): part of a date, not a
    count."""
    near = [tokens[j][0].lower() for j in (i - 1, i + 1) if 0 <= j < len(tokens)]
    return any(w in _TIME_WORDS for w in near) and len(_bare(tokens[i][0])) <= 2


def analyse(question: str, lang: str) -> QuestionInfo:
    return QuestionInfo(wants(question), terms(question, lang))


@dataclass(frozen=True)
class Question:
    """A question as the engine reads it, once per turn (``read``): the kind of fact it wants
    and the names and numbers it gives (``info``), and the time it asks about. Retrieval, the
    refusal rules and the answerer are handed this value instead of reading the string again."""

    text: str
    lang: str
    info: QuestionInfo
    time: TimeIntent


def read(text: str, lang: str) -> Question:
    """``text`` (written in ``lang``) analysed: what it wants, what it names, when."""
    return Question(text, lang, analyse(text, lang), parse_time(text, lang))
