"""Calibrate refusal: answerable Belebele questions vs questions the archive cannot answer.

    python bench/refusal.py --index DIR [--model multilingual-e5-small] [--answerable N]

The index should hold the Belebele passages plus the FA-KES articles (bench/stories.py
--index DIR builds it). Every question is searched twice with the engine's own retrieval
(Engine.retrieve, what `ask` answers from): as asked, and restricted to the other language
(so only a translation can answer it, the cross-language case). For each search the parts
of the engine's support score are kept (the best passage's cosine in the question's language
and in the other one, and how many of the question's words the archive never contains), see
rag.chat.support.

Questions are split in halves (even/odd line). On the dev half a grid of cross-language
allowances and unknown-word penalties is tried, each with the threshold that refuses most
unanswerable questions while wrongly refusing at most 5% of the answerable ones, as asked and
cross-language alike; the best is reported on the test half, beside the plain cosine
threshold (no allowance, no penalty). Prints JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MAX_WRONG = 0.05
ALLOWANCES = [round(i * 0.01, 2) for i in range(13)]  # 0 .. 0.12 (models' scales differ)
PENALTIES = [0.0, 0.01, 0.02, 0.03, 0.05, 0.08]


@dataclass(frozen=True)
class Case:
    answerable: bool
    variant: str  # "asked" or "cross"
    half: int  # 0 dev, 1 test
    question: str
    lang: str
    passages: tuple  # the Passages the engine's search returned
    unknown: int


def score(case: Case, allowance: float, penalty: float) -> float:
    from rag.chat import support

    s = support(case.lang, case.passages, case.unknown, cross_lang_allowance=allowance,
                unknown_word_penalty=penalty)  # fmt: skip
    return -1.0 if s is None else s


def rates(cases: list[Case], allowance: float, penalty: float, t: float) -> dict[str, float]:
    scores = np.array([score(c, allowance, penalty) for c in cases])
    return _rates(cases, scores, t)


def _rates(cases: list[Case], scores: np.ndarray, t: float) -> dict[str, float]:
    out = {}
    for answerable, variant in itertools.product((True, False), ("asked", "cross")):
        group = np.array([c.answerable == answerable and c.variant == variant for c in cases])
        key = ("wrong_refusal_" if answerable else "refusal_") + variant
        out[key] = round(float(np.mean(scores[group] < t)), 4)
    return out


def calibrate(dev: list[Case], allowance: float, penalty: float) -> tuple[float, dict] | None:
    """The threshold that refuses most unanswerable dev questions within the wrong limit."""
    scores = np.array([score(c, allowance, penalty) for c in dev])
    best = None
    for t in np.unique(np.round(scores, 4)):
        r = _rates(dev, scores, float(t))
        if max(r["wrong_refusal_asked"], r["wrong_refusal_cross"]) > MAX_WRONG:
            break  # higher thresholds only refuse more answerable questions
        gain = r["refusal_asked"] + r["refusal_cross"]
        if best is None or gain > best[0]:
            best = (gain, float(t), r)
    return None if best is None else (best[1], best[2])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--answerable", type=int, default=600)
    ap.add_argument("--unanswerable", type=Path, default=REPO / "data/eval/no_answer.jsonl")
    ap.add_argument("--dump", type=Path, help="also write each question's support as JSONL")
    args = ap.parse_args()

    from rag.config import Settings
    from rag.evaluate import load_questions
    from rag.language import detect_query_language
    from rag.types import Filters
    from ui.compose import engine_parts

    parts = engine_parts(Settings(index_dir=args.index, embedding_model=args.model))
    engine, lexical = parts.engine, parts.index.lexical()
    answerable = load_questions(SHARED / "belebele_it_en.questions.jsonl")
    random.Random(11).shuffle(answerable)
    answerable = answerable[: args.answerable]
    unanswerable = load_questions(args.unanswerable)

    cases: list[Case] = []
    for is_answerable, questions in ((True, answerable), (False, unanswerable)):
        for i, q in enumerate(questions):
            lang = detect_query_language(q.question, default=q.lang or "en")
            unknown = len(lexical.unknown_words(q.question, lang))
            other = Filters(lang="it" if lang == "en" else "en")
            for variant, filters in (("asked", q.filters), ("cross", other)):
                hits = engine.retrieve(q.question, lang, filters).passages  # as `ask` does
                cases.append(
                    Case(is_answerable, variant, i % 2, q.question, lang, tuple(hits), unknown)
                )
    dev = [c for c in cases if c.half == 0]
    test = [c for c in cases if c.half == 1]

    grid = []
    for allowance, penalty in itertools.product(ALLOWANCES, PENALTIES):
        found = calibrate(dev, allowance, penalty)
        if found:
            t, r = found
            grid.append((r["refusal_asked"] + r["refusal_cross"], -penalty, -allowance, t))
    _, neg_penalty, neg_allowance, threshold = max(grid)
    allowance, penalty = -neg_allowance, -neg_penalty
    plain = calibrate(dev, 0.0, 0.0)
    out: dict[str, object] = {
        "model": parts.embedder.label,
        "index": str(args.index),
        "questions": {"answerable": len(answerable), "unanswerable": len(unanswerable)},
        "chosen": {
            "threshold": threshold,
            "cross_lang_allowance": allowance,
            "unknown_word_penalty": penalty,
        },
        "dev": rates(dev, allowance, penalty, threshold),
        "test": rates(test, allowance, penalty, threshold),
        "all": rates(cases, allowance, penalty, threshold),
    }
    if plain:
        out["plain_cosine"] = {"threshold": plain[0], "dev": plain[1],
                               "test": rates(test, 0.0, 0.0, plain[0])}  # fmt: skip
    configured = (engine.refusal_threshold, engine.cross_lang_allowance,
                  engine.unknown_word_penalty)  # fmt: skip
    out["configured"] = {
        "threshold": configured[0], "cross_lang_allowance": configured[1],
        "unknown_word_penalty": configured[2],
        "test": rates(test, configured[1], configured[2], configured[0]),
        "all": rates(cases, configured[1], configured[2], configured[0]),
    }  # fmt: skip
    parts.close()
    if args.dump:
        with args.dump.open("w", encoding="utf-8") as f:
            for c in cases:
                row = {
                    "question": c.question, "answerable": c.answerable, "variant": c.variant,
                    "half": c.half, "unknown": c.unknown,
                    "support": round(score(c, allowance, penalty), 4),
                    "top": [(p.article_id, p.lang, p.dense) for p in c.passages[:3]],
                }  # fmt: skip
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
