"""Does a sentence state the kind of fact a question asks for?

"Which air base did Islamic State capture?" wants a name the question does not already give:
"Islamic State militants stormed an air base in northeast Syria" repeats the question, "the
Tabqa air base fell" answers it. The kinds (rag/question.py ``wants``):
- "place", "actor" and "name": a proper name not in the question (names are capitalised in Italian
  and English; without a tagger a place and a person look alike, so either counts), but not a
  country or an organisation of the alias table when a person's name is asked ("What is his
  name?", "Come si chiamava?"), and not a sentence's first word with an elided article
  ("L'ufficio"); asked by a role ("Who was the pilot?", "Chi è il portavoce di…?"), a name
  beside a word of the question, after a word of naming ("identified as", "called"), or in a
  sentence of the question's language that names the role;
- "number": a count, in digits or words ("seven", "sette", "decine", "hundreds"), not a year
  and not a number the question already has; beside a word of dying when the question asks
  about the dead, beside a word of age ("aged", "anni") when it asks how old, beside a
  currency ("$", "dollari", "euro") when it asks how much was paid, cost or lent;
- "time": a year, a month, a weekday, a date, or "yesterday"/"ieri", not one of the question's;
  a year ("last year", "l'anno scorso" too) when the question asks which year;
- "reason": a causal connective ("because", "in response to", "perché", "in risposta");
- "leader": a name not in the question next to a word of leading ("leader", "led by", "head",
  "commander", "guidato da", "capo", "emiro"): a sentence that only names the group does not
  say who leads it ("Who leads the group that attacked Acharan?"). A title the question names
  ("governor", "amministratore delegato") must be the one beside the name, in either language.
Nothing is fitted; the word lists are the languages' own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from ..mentions import PassageWords, common_word, listed, mentions, plain, stems_of
from ..words import NUMBER_WORDS, TIME_WORDS, Term, stop_or_question_word, stopwords

MANY_NAMES = 3  # up to three names answer more fully than one
NEAR = 3  # words: a name and the noun it names stand side by side ("Tabqa air base")
NEXT_TO_ASKED = 5  # the grade of a rare name NEAR a word of the question: it names what was asked
_WORD = re.compile(r"[^\W_](?:[\w’'-]*\w)?|\d+(?:[.,]\d+)*", re.UNICODE)
_YEAR = re.compile(r"^(?:1[89]\d\d|20\d\d)$")
_COUNT_WORDS = frozenset(
    [
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "fifteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "sixty",
        "seventy",
        "eighty",
        "ninety",
        "hundred",
        "hundreds",
        "thousand",
        "thousands",
        "million",
        "millions",
        "dozen",
        "dozens",
        "scores",
        "due",
        "tre",
        "quattro",
        "cinque",
        "sei",
        "sette",
        "otto",
        "nove",
        "dieci",
        "undici",
        "dodici",
        "quindici",
        "venti",
        "trenta",
        "quaranta",
        "cinquanta",
        "sessanta",
        "settanta",
        "ottanta",
        "novanta",
        "cento",
        "centinaia",
        "mille",
        "migliaia",
        "milione",
        "milioni",
        "decine",
        "dozzina",
        "dozzine",
        "duemila",
        "tremila",
        "diecimila",
    ]
)
# every number word up to twenty but "one"/"uno" (mostly not a count: "one of them")
_SMALL_NUMBERS = frozenset(w for words in NUMBER_WORDS.values() for w in words[2:])
# "due to" before a verb schedules ("due to receive its first aircraft"), it gives no cause
_SCHEDULED = (
    "be|have|receive|start|begin|take|arrive|meet|open|close|expire|end|hold|fly|enter|visit|"
    "return|resume|sign|vote|deliver|launch|go|come|make|appear|testify|leave|finish|complete|"
    "announce|release|publish|travel|land"
)
_REASON = re.compile(
    r"\b(?:because|due\s+to(?!\s+(?:" + _SCHEDULED + r")\b)|owing\s+to|in\s+response|"
    r"response\s+to|in\s+retaliation|retaliation\s+for|in\s+revenge|to\s+avenge|"
    r"as\s+a\s+result|(?:as\s+a\s+|in\s+)consequence\s+of|"
    r"in\s+protest|aimed\s+at|in\s+order\s+to|the\s+reason|perch[ée]|"
    r"poich[ée]|a\s+causa|in\s+risposta|(?:come\s+|in\s+)conseguenza\s+d|a\s+seguito\s+d|"
    r"risposta\s+(?:a|al|alla|alle|ai|agli|all['’])|per\s+vendicare|in\s+seguito\s+a|"
    r"per\s+protesta|allo\s+scopo|al\s+fine\s+di|il\s+motivo|la\s+ragione)",
    re.IGNORECASE,
)
# a time relative to the article's date, which a "when" answer states beside it ("at dawn
# (article of 4 October 2023)")
# fmt: off
# dying and killing in both languages: a question about the dead wants a count of the dead
_DEATH = re.compile(
    r"\b(?:kill\w*|dead|deaths?|die[sd]?|dying|casualt\w*|victims?|fatalit\w*|bod(?:y|ies)|"
    r"uccis\w*|uccid\w*|mort[oiae]|morti\w*|mortal\w*|vittim\w*|decess\w*|cadut[oiae]|"
    r"caduti|perso\s+la\s+vita|persero\s+la\s+vita)\b",
    re.IGNORECASE,
)
# living somewhere, in both languages: a question of how many live there wants a population
_LIVING = re.compile(
    r"\b(?:live[sd]?|living|inhabit\w*|residents?|populat\w*|dwellers|"
    r"viv[eoi]\w*|abita(?:no|va|vano|re|nt[ie])?|resident[ie]|popolazion[ei]|popolos\w*)\b",
    re.IGNORECASE,
)
# leading, commanding, heading, in both languages: "who leads X" is answered next to one
_LEAD = re.compile(
    r"(?:leaders?|led|leads?|leadership|heads?|headed|chiefs?|commanders?|commanded|emir|"
    r"boss|founders?|presidents?|director|chairman|chairwoman|coordinator|executive|ceo|"
    r"capo|capi|guid[aoei]|guidat[oaie]|guidava|guidò|comandant[ei]|comandat[oaie]|emiro|"
    r"fondator[ei]|president[ei]|dirett(?:ore|rice)|coordinat(?:ore|rice)|amministratore|"
    r"vertice|numero|governors?|governat(?:ore|ori|rice)|ministers?|ministr[oia]|mayors?|"
    r"sindac[oi])",
    re.IGNORECASE,
)
# a title the question names is answered by the same title, in either language: "Who is the
# governor of Latakia?" is not answered by "Observatory director Rami Abdel Rahman"; "who
# leads", "the head of", "il capo" ask for whoever is in charge, and any title answers them
_TITLES = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"governors?|governat(?:ore|ori|rice)",
        r"command(?:er|ers|ed|s)?|comand(?:ante|anti|ato|ata|ati|ava)|comanda",
        r"presidents?|chairman|chairwoman|president(?:e|i|essa)",
        # a "direttore" is a director, an executive or an officer ("direttore finanziario":
        # chief financial officer)
        r"directors?|dirett(?:ore|ori|rice)|dirige|dirigeva|executives?|officers?|ceo|cfo|"
        r"amministrator(?:e|i)",
        r"emirs?|emir[oi]",
        r"founders?|founded|fondator(?:e|i)|fond[òa]",
        r"coordinators?|coordinat(?:ore|ori|rice)",
        r"ministers?|ministr[oia]",
        r"mayors?|sindac[oi]",
    )
)
# a person's name asked ("What is his name?", "Come si chiamava?" after a question on someone):
# a country or an organisation does not answer it (matched against the question's plain text)
_PERSON_NAME = re.compile(
    r"\bcome\s+si\s+chiam(?:a|ava|ano|avano)\s*\?|\b(?:his|her|their)\s+names?\b|"
    r"\b(?:suo|loro|suoi)\s+nom[ei]\b",
    re.IGNORECASE,
)
# a person or a thing asked by its role or noun ("Who was the pilot?", "Chi è il portavoce di
# Force Ouvrière…?", "Come si chiamava la sposa?", "What is the name of the SDF operation…?")
# is named beside that noun or another word of the question ("the pilot, Captain Wong"), or
# after a word of naming in a sentence that has one ("The pilot was identified as Squadron
# Leader Dilokrit Pattavee", "a restructuring program, called Power8"), not anywhere in a
# sentence about the same story (matched against the question's plain text)
_ROLE_ASKED = re.compile(
    r"\bwho\s+(?:is|was|are|were)\s+the\b|\bwhat\s+(?:is|was)\s+the\s+names?\s+of\s+the\b|"
    r"\bchi\s+(?:è|e|era|sono|erano|fu)\s+(?:il|lo|la|l['’]|i|gli|le)\b|"
    r"\bcome\s+si\s+chiam(?:a|ava|ano|avano)\s+(?:il|lo|la|l['’]|i|gli|le)\b",
    re.IGNORECASE,
)
_NAMING = re.compile(
    r"(?:called|named|dubbed|identified|known|chiamat[oaie]|denominat[oaie]|battezzat[oaie]|"
    r"identificat[oaie]|not[oaie]|nome)",
    re.IGNORECASE,
)
# a sentence that says the name is not known: "His name is still unknown to authorities", "il
# suo nome non è stato reso noto", "la sua identità non è nota"
_UNNAMED = re.compile(
    r"\bnames?\s+(?:is|was|are|were|has|have)\s+(?:still\s+|not\s+yet\s+|yet\s+to\s+be\s+)?"
    r"(?:unknown|not\s+(?:been\s+)?(?:known|released|given|disclosed|made\s+public|revealed))|"
    r"\b(?:nome|nomi|identit[aà])\s+(?:non\s+(?:è|e|era|sono|erano)\s+(?:ancora\s+)?"
    r"(?:stat[oaie]\s+)?(?:res[oaie]\s+not[oaie]|not[oaie]|diffus[oaie]|rivelat[oaie])|"
    r"(?:è|e|era|sono|erano)\s+(?:ancora\s+)?(?:sconosciut[oaie]|ignot[oaie]))",
    re.IGNORECASE,
)


# a sentence that says the sum was not made public: "neither of the companies would reveal the
# actual agreement", "financial terms were not disclosed", "l'importo non è stato reso noto"
_UNDISCLOSED = re.compile(
    r"\b(?:(?:not|never|n['’]t|neither\s+\w+(?:\s+\w+){0,3}?\s+would)\s+(?:be\s+|been\s+|yet\s+)?"
    r"(?:reveal|disclos|releas|divulg|made\s+public|make\s+public)\w*|undisclosed|"
    r"non\s+(?:è|e|sono|era|erano)\s+(?:ancora\s+)?(?:stat[oaie]\s+)?"
    r"(?:res[oaie]\s+not[oaie]|rivelat[oaie]|divulgat[oaie]|comunicat[oaie])|"
    r"non\s+(?:ha|hanno|aveva|avevano)\s+(?:voluto\s+)?(?:rivelat|divulgat|reso\s+not|comunicat)"
    r"\w*|riservat[oaie])",
    re.IGNORECASE,
)


def says_not_known(asked: PassageWords, sentence: str) -> bool:
    """Whether ``sentence`` says that what the question (``asked``) asks was not made known:
    the person's name ("What is his name?" and "His name is still unknown to authorities"),
    or the sum asked ("How much did Aeroflot actually pay…?" and "neither of the companies
    involved would reveal the actual agreement")."""
    if _PERSON_NAME.search(asked.text):
        return bool(_UNNAMED.search(sentence))
    return _money_asked(asked.text) and bool(_UNDISCLOSED.search(sentence))


_PARTS = re.compile(r"[-'’]")  # "US-led", "l'amministratore"
# a question of how long ("How long did he expect the process to last?", "Quanto tempo ha
# l'Aeronautica per rispondere?", "Qual è la durata del contratto?", "Per quanti anni…?") wants
# a count of time ("60 days", "a 27-year contract"), not "$ 40 billion" or "June 18"
_SPAN_ASKED = re.compile(
    r"\b(?:how\s+long\s+(?:did|does|do|will|would|has|have|had|can|could|should|must|might|"
    r"is\s+it|was\s+it)|for\s+how\s+(?:long|many\s+(?:years|months|weeks|days|hours))|"
    r"(?:since|in)\s+how\s+long|duration|quanto\s+tempo|durata|"
    r"(?:per|da|in)\s+quant[io]\s+(?:anni|mesi|settimane|giorni|ore|tempo))\b",
    re.IGNORECASE,
)
_SPAN = re.compile(
    r"(?:\w+-)?(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centur(?:y|ies)|"
    r"second[oi]|minut[oi]|or[ae]|giorn[oi]|settiman[ae]|mes[ei]|ann[oi]|decenn[io]|secol[oi])",
    re.IGNORECASE,
)
# a question about someone's age wants a count of years next to a word of age: "aged 26",
# "a 26-year-old", "26 anni", "ventenne", not any number of the article
# (matched against the question's plain text: "età" is "eta" there)
_AGE_ASKED = re.compile(r"\bhow\s+old\b|\bquanti\s+anni\b|\bage\b|\bet[aà]\b", re.IGNORECASE)
_AGE = re.compile(r"(?:old|aged|age|anni|età|\w+-years?-old|\w+enne)", re.IGNORECASE)
# a question of money ("How much did Aeroflot pay…?", "Quanto ha stanziato il governo…?",
# "Qual è il valore…?") wants an amount of money: a count beside a currency ("$ 57 million",
# "52,5 milioni di dollari"), not "22 Dreamliners" or "il sei per cento". Matched against the
# question's plain text ("costò" is "costo" there). "How many jobs does the aid create?"
# counts jobs: only "how much", "quanto" and the words of price ask for money
_HOW_MUCH = re.compile(
    r"\b(?:how\s+much|quant[oa]|price|cost|value|amount|sum|prezzo|costo|valore|importo|"
    r"somma|cifra)\b",
    re.IGNORECASE,
)
_MONEY_ASKED = re.compile(
    r"\b(?:pa(?:y|ys|id|ying)|costs?|costing|spen[dt]\w*|earn\w*|pric\w*|worth|valu\w*|"
    r"invest\w*|loan\w*|lend\w*|lent|offer\w*|fund\w*|aid|profits?|loss(?:es)?|los[et]|"
    r"losing|revenues?|debts?|capital|cash|budget\w*|salar\w*|wages?|fined?|compensation|"
    r"bid|money|bailout|subsid\w*|grants?|"
    r"pag(?:a|ano|are|ato|ata|ati|ava|avano|hera|heranno|o|arono)|cost(?:a|ano|ato|ata|ava|o|"
    r"era|i)|spes[oaie]|spend\w*|guadagn\w*|prezz[oi]|valor[ei]|vale|valeva|valevano|"
    r"investi\w*|prest(?:ato|ata|ito|iti|o|a)|offert[oaie]|offr\w*|stanzi\w*|finanzi\w*|"
    r"aiut[oi]|util[ei]|profitt[oi]|perdit[ae]|pers[oaie]|fatturato|ricav[oi]|debit[oi]|"
    r"capitale|soldi|denaro|stipend[oi]|mult[ae]|risarciment[oi]|dollari|euro)\b",
    re.IGNORECASE,
)
_CURRENCY = re.compile(
    r"(?:dollars?|dollari|euros?|pounds?|sterlin[ag]\w*|yen|yuan|renminbi|r[ou]bles?|rubli|"
    r"francs?|franchi|lir[ae]|cents?|centesimi|dinars?|dinari|dirhams?|riyals?|rials?|"
    r"shekels?|rupees?|rupie|pesos?|usd|eur|gbp|aud|cad|sgd|hkd|nzd|chf|jpy|cny|rmb|inr|rub|"
    r"sek|nok|dkk|krw|brl|mxn|zar|aed|sar|ils)",
    re.IGNORECASE,
)
# a year asked ("In che anno…?", "Since which year…?") is answered by a year, not by a day or
# "today" beside the article's date (matched against the question's plain text)
_YEAR_ASKED = re.compile(r"\b(?:what|which)\s+year\b|\b(?:che|quale)\s+anno\b", re.IGNORECASE)
_YEAR_SAID = re.compile(
    r"\b(?:(?:last|next|this|that|the\s+same|the\s+following|the\s+previous)\s+year|"
    r"anno\s+(?:scorso|prossimo|successivo|precedente|seguente)|(?:l['’]|quest['’])anno)\b",
    re.IGNORECASE,
)
# "US$ 78 million", "€1.5bn", "SGD1.75-billion": read as a word of currency
_SYMBOL = re.compile(r"[$€£¥]|\b[A-Z]{3}(?=\d)")


def _money_words(sentence: str) -> list[str]:
    """The words of ``sentence``, a currency symbol read as "dollars" and a currency code
    glued to its sum set apart ("SGD1.75-billion")."""
    return _words(_SYMBOL.sub(_currency_word, sentence))


def _currency_word(m: re.Match[str]) -> str:
    return f" {m.group()} " if m.group()[:1].isalpha() else " dollars "


NEAR_MONEY = 3  # words: "52,5 milioni di dollari", "$ 20,000"
NEAR_AGE = 2  # words: "26 years old", "di 26 anni"
NEAR_SPAN = 2  # words: "60 days", "27-year", "tre mesi", "24 more hours"
NEAR_LEAD = 4  # words: "Zahran Alloush, the leader of", "la squadra guidata da Ake Sellstrom"
NEAR_DEATH = 6  # words: "killed at least 85 civilians", "1500 people have fallen victims"
NEAR_LIVING = 6  # words: "200,000 people lived there", "una popolazione di 200.000 persone"
_RELATIVE_TIME = frozenset([
    "yesterday", "today", "tonight", "overnight", "dawn", "morning", "afternoon", "evening",
    "midnight", "noon", "weekend",
    "ieri", "oggi", "stanotte", "stamattina", "stamani", "alba", "mattina", "mattinata",
    "pomeriggio", "sera", "serata", "mezzanotte", "mezzogiorno", "nottata",
])
# fmt: on


# Italian writes a deputy's title as one word ("vicepresidente"), English as two ("vice
# president", lower case: "Vice President Dick Cheney" is a name): read as one, a vice
# president is neither a president nor a name
_VICE = re.compile(r"\bvice[\s-]+(?=[a-z])")


def _words(sentence: str) -> list[str]:
    return [re.sub(r"['’]s$", "", w) for w in _WORD.findall(_VICE.sub("vice", sentence))]


_AT = frozenset(["in", "at", "near", "a", "ad", "presso", "vicino"])
_ARTICLE = re.compile(r"^(?:al|el|ad|as|ash|ez|an|ar|at)-(?=[A-Z])")
# an Italian article or preposition elided onto the word: "L'ufficio", "dell'Iraq"
_ELIDED = re.compile(r"^(?:l|d|un|dell|all|dall|nell|sull|coll|quest|quell)['’]", re.IGNORECASE)


def names_in(sentence: str, lang: str) -> list[str]:
    """Capitalised words that are names ("al-Sheitaat" too): not a sentence's ordinary first
    word, not a time."""
    out = []
    for i, w in enumerate(_words(sentence)):
        w = _ELIDED.sub("", _ARTICLE.sub("", w))  # "L'ufficio" opening a sentence is no name
        if not w[:1].isupper() or w.lower() in TIME_WORDS:
            continue
        if i == 0 and not (w.isupper() and len(w) > 1) and stop_or_question_word(w, lang):
            continue
        out.append(w)
    return out


def new_names(wants: str | None, sentence: str, lang: str, asked: PassageWords) -> list[str]:
    """The names ``sentence`` gives that the question does not: for a person's name asked,
    not a country or an organisation ("What is his name?" is not "Turchia")."""
    new = [w for w in names_in(sentence, lang) if not asked.has_word(w)]
    if wants == "name" and _PERSON_NAME.search(asked.text):
        new = [w for w in new if not listed(w)]
    return new


def states(wants: str | None, sentence: str, lang: str, asked: PassageWords) -> int:
    """How well ``sentence`` states a fact of the kind ``wants`` that the question (``asked``:
    its words, prepared once) does not already give: 0 it does not; for a name, 1 it names
    only things whose names are also ordinary words ("the Observatory", "Russia": these more
    often frame a report than answer "which town"), 2 a rarer name, 3 one right next to a word
    of the question ("Tabqa base"); 2 for a number or a time."""
    if wants is None:
        return 0
    words = _words(sentence)
    if wants in ("place", "actor", "name"):
        new = new_names(wants, sentence, lang, asked)
        if not new:
            return 0
        role = wants != "place" and _role_asked(asked.text)
        rare = {w for w in new if not common_word(w)}
        if wants == "place":
            # a name after a preposition of place is a place, however ordinary a word it is:
            # "signed the agreement in Paris" for "in which city"
            rare |= {
                w for i, w in enumerate(words) if w in new and i and words[i - 1].lower() in _AT
            }
        if not rare:
            # an everyday name beside the question's noun written as a title ("Senator John
            # McCain" for "quale senatore") names what was asked all the same
            titled = _next_to_asked(words, set(new), lang, asked, titles_only=True)
            return NEXT_TO_ASKED if titled else 0 if role else 1
        # more places or actors named answer "where" and "who" more fully; a name next to the
        # question's own noun answers "which air base" exactly
        many = min(len(rare), MANY_NAMES) - 1
        if _next_to_asked(words, rare, lang, asked):
            return NEXT_TO_ASKED + many
        if role:
            beside = _named_after(words, rare, lang, asked) or _role_said(words, lang, asked)
            return NEXT_TO_ASKED + many if beside else 0
        return 2 + many
    if wants == "number":
        at = _count_at(words, asked)
        if at and _HOW_MANY.search(asked.text):
            # "How many people live in Greenland?" is not answered by "93% of the population"
            words = _words(sentence.replace("%", " percent "))
            at = [i for i in _count_at(words, asked) if not _a_share(words, i)]
        if at and _SPAN_ASKED.search(asked.text):
            spans = [i for i, w in enumerate(words) if _SPAN.fullmatch(w)]
            return 2 if any(0 <= j - i <= NEAR_SPAN for i in at for j in spans) else 0
        if at and _AGE_ASKED.search(asked.text):
            return 2 if _beside(words, at, _AGE, NEAR_AGE) else 0
        if at and _money_asked(asked.text):
            said = _money_words(sentence)
            return 2 if _beside(said, _count_at(said, asked), _CURRENCY, NEAR_MONEY) else 0
        counted = _counted(asked.raw, asked.lang)
        if at and counted is not None and not any(_CURRENCY.fullmatch(t) for t in counted.tokens):
            # "How many employees…?" is not answered by "16,6 miliardi di dollari"
            said = _money_words(sentence)
            if _sums(said, _count_at(said, asked)):
                return 0
        if at and _DEATH.search(asked.text):
            # "How many soldiers were killed?" is answered by a count of the dead, not by
            # "tens of thousands of auxiliaries" in the same article
            return 2 if _beside(words, at, _DEATH, NEAR_DEATH) else 0
        if at and _LIVING.search(asked.text):
            # "How many people live in Deir Ezzor?" is answered by a count of those who live
            # there, not by "thousands of people are still held" at al-Hol
            return 3 if _beside(words, at, _LIVING, NEAR_LIVING) else 0
        if at and _counts_asked(words, at, asked):
            return 3  # "15.000 persone" for "Quante persone…?", not "330 passeggeri"
        return 2 if at else 0
    if wants == "reason":
        return 2 if _REASON.search(sentence) else 0
    if wants == "leader":
        named = set(names_in(sentence, lang))
        # the question's own words do not part a title from its name: "l'amministratore
        # delegato di Aer Lingus, Dermot Mannion"
        title = _titles_answering(asked.text)
        lead = [any(title.fullmatch(p) for p in _PARTS.split(w)) for w in words]
        kept = [(w, x) for w, x in zip(words, lead, strict=True) if x or not asked.has_word(w)]
        at = [i for i, (w, x) in enumerate(kept) if w in named and not x]
        leads = [i for i, (_, x) in enumerate(kept) if x]
        return 2 if any(abs(i - j) <= NEAR_LEAD for i in at for j in leads) else 0
    if wants == "time":
        if _YEAR_ASKED.search(asked.text):  # "In che anno…?" is not answered by "oggi"
            year = any(_YEAR.match(w) and w not in asked.numbers for w in words)
            return 2 if year or _YEAR_SAID.search(sentence) else 0
        for w in words:
            low = re.sub(r"^\w+'", "", plain(w))  # "all'alba", "dell'8"
            if (_YEAR.match(w) and w not in asked.numbers) or (
                (low in TIME_WORDS or low in _RELATIVE_TIME) and low not in asked.tokens
            ):
                return 2
        return 2 if re.search(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b", sentence) else 0
    return 0


def _beside(words: list[str], at: list[int], marker: re.Pattern[str], near: int) -> bool:
    """Whether a count (at the positions ``at`` of ``words``) has a word of ``marker`` within
    ``near`` words of it: a unit of age, a currency, a word of death or of living."""
    marks = [j for j, w in enumerate(words) if marker.fullmatch(w)]
    return any(abs(i - j) <= near for i in at for j in marks)


# what stands between a count and its currency: "16,6 miliardi di dollari", "$ 1.4 bn"
_MAGNITUDE = re.compile(
    r"(?:\d+|thousands?|millions?|billions?|trillions?|bn|mn|mln|m|k|mila|milion[ei]|"
    r"miliard[oi]|of|di|de)",
    re.IGNORECASE,
)


def _sums(words: list[str], counts: list[int]) -> bool:
    """Whether every count is a sum of money ("20,000" is the words 20 and 000: one count)."""
    runs = [[i] for i in counts if i - 1 not in counts]
    for run in runs:
        while run[-1] + 1 in counts:
            run.append(run[-1] + 1)
    return bool(runs) and all(_a_sum(words, run[0], run[-1]) for run in runs)


def _a_sum(words: list[str], first: int, last: int) -> bool:
    """Whether the count in ``words[first : last + 1]`` is a sum of money: a currency right
    before it ("$ 20,000", "US$ 78") or after it with only magnitudes between ("16,6 miliardi
    di dollari")."""
    if first > 0 and _CURRENCY.fullmatch(words[first - 1]):
        return True
    for w in words[last + 1 :]:
        if _CURRENCY.fullmatch(w):
            return True
        if not _MAGNITUDE.fullmatch(w):
            return False
    return False


def _a_share(words: list[str], i: int) -> bool:
    """Whether the count at ``words[i]`` is a percentage ("93 percent", "20 per cento"), or
    the "cento" of one."""
    if i and words[i - 1].lower() == "per" and words[i].lower() in ("cent", "cento"):
        return True
    after = [w.lower() for w in words[i + 1 : i + 3]]
    return bool(after) and (
        after[0] in ("percent", "percento", "pc")
        or after[:2] in (["per", "cent"], ["per", "cento"])
    )


def _money_asked(question: str) -> bool:
    """Whether ``question`` (its plain text) asks for an amount of money."""
    return bool(_HOW_MUCH.search(question)) and bool(_MONEY_ASKED.search(question))


@lru_cache(maxsize=1024)
def _titles_answering(question: str) -> re.Pattern[str]:
    """The words of leading that answer ``question``: the titles it names (``_TITLES``), or
    any word of leading (``_LEAD``) when it names none. Read once per question, not once per
    sentence."""
    said = [p for w in _words(question) for p in _PARTS.split(w)]
    named = [t.pattern for t in _TITLES if any(t.fullmatch(p) for p in said)]
    return re.compile("|".join(named), re.IGNORECASE) if named else _LEAD


def names_a_title(question: str) -> bool:
    """Whether ``question`` asks for the holder of a title it names ("Quale ministro della
    difesa…?", "Who is the governor of…?"), not for whoever is in charge ("Chi guida…?")."""
    return _titles_answering(question) is not _LEAD


_HOW_MANY = re.compile(r"\b(?:how\s+many|quant[ie])\s+((?:[^\W\d_][\w'-]*\s*){1,3})", re.IGNORECASE)
# English auxiliaries end the counted words ("How many vehicles did GM sell?")
_AUXILIARIES = frozenset(
    ["did", "do", "does", "will", "would", "can", "could", "should", "must", "may", "might",
     "has", "have", "had", "is", "are", "was", "were", "been"]
)  # fmt: skip
NEAR_COUNT = 3  # words: "15.000 persone", "22,000 employees", "3.700 posti di lavoro"


# the things news counts, each in English and Italian: "Quante persone…?" is answered by
# "15,000 people", "How many employees…?" by "22.000 dipendenti". Stems are compared, so one
# form of each word is enough; a word both languages share ("civili", "militants") needs none
_COUNTED_NOUNS = (
    ("people", "person", "persone", "persona"),
    ("soldiers", "troops", "soldati", "truppe", "militari"),
    ("fighters", "militants", "combattenti", "miliziani", "jihadisti"),
    ("children", "kids", "bambini", "minori", "ragazzi"),
    ("women", "donne"),
    ("men", "uomini"),
    ("employees", "workers", "staff", "dipendenti", "lavoratori", "operai", "addetti"),
    ("jobs", "posti", "impieghi"),
    ("dealers", "dealerships", "concessionari", "concessionarie", "rivenditori"),
    ("vehicles", "cars", "veicoli", "auto", "automobili", "vetture"),
    ("aircraft", "planes", "jets", "airplanes", "airliners", "aerei", "velivoli", "jet"),
    ("seats", "posti"),
    ("orders", "ordini", "ordinativi"),
    ("plants", "factories", "stabilimenti", "fabbriche", "impianti"),
    ("shares", "azioni"),
    ("votes", "voti"),
    ("dead", "deaths", "morti", "vittime"),
    ("wounded", "injured", "feriti"),
    ("refugees", "displaced", "rifugiati", "profughi", "sfollati"),
    ("prisoners", "detainees", "prigionieri", "detenuti"),
    ("hostages", "ostaggi"),
    ("villages", "villaggi"),
    ("towns", "cities", "città", "paesi"),
    ("countries", "nations", "paesi", "nazioni"),
    ("strikes", "airstrikes", "raids", "raid", "bombardamenti", "attacchi"),
    ("attacks", "attacchi"),
    ("rockets", "missiles", "razzi", "missili"),
    ("ships", "vessels", "navi"),
    ("tanks", "carri"),
    ("helicopters", "elicotteri"),
    ("days", "giorni"),
    ("weeks", "settimane"),
    ("months", "mesi"),
    ("years", "anni"),
    ("hours", "ore"),
    ("miles", "miglia"),
    ("kilometres", "kilometers", "km", "chilometri"),
    ("tons", "tonnes", "tonnellate"),
    ("members", "membri"),
    ("officials", "funzionari"),
)


@lru_cache(maxsize=1)
def _counted_stems() -> tuple[frozenset[str], ...]:
    """Each group of ``_COUNTED_NOUNS`` as the Italian and English stems of its words."""
    return tuple(
        frozenset(s for w in group for s in stems_of(plain(w))) for group in _COUNTED_NOUNS
    )


@lru_cache(maxsize=256)
def _counted_groups(question: str, lang: str) -> tuple[frozenset[str], ...]:
    """The groups of ``_COUNTED_NOUNS`` of what ``question`` counts: read once per question,
    not once per sentence."""
    counted = _counted(question, lang)
    return tuple(g for g in _counted_stems() if counted is not None and counted.stems & g)


def _counts_asked(words: list[str], at: list[int], asked: PassageWords) -> bool:
    """A count followed by the thing the question counts: "How many employees…?" and "22,000
    employees" (the words after "how many" / "quanti" that it writes in lower case, by stem),
    or, in either language, a word of the same group of ``_COUNTED_NOUNS`` ("Quante
    persone…?" and "15,000 people")."""
    counted = _counted(asked.raw, asked.lang)
    if counted is None:
        return False
    groups = _counted_groups(asked.raw, asked.lang)
    return any(
        counted.has_word(words[j]) or any(set(stems_of(plain(words[j]))) & g for g in groups)
        for i in at
        for j in range(i + 1, min(len(words), i + NEAR_COUNT + 1))
        if words[j][:1].islower() and len(words[j]) > 2
    )


@lru_cache(maxsize=256)
def _counted(question: str, lang: str) -> PassageWords | None:
    """The lower-case words right after "how many" / "quanti" ("people", "nuovi posti")."""
    m = _HOW_MANY.search(question)
    if m is None:
        return None
    stop = stopwords(lang)
    kept = []
    for w in m.group(1).split():  # up to the verb's auxiliary: "persone hanno…", "jobs did…"
        if w.lower() in stop or w.lower() in _AUXILIARIES:
            break
        if w[:1].islower():
            kept.append(w)
    return PassageWords(" ".join(kept), lang) if kept else None


def _count_at(words: list[str], asked: PassageWords) -> list[int]:
    """Where ``words`` give a count the question does not (digits that are not a year or a
    day of a month, or a number word)."""
    out = []
    for i, w in enumerate(words):
        low = w.lower()
        if w[:1].isdigit():
            digits = re.sub(r"[.,]", "", w)
            near_month = any(
                words[j].lower() in TIME_WORDS for j in (i - 1, i + 1) if 0 <= j < len(words)
            )
            if not (_YEAR.match(digits) or (near_month and len(digits) <= 2)) and (
                digits not in asked.numbers
            ):
                out.append(i)
        elif (low in _COUNT_WORDS or low in _SMALL_NUMBERS) and low not in asked.tokens:
            out.append(i)
    return out


def _next_to_asked(
    words: list[str], rare: set[str], lang: str, asked: PassageWords, *, titles_only: bool = False
) -> bool:
    """A rare new name within NEAR words of a word of the question: "the fight over Tabqa
    base" for "which air base", "la tribù Sheitaat" for "quale tribù"."""
    stop = stopwords(lang)
    titles = _lowered(asked.raw, asked.lang)
    at = [i for i, w in enumerate(words) if w in rare]
    for i in at:
        for j in range(max(0, i - NEAR), min(len(words), i + NEAR + 1)):
            w = words[j]
            if j == i or w in stop or len(w) <= 3:
                continue
            if w[:1].islower() and not titles_only and _asked_word(w, lang, asked):
                return True
            # the question's own noun as the title a name runs on from ("Senator John McCain"
            # for "quale senatore") or ends with ("Pakistan International Airlines" for "which
            # airline"), not a name the question gives ("Air Force" for "the Air Force") nor a
            # capitalised sentence start ("Emails exchanged among…")
            between = range(j, i) if j < i else range(i + 1, j + 1)
            run_on = all(words[k][:1].isupper() for k in between)
            if run_on and common_word(w) and titles.has_word(w):
                return True
    return False


@lru_cache(maxsize=256)
def _role_asked(question: str) -> bool:
    """Whether ``question`` (its plain text) asks for someone by a role (``_ROLE_ASKED``):
    read once per question, not once per sentence."""
    return bool(_ROLE_ASKED.search(question))


@lru_cache(maxsize=256)
def _role_word(question: str, lang: str) -> PassageWords | None:
    """The role ``question`` asks for: its first lower-case word after "who was the", "chi
    era il" ("pilota"); None when a name comes first."""
    m = _ROLE_ASKED.search(question)
    if m is None:
        return None
    after = [w for w in _words(question[m.end() :]) if w.lower() not in stopwords(lang)]
    return PassageWords(after[0], lang) if after and after[0][:1].islower() else None


def _role_said(words: list[str], lang: str, asked: PassageWords) -> bool:
    """In the question's language, the sentence names the role asked ("pilota":
    "L'identificazione del pilota ha rivelato che si trattava del capo squadriglia Dilokrit
    Pattavee")."""
    role = _role_word(asked.raw, asked.lang) if lang == asked.lang else None
    return role is not None and any(role.has_word(w) for w in words if w[:1].islower())


def _named_after(words: list[str], rare: set[str], lang: str, asked: PassageWords) -> bool:
    """A rare name right after a word of naming ("identified as Squadron Leader Dilokrit",
    "called Power8": only capitalised words between) in a sentence that has a lower-case word
    of the question ("pilot" for "pilota")."""
    if not any(w[:1].islower() and len(w) > 3 and _asked_word(w, lang, asked) for w in words):
        return False
    for i, w in enumerate(words):
        if not _NAMING.fullmatch(w):
            continue
        for later in words[i + 1 :]:
            if later in rare:
                return True
            if not (later[:1].isupper() or later.lower() in ("as", "come")):
                break
    return False


# letters: "village" / "villaggio", "attacked" / "attaccato"; 4 and 5 gave the same outcomes
# on the eight sets, 6 lost two of the three questions it gained
COGNATE_PREFIX = 5


def _asked_word(word: str, lang: str, asked: PassageWords) -> bool:
    """A word of the question, or, in a sentence of another language, one that begins as a
    word of the question does ("the village of Ghareebeh" for "in quale villaggio", "attacked
    Tel Abyad" for "ha attaccato"): the nouns and verbs of Italian and English news share
    their Latin stems more often than their spelling."""
    if asked.has_word(word):
        return True
    w = plain(word)
    return (
        lang != asked.lang
        and len(w) >= COGNATE_PREFIX
        and any(t[:COGNATE_PREFIX] == w[:COGNATE_PREFIX] for t in asked.long_tokens)
    )


# "which airline", "in quale villaggio", "what registration": the noun a name is asked for
# at the start of the question or of the follow-up, maybe after a preposition ("In which"):
# not a relative pronoun ("il deputato che ha denunciato")
_WHICH = re.compile(
    r"(?:^|[?.!]\s+)(?:(?:e|and)\s+)?(?:[^\W\d_]+\s+)?(?:which|what|quale|quali|qual|che)\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=256)
def _lowered(question: str, lang: str) -> PassageWords:
    """The nouns ``question`` asks a name for: the lower-case words just after its first
    "which" ("quali motori" in "E quali motori monta? Which airline…", the follow-up before
    the question it follows), or, without one, every word it writes in lower case. Not its
    names, nor a name after an elided article ("l'Isis")."""
    words = [w for w in _words(question) if _ELIDED.sub("", w)[:1].islower()]
    which = _WHICH.search(question)
    if which:
        after = _words(question[which.end() :])[:NEAR]
        asked = [w for w in after if w[:1].islower() and w.lower() not in stopwords(lang)]
        words = asked or words
    return PassageWords(" ".join(words), lang)


def mentions_all(text: str, lang: str, terms: Iterable[Term], qlang: str) -> bool:
    """Whether ``text`` names every one of ``terms`` (rag/mentions.py)."""
    words = PassageWords(text, lang)
    return all(mentions(words, t, qlang) for t in terms)
