"""Calibrate the refusal threshold: answerable Belebele questions vs questions nobody answers.

    python bench/refusal.py --index DIR [--model multilingual-e5-small] [--answerable N]

The index should hold the Belebele passages plus the FA-KES articles (bench/stories.py
--index DIR builds it). For every question the engine's own search (hybrid, filters, time
intent) runs once and the best passage's dense similarity is kept; the engine refuses below
the threshold. Questions are split in halves (even/odd line): the threshold is chosen on the
dev half — the lowest one that refuses >= 90% of the unanswerable questions, unless that
wrongly refuses more than 5% of the answerable ones, then the highest that keeps that
limit — and both rates are reported on the test half. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rates(answerable: list[float], unanswerable: list[float], t: float) -> dict[str, float]:
    return {
        "threshold": round(t, 3),
        "refusal_rate": round(sum(s < t for s in unanswerable) / len(unanswerable), 4),
        "wrong_refusal_rate": round(sum(s < t for s in answerable) / len(answerable), 4),
    }


def choose(answerable: list[float], unanswerable: list[float]) -> float:
    grid = [round(0.30 + i * 0.0025, 4) for i in range(281)]  # 0.30 .. 1.00 (models differ)
    ok = [t for t in grid if rates(answerable, unanswerable, t)["wrong_refusal_rate"] <= 0.05]
    enough = [t for t in ok if rates(answerable, unanswerable, t)["refusal_rate"] >= 0.90]
    return min(enough) if enough else max(ok)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--answerable", type=int, default=600)
    ap.add_argument("--unanswerable", type=Path, default=REPO / "data/eval/no_answer.jsonl")
    args = ap.parse_args()

    from rag.config import Settings
    from rag.evaluate import load_questions
    from ui.compose import engine_parts

    parts = engine_parts(Settings(index_dir=args.index, embedding_model=args.model))
    engine = parts.engine
    answerable = load_questions(SHARED / "belebele_it_en.questions.jsonl")
    random.Random(11).shuffle(answerable)
    answerable = answerable[: args.answerable]
    unanswerable = load_questions(args.unanswerable)

    def best(q) -> float:
        hits = engine.search(q.question, k=engine.passages, filters=q.filters, lang=q.lang)
        return max((h.dense for h in hits if h.dense is not None), default=-1.0)

    scores = {q.qid: best(q) for q in [*answerable, *unanswerable]}
    out: dict[str, object] = {"model": parts.embedder.label, "index": str(args.index)}
    halves = {}
    for part, keep in (("dev", 0), ("test", 1)):
        a = [scores[q.qid] for i, q in enumerate(answerable) if i % 2 == keep]
        u = [scores[q.qid] for i, q in enumerate(unanswerable) if i % 2 == keep]
        halves[part] = (a, u)
    threshold = choose(*halves["dev"])
    out["threshold"] = threshold
    out["dev"] = rates(*halves["dev"], threshold)
    out["test"] = rates(*halves["test"], threshold)
    a_all, u_all = (halves["dev"][0] + halves["test"][0], halves["dev"][1] + halves["test"][1])
    out["all"] = rates(a_all, u_all, threshold)
    out["sweep_all"] = [rates(a_all, u_all, threshold + d / 100) for d in range(-4, 5)]
    out["answerable_scores"] = {"min": min(a_all), "p05": sorted(a_all)[len(a_all) // 20]}
    out["unanswerable_scores"] = {"max": max(u_all), "p90": sorted(u_all)[9 * len(u_all) // 10]}
    parts.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
