"""Ingest benchmark: newsrag against the LangChain tutorial recipe, same model, same files.

    python bench/ingest.py [--limit N] [--model multilingual-e5-small]

Prints one JSON object. Each phase runs in a fresh process so its peak memory is its own:
  ours       newsrag ingest of the FA-KES CSV + Belebele passages into a new index
  rerun      the same ingest again, input unchanged
  tutorial   RecursiveCharacterTextSplitter(1000, 200) + HuggingFaceEmbeddings + Chroma
  fp32       (when ours ran with bf16 matrix products, NEWSRAG_EMBED_PRECISION=auto on a CPU
             with AMX) the same ingest in fp32, the baseline of the same run, and the cosine
             of every chunk's stored vector between the two indexes
Chunks differ in size between the two recipes, so speed is compared per token embedded
(the model's own tokens), i.e. per chunk of equal size. On a GPU machine,
``NEWSRAG_DEVICE=cuda`` puts our phases on the GPU (sentence-transformers, which the tutorial
uses, takes the GPU by itself when there is one).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FAKES_MAP = {"id": "unit_id", "title": "article_title", "text": "article_content"}
sys.path.insert(0, str(REPO))


def _files() -> list[tuple[Path, dict[str, str]]]:
    return [
        (SHARED / "fakes_syria_en.csv", FAKES_MAP),
        (SHARED / "belebele_it_en.passages.jsonl", {}),
    ]


def _articles(limit: int | None):
    from ingest.sources import read_file
    from rag.types import Article

    out = []
    for path, mapping in _files():
        got = [
            a
            for a in read_file(path, field_map=mapping, max_bytes=1 << 30)
            if isinstance(a, Article)
        ]
        out.extend(got[:limit] if limit else got)
    return out


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_ours(
    index_dir: Path, model: str, limit: int | None, quantize: str, runtime: str = "auto",
    precision: str = "auto",
) -> dict:  # fmt: skip
    from app.compose import ingest_parts
    from rag.config import Settings

    settings = Settings(
        index_dir=index_dir, embedding_model=model, quantize=quantize, embedding_runtime=runtime,
        embed_precision=precision,
    )  # fmt: skip
    parts = ingest_parts(settings)
    index, ingestor, embedder = parts.index, parts.ingestor, parts.embedder
    if limit:  # a subset: feed the same articles the tutorial phase sees, as a JSONL file
        subset = index_dir.parent / "subset.jsonl"
        with subset.open("w", encoding="utf-8") as f:
            for a in _articles(limit):
                f.write(
                    json.dumps(
                        {
                            "id": a.id,
                            "title": a.title,
                            "text": a.text,
                            "lang": a.lang,
                            "date": a.date,
                            "source": a.source,
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
        runs = [(subset, {})]
    else:
        runs = _files()
    t0 = time.perf_counter()
    totals = {"articles": 0, "chunks": 0, "embed_seconds": 0.0, "problems": 0}
    for path, mapping in runs:
        r = ingestor.run([path], field_map=mapping, max_bytes=1 << 30)
        totals["articles"] += r.articles_seen
        totals["chunks"] += r.chunks_written
        totals["embed_seconds"] += r.embed_seconds
        totals["problems"] += len(r.problems)
    wall = time.perf_counter() - t0
    texts = index.store.chunks.get(include=["documents"])["documents"]
    tokens = sum(embedder.count_tokens(texts))
    index.close()
    runtime = precision = "not loaded"  # an unchanged re-run never loads the model
    if getattr(embedder, "loaded", True):
        loaded = embedder.model() if hasattr(embedder, "model") else embedder
        runtime = type(loaded).__name__
        precision = getattr(loaded, "precision", "fp32")
    return {**totals, "tokens": tokens, "wall_seconds": wall, "peak_mb": _peak_mb(),
            "runtime": runtime, "precision": precision}  # fmt: skip


def stored_cosines(a: Path, b: Path) -> dict:
    """The cosine of each chunk's vector in index ``a`` to the same chunk's in index ``b``."""
    import chromadb
    import numpy as np

    def vectors(index_dir: Path) -> dict[str, np.ndarray]:
        client = chromadb.PersistentClient(path=str(index_dir / "chroma"))
        col = next(c for c in client.list_collections() if c.name.endswith("-chunks"))
        got = col.get(include=["embeddings"])
        return dict(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32), strict=True))

    va, vb = vectors(a), vectors(b)
    shared = sorted(va.keys() & vb.keys())
    cos = np.array([float(va[i] @ vb[i]) for i in shared])
    return {"chunks": len(shared), "only_in_one": len(va.keys() ^ vb.keys()),
            "min": round(float(cos.min()), 7), "mean": round(float(cos.mean()), 7)}  # fmt: skip


def phase_tutorial(
    persist: Path, model: str, limit: int | None, quantize: str, runtime: str = "auto"
) -> dict:
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.config import Settings
    from rag.models import resolve

    resolved = resolve(model, Settings().models_dir)
    docs = [Document(page_content=a.text, metadata={"id": a.id}) for a in _articles(limit)]
    embeddings = HuggingFaceEmbeddings(
        model_name=resolved.name_or_path, encode_kwargs={"normalize_embeddings": True}
    )
    # timed like ours: from the loaded model to the stored vectors
    t0 = time.perf_counter()
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        docs
    )
    Chroma.from_documents(splits, embeddings, persist_directory=str(persist))
    wall = time.perf_counter() - t0
    tokenizer = embeddings._client.tokenizer
    tokens = sum(
        len(x)
        for x in tokenizer([d.page_content for d in splits], add_special_tokens=False)["input_ids"]
    )
    return {
        "articles": len(docs),
        "chunks": len(splits),
        "tokens": tokens,
        "wall_seconds": wall,
        "peak_mb": _peak_mb(),
    }


def run_phase(
    name: str, workdir: Path, model: str, limit: int | None, quantize: str, runtime: str = "auto",
    precision: str = "auto",
) -> dict:  # fmt: skip
    cmd = [sys.executable, __file__, "--phase", name, "--workdir", str(workdir), "--model", model]
    cmd += ["--quantize", quantize, "--runtime", runtime, "--precision", precision]
    if limit:
        cmd += ["--limit", str(limit)]
    env = {
        **os.environ,
        "ANONYMIZED_TELEMETRY": "False",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--limit", type=int, help="articles per file (quick runs)")
    ap.add_argument("--quantize", choices=["none", "int8"], default="none")
    ap.add_argument("--runtime", choices=["auto", "onnx", "torch"], default="auto",
                    help="the embedding model's runtime for our phases")  # fmt: skip
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                    help="matrix products of our ingest (NEWSRAG_EMBED_PRECISION)")  # fmt: skip
    ap.add_argument("--phase", choices=["ours", "fp32", "tutorial"], help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase == "tutorial":
        target = args.workdir / "tutorial"
        print(json.dumps(phase_tutorial(target, args.model, args.limit, args.quantize)))
        return
    if args.phase:  # ours, or ours in fp32 into an index of its own
        target = args.workdir / ("index" if args.phase == "ours" else "index_fp32")
        precision = "fp32" if args.phase == "fp32" else args.precision
        got = phase_ours(target, args.model, args.limit, args.quantize, args.runtime, precision)
        print(json.dumps(got))
        return

    fp32 = None
    with tempfile.TemporaryDirectory(prefix="newsrag-bench-") as tmp:
        work = Path(tmp)
        opts = (args.model, args.limit, args.quantize, args.runtime, args.precision)
        ours = run_phase("ours", work, *opts)
        rerun = run_phase("ours", work, *opts)
        tutorial = run_phase("tutorial", work, *opts)
        if ours["precision"] == "bf16":  # its baseline in the same run: the same ingest in fp32
            fp32 = run_phase("fp32", work, *opts)
            fp32["tokens_per_s"] = fp32["tokens"] / fp32["wall_seconds"]
            fp32["stored_vectors_cosine_to_bf16"] = stored_cosines(
                work / "index_fp32", work / "index"
            )

    def tok_rate(r: dict) -> float:
        return r["tokens"] / r["wall_seconds"]

    result = {
        "model": args.model,
        "quantize": args.quantize,
        "cpu_count": os.cpu_count(),
        "articles": ours["articles"],
        "ours": {
            **ours,
            "chunks_per_s": ours["chunks"] / ours["wall_seconds"],
            "tokens_per_s": tok_rate(ours),
        },
        "rerun_unchanged": {
            "wall_seconds": rerun["wall_seconds"],
            "chunks": rerun["chunks"],
            "peak_mb": rerun["peak_mb"],
        },
        "tutorial": {
            **tutorial,
            "chunks_per_s": tutorial["chunks"] / tutorial["wall_seconds"],
            "tokens_per_s": tok_rate(tutorial),
        },
        "speedup_per_token_vs_tutorial": tok_rate(ours) / tok_rate(tutorial),
        "rerun_speedup": ours["wall_seconds"] / rerun["wall_seconds"],
        "targets": {
            "speedup_per_token_vs_tutorial": ">= 1.5",
            "rerun_speedup": ">= 20",
            "stored_vectors_cosine_to_fp32": ">= 0.9999",
        },
    }
    if fp32 is not None:
        result["ours_fp32"] = fp32
        result["fp32_speedup_per_token_vs_tutorial"] = tok_rate(fp32) / tok_rate(tutorial)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
