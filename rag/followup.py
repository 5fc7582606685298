"""Turning a follow-up into a question that stands on its own, without an LLM.

"where is Isis still active in Syria?" then "and in Iraq?" → "where is Isis still active in
Iraq?": a follow-up that starts with "and"/"e"/"what about"/"e invece" and names a place with a
preposition replaces the previous question's phrase with the same preposition; one that names
something new without such a preposition ("And the army base in the Mopti region?", "And
ISWAP?") takes the place of the previous question's last name, and of the words before it from
their article when it has one too: "Who attacked the army base in the Mopti region?". Any
other short follow-up, one that points back ("when did it happen?", "e quando è successo?",
"chi sono?"), or one that names nothing of its own ("When did the battle begin?") carries the
previous question's words along, and is searched with the names the last answer gave too
(``answer_names``): "there" after an answer that said Qardaha is Qardaha, and "after taking
it" after "Which air base…?" is the name the answer put beside "base" ("Tabqa"), not every
name of the answer ("the Observatory"). A follow-up that is
a full question of its own is left alone. With an LLM configured, the LLM rewrites instead
(rag/answer/llm.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .answer.kinds import NEXT_TO_ASKED, new_names, states
from .mentions import PassageWords, common_word
from .question import terms, wants
from .sentences import sentence_spans
from .types import Message
from .words import TIME_WORDS

_LEAD = re.compile(
    r"^\s*(?:and|also|what about|how about|e|ed|e invece|invece|e per|e riguardo a|"
    r"e per quanto riguarda|e che dire di|anche)\b[\s,]*(?P<rest>.*?)\s*\??\s*$",
    re.IGNORECASE,
)
_PREPOSITIONS = (
    "in", "at", "on", "near", "around", "for", "from", "to", "nel", "nella", "nei", "negli",
    "nelle", "nell'", "in", "a", "ad", "al", "alla", "per", "su", "sul", "sulla", "verso",
    "vicino a", "intorno a", "dal", "dalla", "da", "of", "di", "del", "della", "dello",
    "dei", "degli", "delle",
)  # fmt: skip
_POINTERS = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|there|he|she|him|her|lì|là|ci|"
    r"questo|questa|questi|queste|quello|quella|quelli|ciò|esso|essa|loro|lui|lei|suo|sua|"
    r"suoi|sue)\b"
    # an Italian object pronoun before its verb: "che l'hanno lasciata", "ne hanno uccisi"
    r"|\b(?:l['’]|(?:lo|la|li|le|ne)\s+)(?:ha|hanno|aveva|avevano|avrebbe|avrebbero|è|sono|"
    r"era|erano|fu|furono)\b",
    re.IGNORECASE,
)
_NAMED = re.compile(r"(?:(?:the|il|la|lo|l['’])\s*)?[A-ZÀ-Ý0-9]")
SHORT = 3  # words: shorter follow-ups cannot stand alone ("chi sono?", "and why?")


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'’]+", text)


def previous_question(history: Sequence[Message]) -> str | None:
    """What the conversation is about: the last question that stands on its own, as the
    follow-ups since made it ("where is Isis still active in Syria?", "and in Iraq?" → "…in
    Iraq?"). A follow-up that only points back ("Quando?") keeps the question it points to, so
    "When did they attack it?" after three of them still carries "Who attacked the base at
    Acharan?"; one that asks another kind of fact goes before it ("How many people died? Where
    was the airliner heading?"), so a later "And at Mashhad?" asks how many died there."""
    for i in range(len(history) - 1, -1, -1):
        message = history[i]
        if message.role != "user" or not message.content.strip():
            continue
        question = message.content.strip()
        before = previous_question(history[:i])
        if before is None:
            return question
        replaced, leans = _follow(question, before)
        if replaced or not leans:
            return replaced or question
        # "How many people died?" after "Where was the airliner heading?" asks another kind
        # of fact about it: a later "And at Mashhad?" asks how many died there; unless it was
        # refused ("Come si chiama il loro capo?": the articles do not say), so "E quando?"
        # then asks about the question before it
        asks = wants(question)
        if not asks or asks == wants(before) or not _answered(history, i):
            return before
        return f"{question} {before}"
    return None


def _answered(history: Sequence[Message], i: int) -> bool:
    """Whether the question at ``history[i]`` was answered (``_cites``). A question with no
    reply yet counts as answered."""
    reply = history[i + 1] if i + 1 < len(history) else None
    return reply is None or reply.role != "assistant" or _cites(reply.content)


def _cites(answer: str) -> bool:
    """Whether an answer cites a passage ("[1]"): a refusal cites none."""
    return re.search(r"\[\d+\]", answer) is not None


def _follow(question: str, previous: str) -> tuple[str | None, bool]:
    """(the previous question with the follow-up's new place put in, if it names one the
    previous frame takes: "and in Iraq?"; whether the follow-up leans on the previous one)."""
    lead = _LEAD.match(question)
    if lead and lead.group("rest"):
        replaced = _replace_phrase(previous, lead.group("rest")) or _replace_name(
            previous, lead.group("rest")
        )
        asks = wants(question)
        if replaced and asks and asks != wants(replaced):
            replaced = f"{question.strip()} {replaced}"  # the kind asked last is the one asked
        if replaced:
            return replaced, True
    return None, _leans_back(question, lead)


def _leans_back(question: str, lead: re.Match[str] | None) -> bool:
    """A follow-up that cannot stand alone: it starts with "and", is short, points back, or
    names nothing of its own ("When did the battle begin?", "Perché riescono a
    sopravvivere?": no name, no number), so it is about what the conversation named."""
    words = _words(question)
    names_nothing = not re.search(r"\d", question) and not any(w[:1].isupper() for w in words[1:])
    return bool(lead) or len(words) <= SHORT or bool(_POINTERS.search(question)) or names_nothing


def _leaned_on(
    question: str, history: Sequence[Message], lang: str
) -> tuple[str, str, set[str]] | None:
    """(the question ``question`` leans on, the body of the answer it got, the names that
    answer gave for it when the follow-up has a pointer: ``_answering``), when ``question``
    points back at an answer that cites something."""
    previous = previous_question(history)
    answer = next((m.content for m in reversed(history) if m.role == "assistant"), "")
    if not previous or not _cites(answer):
        return None  # no answer, or a refusal (it cites nothing): its closest titles are no topic
    replaced, leans = _follow(question, previous)
    if replaced or not leans:
        return None
    body = answer.split("\n\n")[0]  # not the sources' dates
    # "taking it", "there": what the answer gave for the previous question ("Tabqa");
    # a follow-up with no pointer ("E quali motori monta?") is about the whole answer
    told = _answering(previous, body, lang) if _POINTERS.search(question) else set()
    return previous, body, told


def answer_names(question: str, history: Sequence[Message], lang: str) -> tuple[str, ...]:
    """The names the last answer gave that its question did not ask about, when ``question``
    points back at it: "In which town is the Assad mausoleum?" answered "…in Qardaha", then
    "What hit the hospital there?" is about Qardaha. Searched with, never required."""
    leaned = _leaned_on(question, history, lang)
    return _names(question, *leaned, lang) if leaned else ()


def _names(question: str, previous: str, body: str, told: set[str], lang: str) -> tuple[str, ...]:
    asked = {w.lower() for w in _words(f"{previous} {question}")}
    out: list[str] = []
    for t in terms(body, lang):
        if told and not any(w in told for w in t.words):
            continue  # "Which air base…?" was answered by "Tabqa", not by "the Observatory"
        if t.kind == "name" and any(w.lower() not in asked for w in t.words) and t.text not in out:
            out.append(t.text)
    return tuple(out)


def pointed_question(question: str, history: Sequence[Message], lang: str) -> str | None:
    """A follow-up whose pointer is the name the last answer gave for the previous question,
    made to stand alone with that name and the previous question's names: "When had the army
    first taken it back?" after "In which Homs province town did Islamic State kill dozens
    of civilians…in October 2017?" was answered "…in Qaryatayn in central Homs province…"
    becomes "When had the army first taken it back? (Qaryatayn; Homs, Islamic State)". The
    previous question's other words and its time are left out: they find the article that
    answered it again. None for any other follow-up."""
    leaned = _leaned_on(question, history, lang)
    if leaned is None or not leaned[2]:
        return None
    previous, body, told = leaned
    names = _names(question, previous, body, told, lang)
    if not names:
        return None
    said = ", ".join(names)
    frame = ", ".join(t.text for t in terms(previous, lang) if t.kind == "name")
    return f"{question.strip()} ({said}; {frame})" if frame else f"{question.strip()} ({said})"


_MARKER = re.compile(r"\s*\[\d+\](?:\s*\([^)]*\))?")  # "[1]", "[1] (article of …)"


def _answering(previous: str, body: str, lang: str) -> set[str]:
    """The rare names with which the answer names what the previous question asked, beside
    the question's own noun (rag/answer/kinds.py): "Tabqa" of "…in the fight over Tabqa
    base…" for "Which air base…?". Empty when it asked no name (a number, a time), or no
    sentence names one that way: "SIA has stated…" for "Which airline…?" may be about
    anything the answer says."""
    # a question of no kind ("Qual era l'ultima enclave…?") may still be answered by a name
    # beside its noun ("…la sua ultima enclave a Baghuz")
    wanted = wants(previous) or "name"
    if wanted not in ("place", "actor", "name", "leader"):
        return set()
    asked = PassageWords(previous, lang)
    graded = []
    for a, b in sentence_spans(body):
        sentence = _MARKER.sub("", body[a:b])
        grade = states("actor" if wanted == "leader" else wanted, sentence, lang, asked)
        graded.append((grade, sentence))
    best = max((g for g, _ in graded), default=0)
    if best < NEXT_TO_ASKED:  # no rare name beside the question's own noun ("Tabqa base")
        return set()
    return {
        w for g, sentence in graded if g == best
        for w in new_names(wanted, sentence, lang, asked) if not common_word(w)
    }  # fmt: skip


def standalone_question(question: str, history: Sequence[Message]) -> str:
    previous = previous_question(history)
    if not previous:
        return question
    replaced, leans = _follow(question, previous)
    return replaced or (f"{question.strip()} {previous}" if leans else question)


_CAPITALISED = r"[A-ZÀ-Ý][\w'’-]*(?:\s+[A-ZÀ-Ý][\w'’-]*)*"  # a run of capitalised words
# not the question's first word; a number in the name too ("Division 17")
_NAME_RUN = re.compile(rf"(?<=\s){_CAPITALISED}(?:\s+\d+\b)?")


def _replace_name(previous: str, rest: str) -> str | None:
    """ "the army base in the Mopti region" + "Who attacked the base at Acharan?" → "Who
    attacked the base at the army base in the Mopti region?": a follow-up that names something
    new without a preposition the previous question has takes the place of its last name."""
    rest = rest.strip(" ?")
    if wants(rest) or not (
        re.search(r"(?<!^)\b[A-ZÀ-Ý0-9]", rest) or re.fullmatch(_CAPITALISED, rest)
    ):
        return None  # "e quanto ne controlla la Siria?" asks its own question
    names = [
        m
        for m in _NAME_RUN.finditer(previous)
        if not all(w.lower() in TIME_WORDS or w.isdigit() for w in m.group().split())
    ]  # not "July"
    if not names:
        return None
    last = names[-1]
    before = previous[: last.start()]
    # a follow-up that names a whole thing ("the army base in the Mopti region") replaces the
    # previous question's whole thing, from its article: "Who attacked the army base in the
    # Mopti region?", not "…the base at the army base in the Mopti region?"
    if _ARTICLE.match(rest):
        articles = list(_ARTICLE_IN.finditer(before))
        if articles:
            before = before[: articles[-1].start()]
    return before + rest + previous[last.end() :]


_ARTICLES = r"(?:the|a|an|il|lo|la|i|gli|le|un|una|uno)\b|l['’]"
_ARTICLE = re.compile(_ARTICLES, re.IGNORECASE)  # the follow-up opens with one
_ARTICLE_IN = re.compile(rf"(?<![\w'’])(?:{_ARTICLES})", re.IGNORECASE)  # one in a question


def _replace_phrase(previous: str, rest: str) -> str | None:
    """ "in Iraq" + "where is Isis still active in Syria?" → "where is Isis … in Iraq?".

    The previous question's last "<preposition> <Capitalised words>" is replaced; one with the
    same preposition is preferred. A bare name ("and Iraq?") replaces the last such place too.
    """
    m = re.match(r"(?P<prep>[\w']+)\s+(?P<what>.+)", rest)
    # "e a Mosul?", "and in 2019?"; not "e da quanto tempo…?", a question of its own words
    if m and m.group("prep").lower() in _PREPOSITIONS and _NAMED.match(m.group("what")):
        prep, what = m.group("prep"), m.group("what").strip(" ?")
        candidates = [prep, *_PREPOSITIONS]
    elif re.fullmatch(_CAPITALISED, rest.strip(" ?")):
        prep, what = None, rest.strip(" ?")
        candidates = list(_PREPOSITIONS)
    else:
        return None
    for candidate in candidates:
        # the preposition in any case, the place capitalised: "in Syria", "nella Siria"
        pattern = re.compile(
            rf"\b(?i:{re.escape(candidate)})\s+(?:(?i:the|il|la)\s+|l'\s*)?" + _CAPITALISED
        )
        matches = list(pattern.finditer(previous))
        if matches:
            last = matches[-1]
            return previous[: last.start()] + f"{prep or candidate} {what}" + previous[last.end() :]
    return None
