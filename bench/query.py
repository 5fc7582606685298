"""Query benchmark: newsrag's search and extractive ask against the tutorial recipe and BM25.

    python bench/query.py [--workdir DIR] [--questions N] [--requests N] [--clients 8]

One index of the Belebele passages (Italian and English) plus the FA-KES articles twice (the
JSONL and the CSV export under their own ids, as a messy archive holds duplicates): more than
5,000 chunks. In the same run, on the same model and files:
  newsrag    hybrid search (dense + BM25, one result per story), and `ask` with the extractive
             answerer: the whole pipeline from the question string to the cited Turn, with
             the answer judge (rag/answer/judge) and without it
  dense      our dense side alone (the model's query/document prompts, no BM25)
  bm25       our BM25 index alone
  tutorial   the LangChain tutorial recipe: RecursiveCharacterTextSplitter(1000, 200) +
             HuggingFaceEmbeddings (no prompts) + Chroma similarity_search top-k
Quality: recall@1/@5 on the Belebele questions (mixed corpus; same-language; cross-language,
i.e. the question's passage only in the other language, searched under a language filter).
Speed: p50/p95 latency from the question string (query embedding included), one client and
``--clients`` concurrent threads; peak memory. Prints one JSON object. ``--workdir`` keeps
both indexes for reruns (building them takes a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FILES = [
    (SHARED / "belebele_it_en.passages.jsonl", {}),
    (SHARED / "fakes_syria_en.passages.jsonl", {}),
    (SHARED / "fakes_syria_en.csv", {"id": "unit_id", "title": "article_title",
                                     "text": "article_content"}),
]  # fmt: skip


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(ms: Sequence[float]) -> dict[str, float]:
    s = sorted(ms)
    return {
        "p50_ms": round(statistics.median(s), 1),
        "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))], 1),
        "mean_ms": round(statistics.fmean(s), 1),
    }


def timed(fn: Callable[[Any], Any], items: Sequence[Any], clients: int) -> dict[str, float]:
    """Latency of ``fn`` over ``items`` from ``clients`` threads at once, and throughput."""

    def one(item: Any) -> float:
        t = time.perf_counter()
        fn(item)
        return (time.perf_counter() - t) * 1000

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        ms = list(pool.map(one, items))
    wall = time.perf_counter() - t0
    return {**percentiles(ms), "per_s": round(len(items) / wall, 1)}


def interleaved(
    fns: dict[str, Callable[[Any], Any]], items: Sequence[Any]
) -> tuple[dict[str, dict[str, float]], dict[str, list[dict[str, float]]]]:
    """One client's latency of each of ``fns`` over the same ``items``, taking turns: each
    item is asked of every method in turn (the order rotating), so a machine that slows
    down for a while slows them all alike. Two runs of the same search minutes apart on
    this 2-core machine differed by 45% in p50, more than the gaps being measured. Returns
    the latencies and each call's stages (rag/stages.py), by method."""
    from rag.stages import collect

    names = list(fns)
    ms: dict[str, list[float]] = {n: [] for n in names}
    laps: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for i, item in enumerate(items):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t = time.perf_counter()
            with collect() as lap:
                fns[name](item)
            ms[name].append((time.perf_counter() - t) * 1000)
            laps[name].append(lap)
    return {n: percentiles(ms[n]) for n in names}, laps


# --- the two indexes ---------------------------------------------------------------------
def build_ours(index_dir: Path, model: str) -> dict[str, Any]:
    from app.compose import ingest_parts
    from rag.config import Settings

    parts = ingest_parts(Settings(index_dir=index_dir, embedding_model=model))
    t0 = time.perf_counter()
    for path, mapping in FILES:
        parts.ingestor.run([path], field_map=mapping, max_bytes=1 << 30)
    seconds = time.perf_counter() - t0
    stats = parts.index.manifest.count(), parts.index.store.chunks.count()
    parts.index.close()
    return {"articles": stats[0], "chunks": stats[1], "build_seconds": round(seconds, 1)}


