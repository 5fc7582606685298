"""Retrieval quality of each fusion method on one index, in one run.

    python bench/retrieval.py --index DIR [--questions FILE] [--configs dense,lexical,rrf,w0.1]

The index should hold the Belebele passages plus the FA-KES articles (bench/stories.py
--index DIR builds exactly that). Questions are split by passage into a dev half (even
passage numbers: used to choose settings) and a test half (odd: reported), so a setting is
never chosen on the questions it is reported on. Prints JSON: per config and split, the
metrics of rag/evaluate.py (mixed corpus, same-language and cross-language conditions).
Config names: dense, lexical, rrf, w<weight> (weighted fusion), each optionally suffixed
-nostory (no story expansion: pure cross-lingual retrieval under a language filter), then
optionally by -s<shift> (the language shift; without it, the model's own value; -s0: none).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))


def parse_config(name: str, language_shift: float = 0.0):
    from rag.retrieval import RetrievalConfig

    base = RetrievalConfig(language_shift=language_shift)
    core, _, shift = name.partition("-s")
    if shift:
        base = replace(base, language_shift=float(shift))
    expand = not core.endswith("-nostory")
    core = core.removesuffix("-nostory")
    if core in ("dense", "lexical", "rrf"):
        return replace(base, fusion=core, expand_stories=expand)
    if core.startswith("w"):
        return replace(
            base, fusion="weighted", lexical_weight=float(core[1:]), expand_stories=expand
        )
    raise SystemExit(f"unknown config {name!r}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--questions", type=Path, default=SHARED / "belebele_it_en.questions.jsonl")
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--quantize", default="none")
    ap.add_argument(
        "--configs", default="dense,lexical,rrf,w0.05,w0.1,w0.2,dense-nostory,w0.1-nostory"
    )
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()

    from app.compose import language_shift
    from rag.archive.index import ArchiveIndex
    from rag.config import Settings
    from rag.embedding import load_embedder
    from rag.evaluate import archive_maps, evaluate, load_questions
    from rag.retrieval import Retriever

    settings = Settings(index_dir=args.index, embedding_model=args.model, quantize=args.quantize)
    embedder = load_embedder(args.model, settings.models_dir, quantize=args.quantize)
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    index.lexical()
    questions = load_questions(args.questions)[: args.limit]
    t0 = time.perf_counter()
    vectors = dict(
        zip(
            [q.qid for q in questions],
            embedder.embed_queries([q.question for q in questions]),
            strict=True,
        )
    )
    embed_ms = (time.perf_counter() - t0) * 1000 / len(questions)
    story_of, lang_of = archive_maps(index.manifest.iter_records())

    def split(q) -> str:
        number = int(q.qid.split(":")[2]) if q.qid.count(":") >= 2 else hash(q.qid)
        return "dev" if number % 2 == 0 else "test"

    out = {"index": str(args.index), "model": embedder.label, "questions": len(questions),
           "query_embed_ms": round(embed_ms, 1), "configs": {}}  # fmt: skip
    shift = language_shift(settings, embedder)  # the model's, as the engine uses it
    for name in args.configs.split(","):
        retriever = Retriever(index, embedder, parse_config(name, shift))

        def search(q, filters, retriever=retriever):
            lang = q.lang or "en"
            hits = retriever.search(
                q.question, lang=lang, k=10, filters=filters, query_vector=vectors[q.qid]
            )
            return [h.article_id for h in hits]

        t1 = time.perf_counter()
        res = {}
        for part in ("dev", "test"):
            subset = [q for q in questions if split(q) == part]
            res[part] = evaluate(subset, search=search, story_of=story_of, lang_of=lang_of)
        res["seconds"] = round(time.perf_counter() - t1, 1)
        out["configs"][name] = res
        brief = {}
        for p in ("dev", "test"):
            rel = res[p]["by_relevance"]
            brief[p] = {
                "recall@1": res[p].get("recall@1"),
                "recall@5": res[p].get("recall@5"),
                "cross@5": rel.get("cross_lang", {}).get("recall@5"),
                "same@1": rel.get("same_lang", {}).get("recall@1"),
            }
        print(name, json.dumps(brief), file=sys.stderr)
    index.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
