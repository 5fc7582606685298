"""The Italian/English direction of an embedding model, measured on translated news.

    python bench/language_direction.py [--model multilingual-e5-small] [--write]

The direction is the difference of the mean vectors of the Italian and the English versions
of the same articles: what is left is the language, not the topic (rag/retrieval.py moves a
question along it to search the other language). It is a property of the model, so it ships
with the model (rag/data/language/<model>.json) and works in an archive that holds no
translations at all, the case of an article that exists in one language only.

Measured here on MEANTIME (60 English Wikinews articles and their Italian translations) and,
to see that it is the model's and not the corpus's, again on the Belebele pairs: the cosine
between the two directions is printed. Articles are embedded as newsrag stores them: chunked,
each chunk with its title header and the model's document prompt, the chunk vectors averaged
(ingest.stories.article_vector). ``--write`` saves the MEANTIME centroids for the model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def centroids(path: Path, embedder) -> tuple[dict[str, np.ndarray], int]:
    from ingest.chunking import chunk_article
    from ingest.stories import article_vector

    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    langs_of_pair: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        langs_of_pair[r["pair_id"]].add(r["lang"])
    rows = [r for r in rows if langs_of_pair[r["pair_id"]] >= {"it", "en"}]
    by_lang: dict[str, list[np.ndarray]] = defaultdict(list)
    for r in rows:
        chunks = chunk_article(
            r["id"], r["text"], title=r.get("title", ""), lang=r["lang"],
            count_tokens=embedder.count_tokens, max_tokens=200, overlap=40,
        )  # fmt: skip
        vectors = embedder.embed_documents([c.embed_text for c in chunks])
        by_lang[r["lang"]].append(article_vector(vectors, [len(c.text) for c in chunks]))
    return {lang: np.mean(vs, axis=0) for lang, vs in by_lang.items()}, len(rows) // 2


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()

    from app.compose import embedder_for
    from rag.config import Settings
    from rag.models import LANGUAGE_DIR

    embedder = embedder_for(Settings(embedding_model=args.model))
    meantime, n_meantime = centroids(SHARED / "meantime_it_en.passages.jsonl", embedder)
    belebele, n_belebele = centroids(SHARED / "belebele_it_en.passages.jsonl", embedder)
    d1, d2 = meantime["it"] - meantime["en"], belebele["it"] - belebele["en"]
    cos = float(d1 @ d2 / np.linalg.norm(d1) / np.linalg.norm(d2))
    out = {
        "model": embedder.label,
        "pairs": {"meantime": n_meantime, "belebele": n_belebele},
        "cosine_meantime_vs_belebele_direction": round(cos, 4),
        "norm": {"meantime": round(float(np.linalg.norm(d1)), 4),
                 "belebele": round(float(np.linalg.norm(d2)), 4)},
    }  # fmt: skip
    if args.write:
        LANGUAGE_DIR.mkdir(parents=True, exist_ok=True)
        target = LANGUAGE_DIR / f"{args.model}.json"
        target.write_text(
            json.dumps(
                {
                    "model": embedder.label,
                    "measured_on": f"MEANTIME it/en news translations ({n_meantime} pairs), "
                    "by bench/language_direction.py",
                    "centroids": {
                        lang: [round(float(x), 6) for x in v] for lang, v in meantime.items()
                    },
                }
            )
            + "\n",
            encoding="utf-8",
        )
        out["written"] = str(target.relative_to(REPO))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
