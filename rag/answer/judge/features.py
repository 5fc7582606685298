"""What the answer judge reads of a question and one candidate sentence.

Two kinds of evidence, side by side in one vector:
- the embedding model's: the cosine of the question's vector (query prompt) and the sentence's
  (passage prompt, its first ``HEAD_WORDS`` words), multilingual, so an Italian question meets
  an English sentence the same way. (The vectors' element-wise product, 384 more features, was
  measured and left out: it fitted Belebele's passages and chose worse sentences on the news
  sets, 0.556 against 0.635 with the cosine alone.)
- what the words say, read by rule (rag/question.py, rag/answer/kinds.py, rag/mentions.py):
  the kind of fact asked (who, where, when, how many, why, which) and whether the sentence
  states one of that kind (a new name, a count, a time, a reason, a price or a share), how
  many of the question's names and words it carries, where it stands in its passage, whether
  it crosses languages, and how its cosine compares with its passage's best.

``Asked`` is prepared once per question; ``sentence_features`` is then cheap (no model call).
Nothing here is fitted; the weights that read these features are (rag/judge/model.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...mentions import PassageWords, mentions
from ...question import QuestionInfo, analyse
from ...words import tokenize
from ..kinds import states

HEAD_WORDS = 32  # a sentence is embedded by its first words (its head says what it is about)
WANTS = ("place", "actor", "time", "number", "name", "reason")
_MONEY = re.compile(
    r"[$€£¥]|\b(?:us\$|dollars?|dollari|euros?|pounds?|sterline?|yen|usd|eur)\b", re.IGNORECASE
)
_SHARE = re.compile(r"%|\b(?:per\s*cent|percent|per\s+cento|percentuale)\b", re.IGNORECASE)
# "what price", "quanto costa", "what percentage": a number the question-word rules call a name
_ASKS_AMOUNT = re.compile(
    r"\b(?:price|cost|worth|value|percentage|share|rate|prezzo|costo|costa|costato|valore|"
    r"percentuale|quota|tasso|quanto)\b",
    re.IGNORECASE,
)
NAMES = (
    *(f"wants_{w}" for w in (*WANTS, "none")),
    "asks_amount",
    "new_names",
    "rare_name",
    "name_by_asked",
    "count",
    "time",
    "reason",
    "money",
    "share",
    # the kind asked times the kind stated: a linear judge ranks one question's sentences by
    # these, since the kind asked alone is the same for all of them
    "place_by_name",
    "actor_by_name",
    "name_by_name",
    "number_by_count",
    "amount_by_money",
    "amount_by_share",
    "amount_by_count",
    "time_by_time",
    "reason_by_reason",
    "fits",
    "terms_here",
    "terms_missing",
    "words_here",
    "cross_lang",
    "lead",
    "position",
    "length",
    "cosine",
    "below_best",
)


@dataclass
class Asked:
    """A question as the judge reads it, prepared once."""

    text: str
    lang: str
    info: QuestionInfo
    words: PassageWords
    tokens: frozenset[str]
    vector: np.ndarray

    @classmethod
    def of(cls, question: str, lang: str, vector: np.ndarray) -> Asked:
        return cls(
            question, lang, analyse(question, lang), PassageWords(question, lang),
            frozenset(tokenize(question, lang)), np.asarray(vector, dtype=np.float32),
        )  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    """One sentence of a passage, where it stands, and its vector."""

    text: str
    lang: str
    position: int  # 0 = the passage's first sentence
    vector: np.ndarray


def head(sentence: str) -> str:
    return " ".join(sentence.split()[:HEAD_WORDS])


def rule_features(asked: Asked, c: Candidate, cosine: float, best: float) -> list[float]:
    wants = asked.info.wants
    if wants == "leader":  # the judge was trained before this kind: to it, a who question
        wants = "actor"
    one_hot = [1.0 if wants == w else 0.0 for w in WANTS] + [1.0 if wants is None else 0.0]
    name_fit = states("name", c.text, c.lang, asked.words)  # 0, 1 common, 2-4 rare, 5-7 by asked
    count = states("number", c.text, c.lang, asked.words) > 0
    when = states("time", c.text, c.lang, asked.words) > 0
    reason = states("reason", c.text, c.lang, asked.words) > 0
    fits = states(wants, c.text, c.lang, asked.words) if wants else 0
    terms = asked.info.terms
    if terms:
        here = PassageWords(c.text, c.lang)
        found = sum(mentions(here, t, asked.lang) for t in terms)
        terms_here, terms_missing = found / len(terms), float(found < len(terms))
    else:
        terms_here, terms_missing = 0.0, 0.0
    same = c.lang == asked.lang
    shared = len(asked.tokens & set(tokenize(c.text, c.lang))) if same else 0
    words_here = shared / len(asked.tokens) if asked.tokens else 0.0
    n_words = len(c.text.split())
    amount = 1.0 if _ASKS_AMOUNT.search(asked.text) else 0.0
    money = 1.0 if _MONEY.search(c.text) else 0.0
    share = 1.0 if _SHARE.search(c.text) else 0.0
    rare = 1.0 if name_fit >= 2 else 0.0
    return [
        *one_hot,
        amount,
        min(name_fit, 1),
        rare,
        1.0 if name_fit >= 5 else 0.0,
        float(count),
        float(when),
        float(reason),
        money,
        share,
        rare * (wants == "place"),
        rare * (wants == "actor"),
        min(name_fit, 5) / 5 * (wants == "name"),
        float(count) * (wants == "number"),
        amount * money,
        amount * share,
        amount * float(count),
        float(when) * (wants == "time"),
        float(reason) * (wants == "reason"),
        min(fits, 5) / 5,
        terms_here,
        terms_missing,
        words_here,
        0.0 if same else 1.0,
        1.0 if c.position == 0 else 0.0,
        min(c.position, 10) / 10,
        math.log1p(n_words) / 4,
        cosine,
        best - cosine,
    ]


def features(asked: Asked, candidates: Sequence[Candidate]) -> np.ndarray:
    """One row per candidate, the features ``NAMES``; ``below_best`` compares each cosine with
    the best among ``candidates`` (the sentences the question is choosing from)."""
    if not candidates:
        return np.zeros((0, len(NAMES)), dtype=np.float32)
    vectors = np.stack([c.vector for c in candidates]).astype(np.float32)
    cosines = vectors @ asked.vector
    best = float(cosines.max())
    return np.array(
        [rule_features(asked, c, float(s), best) for c, s in zip(candidates, cosines, strict=True)],
        dtype=np.float32,
    )