def tutorial_store(persist: Path, model: str):
    """The LangChain tutorial recipe; built on first use, reused from ``persist`` after."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ingest.sources import read_file
    from rag.config import Settings
    from rag.models import resolve
    from rag.types import Article

    embeddings = HuggingFaceEmbeddings(
        model_name=resolve(model, Settings().models_dir).name_or_path,
        encode_kwargs={"normalize_embeddings": True},
    )
    if (persist / "chroma.sqlite3").exists():
        return Chroma(persist_directory=str(persist), embedding_function=embeddings)
    docs = [
        Document(page_content=a.text, metadata={"article_id": a.id, "lang": a.lang or "en"})
        for path, mapping in FILES
        for a in read_file(path, field_map=mapping, max_bytes=1 << 30)
        if isinstance(a, Article)
    ]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        docs
    )
    return Chroma.from_documents(splits, embeddings, persist_directory=str(persist))


def engine_memory(index_dir: Path, model: str, runtime: str, questions: list[str]) -> dict:
    """The engine's own peak memory, in a fresh process (this one also holds the tutorial's
    torch model): loaded, warmed, and after answering ``questions``."""
    import subprocess

    code = (
        "import json, sys\n"
        "def hwm():  # VmHWM: ru_maxrss of a child started by fork holds the parent's peak\n"
        "    line = next(x for x in open('/proc/self/status') if x.startswith('VmHWM'))\n"
        "    return round(int(line.split()[1]) / 1024)\n"
        "from app.compose import engine_parts\n"
        "from rag.config import Settings\n"
        "a = json.loads(sys.argv[1])\n"
        "parts = engine_parts(Settings(index_dir=a['index'], embedding_model=a['model'],"
        " embedding_runtime=a['runtime']))\n"
        "parts.engine.warm_up()\n"
        "loaded = hwm()\n"
        "for q in a['questions']: parts.engine.ask(q)\n"
        "print(json.dumps({'loaded_peak_mb': loaded, 'after_asking_peak_mb': hwm(),"
        " 'torch_imported': 'torch' in sys.modules, 'asked': len(a['questions'])}))\n"
    )
    args = {"index": str(index_dir), "model": model, "runtime": runtime, "questions": questions}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True,
        check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --- the run -----------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/newsrag-bench-query"))
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--questions", type=int, default=600, help="Belebele questions for quality")
    ap.add_argument("--requests", type=int, default=120, help="questions per latency run")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--skip-quality", action="store_true", help="speed only")
    ap.add_argument(
        "--runtime",
        choices=["auto", "onnx", "torch"],
        default="auto",
        help="the embedding model's runtime (rag/onnx_embedder.py)",
    )
    args = ap.parse_args()

    from app.compose import engine_parts
    from rag.config import Settings
    from rag.evaluate import archive_maps, evaluate, load_questions
    from rag.retrieval import RetrievalConfig, Retriever
    from rag.types import Filters

    out: dict[str, Any] = {"model": args.model, "cpu_count": os.cpu_count()}
    index_dir = args.workdir / "index"
    if not (index_dir / "manifest.sqlite").exists():
        print("building the newsrag index…", file=sys.stderr)
        out["built"] = build_ours(index_dir, args.model)
    print("building/opening the tutorial index…", file=sys.stderr)
    tutorial = tutorial_store(args.workdir / "tutorial", args.model)
    out["tutorial_chunks"] = tutorial._collection.count()

    settings = Settings(
        index_dir=index_dir, embedding_model=args.model, embedding_runtime=args.runtime
    )
    rss_before = peak_mb()
    parts = engine_parts(settings)
    engine, index, embedder = parts.engine, parts.index, parts.embedder
    engine.warm_up()
    loaded = embedder.model() if hasattr(embedder, "model") else embedder
    out["embedding_runtime"] = type(loaded).__name__
    out["index"] = {"articles": index.manifest.count(), "chunks": index.store.chunks.count()}
    out["engine_loaded_peak_mb"] = round(peak_mb(), 0)
    out["engine_load_mb"] = round(peak_mb() - rss_before, 0)

    # quality ------------------------------------------------------------------------------
    everything = load_questions(SHARED / "belebele_it_en.questions.jsonl")
    random.Random(7).shuffle(everything)
    questions = everything[: args.questions]
    # speed runs ask questions never asked before in this process (no cached query vector)
    unseen = [q.question for q in everything[args.questions :]]
    n = args.requests
    if len(unseen) < 6 * n:
        raise SystemExit(f"--requests {n} needs {6 * n} unseen questions; lower it")
    slices = [unseen[i * n : (i + 1) * n] for i in range(6)]
    story_of, lang_of = archive_maps(index.manifest.iter_records())

    shift = engine.retriever.config.language_shift  # the model's, as the engine uses it

    def ours(fusion: str) -> Callable:
        config = RetrievalConfig(fusion=fusion, language_shift=shift)  # type: ignore[arg-type]
        retriever = Retriever(index, embedder, config)

        def search(q, filters: Filters) -> list[str]:
            hits = retriever.search(q.question, lang=q.lang or "en", k=10, filters=filters)
            return [h.article_id for h in hits]

        return search

    def tutorial_search(q, filters: Filters) -> list[str]:
        where = {"lang": filters.lang} if filters.lang else None
        docs = tutorial.similarity_search(q.question, k=10, filter=where)
        return [d.metadata["article_id"] for d in docs]

    def newsrag_search(q, filters: Filters) -> list[str]:
        return [h.article_id for h in engine.search(q.question, k=10, filters=filters)]

    methods = {
        "newsrag": newsrag_search,
        "dense": ours("dense"),
        "bm25": ours("lexical"),
        "tutorial": tutorial_search,
    }
    quality: dict[str, Any] = {}
    for name, fn in methods.items() if not args.skip_quality else ():
        t0 = time.perf_counter()
        r = evaluate(questions, search=fn, story_of=story_of, lang_of=lang_of)
        rel = r["by_relevance"]
        quality[name] = {
            "recall@1": r["recall@1"], "recall@5": r["recall@5"], "mrr@10": r["mrr@10"],
            "same_lang_recall@1": rel["same_lang"]["recall@1"],
            "cross_lang_recall@5": rel["cross_lang"]["recall@5"],
            "seconds": round(time.perf_counter() - t0, 1),
        }  # fmt: skip
        print(name, json.dumps(quality[name]), file=sys.stderr)
    out["quality"] = {"questions": len(questions), **quality}

    # speed --------------------------------------------------------------------------------
    out["answer_judge"] = engine.judge_state[0]
    plain = engine_parts(settings.model_copy(update={"judge": "off"}))
    plain.engine.warm_up()
    bm25 = Retriever(index, embedder, RetrievalConfig(fusion="lexical", language_shift=shift))
    # (name, call, one client's questions, the concurrent run's); the methods of a group are
    # timed taking turns on the same questions (``interleaved``), one client at a time. The
    # BM25 side shares the engine's embedder, whose cache would hand either one the other's
    # question vector: it is timed alone, on questions of its own
    runs: list[tuple[str, Callable[[str], Any], list[str], list[str]]] = [
        ("newsrag_search", lambda q: engine.search(q, k=10), slices[0], slices[1]),
        ("tutorial_search", lambda q: tutorial.similarity_search(q, k=10), slices[0], slices[1]),
        ("newsrag_ask_extractive", lambda q: engine.ask(q), slices[2], slices[3]),
        # the same questions, the answer judge off (its own engine: nothing cached between)
        ("newsrag_ask_without_judge", lambda q: plain.engine.ask(q), slices[2], slices[3]),
        ("bm25_search", lambda q: bm25.search(q, lang="en", k=10), slices[4], slices[5]),
    ]
    speed: dict[str, Any] = {}
    for group in (runs[:2], runs[2:4], runs[4:]):
        single, laps = interleaved({name: fn for name, fn, _, _ in group}, group[0][2])
        for name, fn, _, concurrent in group:
            speed[name] = {
                "single": single[name],
                f"concurrent_{args.clients}": timed(fn, concurrent, args.clients),
            }
            if any(laps[name]):  # where one client's time goes: p50 of each stage, in ms
                stages = dict.fromkeys(k for lap in laps[name] for k in lap)
                speed[name]["stages_p50_ms"] = {
                    k: round(statistics.median(lap.get(k, 0.0) for lap in laps[name]), 1)
                    for k in stages
                }
            print(name, json.dumps(speed[name]), file=sys.stderr)
    out["speed"] = {"requests": n, **speed}
    out["peak_mb"] = round(peak_mb(), 0)  # this process: the engine and the tutorial
    out["engine_memory"] = engine_memory(index_dir, args.model, args.runtime, slices[2][:40])
    out["targets"] = {
        "cross_lang_recall@5": ">= 0.95", "same_lang_recall@1": ">= 0.90",
        "search_p50_ms": "<= 150", "ask_p50_ms": "<= 400",
    }  # fmt: skip
    plain.close()
    parts.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
