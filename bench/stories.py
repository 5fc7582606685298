"""Story linking measured on Belebele: are an Italian passage and its English translation
linked under one story_id, and nothing else?

    python bench/stories.py [--index DIR] [--no-distractors] [--thresholds 0.86,0.88,...]

Ingests the 976 Belebele passages (488 it/en pairs, ``pair_id`` is the truth) plus, unless
``--no-distractors``, the 792 English FA-KES articles, which can only cause false links. Then
re-links the whole index with the real StoryLinker at each threshold and prints precision and
recall of the linked cross-language pairs as JSON. ``--index`` keeps the index for reuse.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))


def gold_pairs() -> set[frozenset[str]]:
    by_pair: dict[str, list[str]] = defaultdict(list)
    for line in (SHARED / "belebele_it_en.passages.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        by_pair[row["pair_id"]].append(row["id"])
    return {frozenset(ids) for ids in by_pair.values() if len(ids) == 2}


def _unpaired_lines() -> list[str]:
    lines = (SHARED / "belebele_it_en.passages.jsonl").read_text("utf-8").splitlines(True)
    rows = [json.loads(line) for line in lines]
    pair_ids = sorted({r["pair_id"] for r in rows})
    first_half = set(pair_ids[: len(pair_ids) // 2])
    return [
        line
        for line, r in zip(lines, rows, strict=True)
        if (r["lang"] == "it") == (r["pair_id"] in first_half)
    ]


def predicted_pairs(manifest) -> set[frozenset[str]]:
    stories: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in manifest.iter_records():
        stories[r.story_id or r.id].append((r.id, r.lang))
    pairs = set()
    for members in stories.values():
        for (a, la), (b, lb) in itertools.combinations(members, 2):
            if la != lb:
                pairs.add(frozenset((a, b)))
    return pairs


def score(pred: set[frozenset[str]], gold: set[frozenset[str]]) -> dict[str, float | int]:
    hit = len(pred & gold)
    return {
        "links": len(pred),
        "correct": hit,
        "precision": round(hit / len(pred), 4) if pred else 1.0,
        "recall": round(hit / len(gold), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--index", type=Path)
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--no-distractors", action="store_true")
    ap.add_argument(
        "--unpaired",
        action="store_true",
        help="ingest Italian passages of the first half of the pairs and English ones of the "
        "second half: no translation is present, so every link is a false link",
    )
    ap.add_argument("--thresholds", default="0.84,0.86,0.88,0.90,0.92")
    args = ap.parse_args()

    from ingest.stories import StoryLinker
    from ingest.sync import Ingestor
    from rag.archive.index import ArchiveIndex
    from rag.config import Settings
    from rag.embedding import load_embedder

    tmp = None
    if args.index is None:
        tmp = tempfile.TemporaryDirectory(prefix="newsrag-stories-")
        args.index = Path(tmp.name) / "index"
    settings = Settings(index_dir=args.index, embedding_model=args.model)
    embedder = load_embedder(args.model, settings.models_dir)
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    ingestor = Ingestor(
        index, embedder, chunk_tokens=settings.chunk_tokens, chunk_overlap=settings.chunk_overlap
    )
    t0 = time.perf_counter()
    passages = SHARED / "belebele_it_en.passages.jsonl"
    if args.unpaired:
        passages = args.index.parent / "unpaired.jsonl"
        passages.write_text("".join(_unpaired_lines()), encoding="utf-8")
    ingestor.run([passages], max_bytes=1 << 30)
    if not args.no_distractors:
        ingestor.run(
            [SHARED / "fakes_syria_en.csv"],
            max_bytes=1 << 30,
            field_map={"id": "unit_id", "title": "article_title", "text": "article_content"},
        )
    ingest_seconds = time.perf_counter() - t0

    gold = gold_pairs()
    default = StoryLinker()
    result: dict = {
        "model": args.model,
        "articles": index.manifest.count(),
        "gold_pairs": len(gold),
        "distractors": not args.no_distractors,
        "ingest_seconds": round(ingest_seconds, 1),
        "at_ingest": {
            "threshold": default.threshold,
            **score(predicted_pairs(index.manifest), gold),
        },
        "sweep": [],
    }
    ids = [r.id for r in index.manifest.iter_records()]
    for t in (float(x) for x in args.thresholds.split(",")):
        for article_id in ids:  # forget every link, then link everything again
            index.manifest.set_story([article_id], article_id)
        t1 = time.perf_counter()
        StoryLinker(threshold=t).link(index.store, index.manifest, ids)
        result["sweep"].append(
            {
                "threshold": t,
                **score(predicted_pairs(index.manifest), gold),
                "seconds": round(time.perf_counter() - t1, 1),
            }
        )
    index.close()
    print(json.dumps(result, indent=2))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
