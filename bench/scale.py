"""Scale benchmark: a 20-article sync into archives of 10k, 50k and 200k chunks while serving.

    python bench/scale.py [--sizes 10000,50000,200000] [--sync 20] [--questions 200]
                          [--cache DIR] [--work DIR]

Each archive is made of the real texts in ../shared/data (FA-KES, Belebele, MEANTIME: about
3,700 chunks), chunked with the real chunker, replicated under new article ids until it holds
the size asked for. Their embeddings are computed ONCE with multilingual-e5-small and reused for
the copies (each copy's vector is the original's plus a little noise, cosine > 0.999, so HNSW
does not see exact duplicates): the bench measures the index, not the encoder. They are cached
in --cache (data/scale-bench.index/, git-ignored), so only the first run pays the encoding.

For each size, in a process of its own (so peak memory is that size's), it builds the archive,
starts what a serving process runs (app.services.Services over the real engine: the background
refresher, the admin write path without HTTP), then syncs 20 real articles held out of the
archive (embedded by the real model: that cost is in the sync) and reports:

  sync_s                 the write through the server, lexical refresh included, until it returns
  answerable_s           from the sync's start until a search finds every new article (a reader
                         thread searches each one's opening words every 50 ms)
  refresh_s              the lexical refresh alone (what grows with the change, not the archive)
  search_ms_before/after p50/p95 of Retriever.search on Belebele questions (query vectors
                         computed once: no encoder in the figure)
  peak_rss_mb            of the serving process, before the baselines below run
  baselines (same run):  full_build_s = our lexical index built from scratch at this size;
                         old_rebuild_s = what every ingest cost before segments (the whole
                         BM25 index rebuilt with bm25s from the manifest)
  same_top10             share of the questions whose lexical top 10 equals that of an index
                         built from scratch (the same scores, each chunk scoring the same in
                         both; copies tie, so ids alone may swap): retrieval quality unchanged

Progress goes to stderr, one JSON object to stdout. Loopback/in-process only; bounded by the
sizes asked for (200k takes several minutes, mostly Chroma's HNSW inserts).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SOURCES = ("fakes_syria_en.passages.jsonl", "belebele_it_en.passages.jsonl",
           "meantime_it_en.passages.jsonl")  # fmt: skip
MODEL = "multilingual-e5-small"
NOISE = 0.02  # per-copy noise on the unit vectors: cosine to the original > 0.999


def log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


# --- the base: real articles, chunked and embedded once -----------------------------------------
def base(cache: Path, sync: int) -> dict[str, Any]:
    """The real articles with their chunks and vectors (cached), and the held-out ones."""
    import numpy as np

    meta_path, vectors_path = cache / "base.json", cache / "base.npz"
    if meta_path.exists() and vectors_path.exists():
        meta = json.loads(meta_path.read_text("utf-8"))
        with np.load(vectors_path) as z:
            meta["vectors"], meta["queries"] = z["chunks"], z["queries"]
        if meta.get("sync") == sync:
            return meta
    from app.compose import embedder_for
    from ingest.chunking import chunk_article
    from rag.config import Settings

    settings = Settings(embedding_model=MODEL)
    embedder = embedder_for(settings)
    rows = [json.loads(line) for name in SOURCES for line in (SHARED / name).open()]
    rng = random.Random(5)
    english = [r for r in rows if r["id"].startswith("fakes:")]
    held = rng.sample(english, sync)  # the sync's new articles: never in the archive
    held_ids = {r["id"] for r in held}
    articles, texts = [], []
    for r in rows:
        if r["id"] in held_ids:
            continue
        chunks = chunk_article(
            r["id"], r["text"], title=r.get("title") or "", lang=r["lang"],
            count_tokens=embedder.count_tokens, max_tokens=settings.chunk_tokens,
            overlap=settings.chunk_overlap,
        )  # fmt: skip
        articles.append({
            "id": r["id"], "title": r.get("title") or "", "text": r["text"], "lang": r["lang"],
            "date": r.get("date"), "source": r.get("source"), "url": r.get("url"),
            "pair": r.get("pair_id"), "spans": [[c.start, c.end] for c in chunks],
        })  # fmt: skip
        texts += [c.embed_text for c in chunks]
    log(f"embedding {len(texts)} chunks once with {MODEL} (cached in {cache})")
    t0 = time.perf_counter()
    vectors = embedder.embed_documents(texts)
    questions = [json.loads(line) for line in (SHARED / "belebele_it_en.questions.jsonl").open()]
    questions = random.Random(9).sample(questions, 300)
    queries = embedder.embed_queries([q["question"] for q in questions])
    log(f"embedded in {time.perf_counter() - t0:.0f} s")
    meta = {
        "sync": sync, "articles": articles, "held": held, "label": embedder.label,
        "dim": embedder.dim, "questions": [[q["question"], q["lang"]] for q in questions],
    }  # fmt: skip
    cache.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    np.savez(vectors_path, chunks=vectors, queries=queries)
    meta["vectors"], meta["queries"] = vectors, queries
    return meta


# --- one size ------------------------------------------------------------------------------------
def build_archive(index_dir: Path, data: dict[str, Any], size: int) -> dict[str, Any]:
    """Copies of the base articles under new ids until the archive holds ``size`` chunks."""
    import numpy as np

    from ingest.dates import infer_order, parse_date
    from ingest.stories import article_vector
    from rag.archive.index import ArchiveIndex
    from rag.archive.manifest import ArticleRecord
    from rag.config import Settings
    from rag.types import date_number

    settings = Settings(index_dir=index_dir, embedding_model=MODEL)
    index = ArchiveIndex.open(settings, model_label=data["label"], dim=data["dim"])
    order = infer_order(a["date"] for a in data["articles"])  # as the readers parse dates
    for a in data["articles"]:
        a["date"] = parse_date(a["date"], order=order)
    rng = np.random.default_rng(1)
    base_vectors = data["vectors"]
    offsets = np.cumsum([0] + [len(a["spans"]) for a in data["articles"]])
    chunks_done, copy = 0, 0
    t0 = time.perf_counter()
    while chunks_done < size:
        batch_records, batch_chunks, ids, vecs, docs, metas = [], [], [], [], [], []
        art_ids, art_vecs, art_metas, stories = [], [], [], []
        seen: set[str] = set()
        for a, start in zip(data["articles"], offsets, strict=False):
            if chunks_done >= size:
                break
            if a["id"] in seen:  # FA-KES repeats 12 of its ids; an ingest keeps the first
                continue
            seen.add(a["id"])
            aid = f"{a['id']}~{copy}"
            spans = a["spans"]
            noise = rng.normal(0, NOISE / np.sqrt(data["dim"]), (len(spans), data["dim"]))
            v = base_vectors[start : start + len(spans)] + noise.astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            record = ArticleRecord(
                id=aid, content_hash=f"copy-{copy}", state="pending", path=f"/bench/{aid}",
                line=None, title=a["title"], lang=a["lang"], date=a["date"], url=a["url"],
                source=a["source"], text=a["text"], extra={}, n_chunks=len(spans),
            )  # fmt: skip
            batch_records.append(record)
            for n, (s, e) in enumerate(spans):
                cid = f"{aid}:{n}"
                batch_chunks.append((cid, aid, n, s, e))
                ids.append(cid)
                docs.append(a["text"][s:e])
                metas.append({"article_id": aid, "n": n, "start": s, "end": e, "lang": a["lang"],
                              "title": a["title"], "date": a["date"],
                              "date_num": date_number(a["date"]), "source": a["source"],
                              "url": a["url"]})  # fmt: skip
            vecs.append(v)
            art_ids.append(aid)
            art_vecs.append(article_vector(v, [e - s for s, e in spans]))
            art_metas.append({"lang": a["lang"], "date": a["date"], "chars": len(a["text"])})
            if a["pair"]:
                stories.append((aid, f"{a['pair']}~{copy}"))
            chunks_done += len(spans)
        index.manifest.put_pending(batch_records, batch_chunks)
        index.store.replace_chunks([], ids, np.concatenate(vecs), docs, metas)
        index.store.put_article_vectors(art_ids, np.stack(art_vecs), art_metas)
        index.manifest.set_stories(stories)
        index.manifest.mark_done(art_ids)
        copy += 1
        log(f"  {chunks_done:,} chunks written ({time.perf_counter() - t0:.0f} s)")
    index.update_language_centroids()
    t1 = time.perf_counter()
    index.refresh_lexical(save=True)  # what the writer leaves on disk for the server to load
    lexical_s = time.perf_counter() - t1
    articles = index.manifest.count()
    index.close()
    return {
        "chunks": chunks_done, "articles": articles, "copies": copy,
        "build_s": round(time.perf_counter() - t0, 1),
        "first_lexical_build_s": round(lexical_s, 1),
    }  # fmt: skip


def latencies(retriever: Any, data: dict[str, Any], n: int) -> dict[str, float]:
    times = []
    for (question, lang), vector in list(zip(data["questions"], data["queries"], strict=True))[:n]:
        t0 = time.perf_counter()
        retriever.search(question, lang=lang, k=10, query_vector=vector)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"p50": round(statistics.median(times), 1),
            "p95": round(times[int(0.95 * (len(times) - 1))], 1)}  # fmt: skip


def one_size(size: int, cache: Path, work: Path, sync: int, questions: int) -> dict[str, Any]:
    from app.compose import engine_parts
    from app.services import Services
    from rag.archive.writer_lock import WriterLock
    from rag.config import Settings

    data = base(cache, sync)
    index_dir = work / f"archive-{size}"
    shutil.rmtree(index_dir, ignore_errors=True)
    log(f"building an archive of {size:,} chunks in {index_dir}")
    out: dict[str, Any] = {"size": size, **build_archive(index_dir, data, size)}

    settings = Settings(index_dir=index_dir, embedding_model=MODEL, refresh_seconds=0.5)
    t0 = time.perf_counter()
    parts = engine_parts(settings)
    services = Services.with_engine(settings, parts.engine)
    # as `newsrag serve` on an embedded index: it holds the writer lock, refreshes in the back
    services.writer_lock = WriterLock(index_dir).acquire("serve", url="bench")
    services.start()
    retriever = parts.engine.retriever
    retriever.index.lexical()
    out["serve_load_s"] = round(time.perf_counter() - t0, 1)
    latencies(retriever, data, 20)  # warm up
    out["search_ms_before"] = latencies(retriever, data, questions)
    log(f"  search before the sync: {out['search_ms_before']}")

    new = work / f"sync-{size}.jsonl"
    held = data["held"]
    new.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in held), "utf-8")
    probes = [(r["id"], " ".join(r["text"].split()[:20]), parts.embedder.embed_queries(
        [" ".join(r["text"].split()[:20])])[0]) for r in held]  # fmt: skip
    found: dict[str, float] = {}
    stop = threading.Event()

    def reader() -> None:  # a reader searching for the new articles while the sync runs
        deadline = time.perf_counter() + 120
        while not stop.is_set() and len(found) < len(probes) and time.perf_counter() < deadline:
            for article_id, text, vector in probes:
                if article_id in found:
                    continue
                hits = retriever.search(text, lang="en", k=10, query_vector=vector)
                if any(h.article_id == article_id for h in hits):
                    found[article_id] = time.perf_counter()
            time.sleep(0.05)

    thread = threading.Thread(target=reader, daemon=True)
    log(f"  syncing {len(held)} new articles through the serving process")
    started = time.perf_counter()
    thread.start()
    report = services.write(lambda ingestor: ingestor.run([new], max_bytes=1 << 30))
    returned = time.perf_counter()
    thread.join(timeout=120)
    stop.set()
    status = services.refresher.status() if services.refresher else None
    refresh_s = status.refresh_seconds if status else None
    answerable = max(found.values()) - started if len(found) == len(probes) else None
    out["sync"] = {
        "articles": report.added, "chunks": report.chunks_written,
        "sync_s": round(returned - started, 2),
        "embed_s": round(report.embed_seconds, 2),
        "refresh_s": None if refresh_s is None else round(refresh_s, 3),
        "answerable_s": None if answerable is None else round(answerable, 2),
        "found": len(found),
        "lexical_segments": len(retriever.index.lexical().segments),
    }  # fmt: skip
    log(f"  sync: {out['sync']}")
    out["search_ms_after"] = latencies(retriever, data, questions)
    log(f"  search after the sync: {out['search_ms_after']}")
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    # --- baselines, in the same run -------------------------------------------------------
    out.update(baselines(retriever.index, data, questions))
    services.close()
    services.writer_lock.release()
    parts.close()
    return out


def baselines(index: Any, data: dict[str, Any], questions: int) -> dict[str, Any]:
    import bm25s

    from rag.archive.index import lexical_doc
    from rag.archive.lexical import LexicalIndex
    from rag.words import tokenize

    served = index.lexical()
    log("  baseline: our lexical index built from scratch")
    t0 = time.perf_counter()
    scratch = LexicalIndex.build(
        ((lexical_doc(c, r), t) for c, r, t in index.manifest.iter_chunk_texts()),
        served.generation,
    )
    full_s = time.perf_counter() - t0
    same = 0
    for question, lang in data["questions"][:questions]:
        scores = scratch.scores(question, lang)
        a = served.top(served.scores(question, lang), served.mask(), 10)
        b = scratch.top(scores, scratch.mask(), 10)
        # the copies tie: the same top scores, and each chunk served scores the same there
        pos = [scratch.position(h.doc.chunk_id) for h in a]
        same += [round(h.score, 4) for h in a] == [round(h.score, 4) for h in b] and all(
            p is not None and round(float(scores[p]), 4) == round(h.score, 4)
            for p, h in zip(pos, a, strict=True)
        )
    del scratch
    log("  baseline: the whole BM25 index rebuilt with bm25s, as every ingest did before")
    t0 = time.perf_counter()
    corpus = [tokenize(t, r.lang) or [""] for _, r, t in index.manifest.iter_chunk_texts()]
    old = bm25s.BM25()
    old.index(corpus, show_progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        old.save(tmp)
    old_s = time.perf_counter() - t0
    return {"full_build_s": round(full_s, 1), "old_rebuild_s": round(old_s, 1),
            "same_top10": round(same / questions, 3)}  # fmt: skip


# --- driver --------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,50000,200000")
    ap.add_argument("--sync", type=int, default=20, help="new articles in the sync")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--cache", type=Path, default=REPO / "data" / "scale-bench.index")
    ap.add_argument("--work", type=Path, default=None, help="where the archives are built")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    if args.one is not None:  # a child: one size, one JSON line
        result = one_size(args.one, args.cache, args.work, args.sync, args.questions)
        log(f"result: {json.dumps(result)}")  # kept in the log even if a later size fails
        print(json.dumps(result))
        return

    base(args.cache, args.sync)  # embed once, before the children
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    work = args.work or Path(tempfile.mkdtemp(prefix="newsrag-scale-"))
    results = []
    try:
        for size in sizes:
            child = subprocess.run(
                [sys.executable, __file__, "--one", str(size), "--cache", str(args.cache),
                 "--work", str(work), "--sync", str(args.sync),
                 "--questions", str(args.questions)],
                stdout=subprocess.PIPE, text=True, check=True,
            )  # fmt: skip
            results.append(json.loads(child.stdout.strip().splitlines()[-1]))
            shutil.rmtree(work / f"archive-{size}", ignore_errors=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    small = results[0]
    big = results[-1]
    summary = {
        "bench": "scale",
        "data": "real texts of ../shared/data (FA-KES, Belebele, MEANTIME) replicated under new "
        "ids; embeddings computed once with multilingual-e5-small and reused for the copies "
        f"(plus noise of {NOISE} per vector, cosine > 0.999): the figures measure the index, "
        "not the encoder; the sync's own articles are embedded for real",
        "sync_articles": args.sync,
        "results": results,
        "targets": {
            "largest": big["size"],
            "sync_plus_refresh_s": big["sync"]["sync_s"],
            "sync_plus_refresh_under_30_s": big["sync"]["sync_s"] < 30,
            "search_p50_ratio_to_smallest": round(
                big["search_ms_after"]["p50"] / small["search_ms_after"]["p50"], 2
            ),
            "search_p50_within_2x": big["search_ms_after"]["p50"]
            <= 2 * small["search_ms_after"]["p50"],
        },
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
