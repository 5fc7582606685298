"""Every sentence an LLM writes is checked against the passage it cites.

A model can cite [1] for a number that [1] does not give, or state a name no passage has. A
sentence's checkable facts are the names it states (capitalised words that are not an
ordinary sentence start, rag/answer/kinds.py ``names_in``) and its numbers (digits, years
included); each is looked for in the passage as rag/mentions.py looks for a question's
terms (any spelling, the other language's form, a country's Italian or English name).

- a sentence whose facts are all in a passage it cites is kept;
- one whose facts are all in another given passage has its marker pointed there;
- one whose facts no single passage has is removed (an answer is never partly invented);
- a sentence that states no name or number is kept as written: there is nothing to check
  by rule.
What is left goes to the citation guard; an answer left with no cited sentence is the
engine's refusal. The extractive answerer quotes the passages, so only LLM answers are checked.
No second LLM call is made.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..mentions import PassageWords, mentions
from ..question import Term
from ..sentences import sentence_spans
from ..types import Passage
from .kinds import names_in

MARKER = re.compile(r"\[(\d+)\]")  # the guard has already made every marker one "[n]"
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*")


def facts(sentence: str, lang: str) -> list[Term]:
    """The names and numbers a sentence states, each once."""
    plain = MARKER.sub("", sentence)
    found = {n.lower(): Term(n, "name") for n in names_in(plain, lang)}
    for number in _NUMBER.findall(plain):
        found.setdefault(number, Term(number.rstrip(".,"), "number"))
    return list(found.values())


def check_claims(text: str, passages: Sequence[Passage], lang: str) -> str:
    """``text`` (markers numbered as ``passages``) with each sentence kept, re-pointed to the
    passage that supports it, or removed (see the module docstring)."""
    if not passages:
        return text
    words = [PassageWords(f"{p.title}\n{p.text}", p.lang) for p in passages]
    out: list[str] = []
    cursor = 0
    for a, b in sentence_spans(text):
        sentence = text[a:b]
        out.append(text[cursor:a])
        cursor = b
        stated = facts(sentence, lang)
        if not stated:
            out.append(sentence)
            continue
        holds = [i + 1 for i, w in enumerate(words) if all(mentions(w, t, lang) for t in stated)]
        cited = [int(m.group(1)) for m in MARKER.finditer(sentence)]
        if any(n in holds for n in cited):
            out.append(sentence)
        elif holds and cited:  # the first marker points where the facts are, the rest go
            first = MARKER.search(sentence)
            assert first is not None
            rest = MARKER.sub("", sentence[first.end() :])
            out.append(f"{sentence[: first.start()]}[{holds[0]}]{rest}")
        elif holds:
            end = len(sentence.rstrip(".!?…"))
            out.append(f"{sentence[:end]} [{holds[0]}]{sentence[end:]}")
        # else: no passage states it; it is left out
    out.append(text[cursor:])
    return re.sub(r"[ \t]{2,}", " ", "".join(out)).strip()
