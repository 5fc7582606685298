"""Calibrate the support threshold on two question sets, report it on every set's test half.

    python bench/refusal.py --set belebele=INDEX --set news=INDEX [--set sample=INDEX]

A question is refused by rules first (nothing found, a name or number no article found names,
a time no article found is about: rag/chat.py), then when its support (the best passage's
similarity, an allowance for a passage in another language, a deduction per question word
the archive never uses: rag.chat.support) is under the threshold. This bench asks every
question once with the engine's own retrieval (Engine.retrieve, what `ask` answers from) and
keeps, per question, whether the rules refused it and the parts of its support.

Sets (each an index built for it):
  belebele  600 answerable Belebele questions + the 120 of data/eval/no_answer.jsonl, on the
            Belebele + FA-KES index (bench/stories.py --index DIR builds it); halves by line
  news      data/eval/news.jsonl on FA-KES + seeds + Belebele Wikinews (its own split field)
  sample    data/eval/sample.jsonl on the demo archive (data/sample)
The threshold (with the allowance and the per-word deduction, from a small grid) is chosen on
the dev halves of the sets named in --choose-on (default: belebele and news) together: the one
that refuses most unanswerable questions while wrongly refusing at most 5% of the answerable
ones of each. Prints JSON: the choice, and per set and half, the refusal rates with the rules
alone and with the threshold.
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
ALLOWANCES = [0.0, 0.02, 0.05, 0.08]
PENALTIES = [0.0, 0.02, 0.05]


@dataclass(frozen=True)
class Case:
    answerable: bool
    half: str  # "dev" or "test"
    lang: str
    passages: tuple  # what the engine's retrieval returned
    unknown: int  # question words the archive never uses
    ruled: bool  # refused before the threshold (no passages, unmentioned, untimely)


def score(case: Case, allowance: float, penalty: float) -> float:
    from rag.chat import support

    s = support(case.lang, case.passages, case.unknown, cross_lang_allowance=allowance,
                unknown_word_penalty=penalty)  # fmt: skip
    return -1.0 if s is None else s


def rates(cases: list[Case], allowance: float, penalty: float, t: float) -> dict[str, float]:
    refused = np.array([c.ruled or score(c, allowance, penalty) < t for c in cases])
    answerable = np.array([c.answerable for c in cases])
    out = {"answerable": int(answerable.sum()), "unanswerable": int((~answerable).sum())}
    if (~answerable).any():
        out["refused_unanswerable"] = round(float(refused[~answerable].mean()), 4)
    if answerable.any():
        out["refused_answerable"] = round(float(refused[answerable].mean()), 4)
    return out


def collect(name: str, index: Path, model: str) -> list[Case]:
    from app.compose import engine_parts
    from rag.chat import unknown_words
    from rag.config import Settings
    from rag.evaluate import load_questions, resolve_ids
    from rag.language import detect_query_language

    parts = engine_parts(Settings(index_dir=index, embedding_model=model, refusal_threshold=-1.0))
    engine, lexical = parts.engine, parts.index.lexical()
    if name == "belebele":
        answerable = load_questions(SHARED / "belebele_it_en.questions.jsonl")
        random.Random(11).shuffle(answerable)
        questions = answerable[:600] + load_questions(REPO / "data/eval/no_answer.jsonl")
        halves = ["dev" if i % 2 == 0 else "test" for i in range(len(questions))]
    else:
        path = REPO / "data/eval" / f"{name}.jsonl"
        records = [r.id for r in parts.index.manifest.iter_records()]
        questions = resolve_ids(load_questions(path), records)
        halves = [q.split or "test" for q in questions]
    cases = []
    for q, half in zip(questions, halves, strict=True):
        lang = detect_query_language(q.question, default=q.lang or "en")
        found = engine.retrieve(q.question, lang, q.filters)
        ruled = found.refusal is not None and found.refusal.reason != "low_support"
        unknown = len(unknown_words(lexical, q.question, lang))
        cases.append(Case(bool(q.relevant_ids), half, lang, tuple(found.passages), unknown, ruled))
    parts.close()
    return cases


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--set", action="append", required=True, help="NAME=INDEX")
    ap.add_argument("--choose-on", default="belebele,news")
    ap.add_argument("--model", default="multilingual-e5-small")
    args = ap.parse_args()

    sets = {}
    for item in args.set:
        name, _, index = item.partition("=")
        print(f"asking the {name} questions…", file=sys.stderr)
        sets[name] = collect(name, Path(index), args.model)
    choose_on = [n for n in args.choose_on.split(",") if n in sets]
    dev = {n: [c for c in sets[n] if c.half == "dev"] for n in choose_on}

    best = None
    for allowance, penalty in itertools.product(ALLOWANCES, PENALTIES):
        scores = np.unique(np.round([score(c, allowance, penalty) for n in dev
                                     for c in dev[n]], 4))  # fmt: skip
        for t in scores:
            r = {n: rates(cases, allowance, penalty, float(t)) for n, cases in dev.items()}
            if any(v.get("refused_answerable", 0) > MAX_WRONG for v in r.values()):
                break  # higher thresholds only refuse more answerable questions
            gain = sum(v.get("refused_unanswerable", 0) for v in r.values())
            key = (gain, -penalty, -allowance)
            if best is None or key > best[0]:
                best = (key, float(t), allowance, penalty)
    assert best is not None
    _, threshold, allowance, penalty = best
    out: dict[str, object] = {
        "chosen_on_dev_of": choose_on,
        "chosen": {"threshold": threshold, "cross_lang_allowance": allowance,
                   "unknown_word_penalty": penalty},
        "sets": {},
    }  # fmt: skip
    for name, cases in sets.items():
        out["sets"][name] = {
            half: {
                "rules_only": rates([c for c in cases if c.half == half], 0, 0, -2.0),
                "with_threshold": rates(
                    [c for c in cases if c.half == half], allowance, penalty, threshold
                ),
            }
            for half in ("dev", "test")
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
