"""Retrieval under the three protocols of ../shared/data/README.md, against plain baselines.

    python bench/crosslingual.py [--corpus belebele|news] [--workdir DIR] [--limit N]
                                 [--methods newsrag,dense,lexical,plain-dense,naive-rrf,tutorial]

Corpora (real texts from ../shared, read by newsrag's own readers):
  belebele  the 976 Belebele passages (488 Italian/English pairs) and their questions
  news      FA-KES (804 English articles), the two seeds and the Belebele Wikinews pairs, with
            the team's questions in data/eval/news.jsonl
  sample    the demo archive (data/sample) with data/eval/sample.jsonl
Protocols:
  mixed     everything in the archive
  pure      for questions in language L, an archive WITHOUT any article in L: an English
            question can only be answered by an Italian article and the other way round (the
            case of an article that exists in one language only)
Methods, each on the same archive and questions in one run:
  newsrag     the product's search (Engine.search: hybrid, one result per story, time cues)
  dense, lexical  newsrag with only its dense or only its BM25 side
  plain-dense the model with its prompts on whole articles, exact cosine (no chunks, no BM25)
  naive-rrf   reciprocal rank fusion (k=60) of plain-dense and BM25 over whole articles
  tutorial    the LangChain tutorial recipe: RecursiveCharacterTextSplitter(1000, 200),
              HuggingFaceEmbeddings without prompts, Chroma similarity search
Metrics (rag/evaluate.py, per story): hit@1/5/10 (any relevant article in the top k), recall,
by question language and by same/cross language. Questions are split into a dev and a test
half (the file's ``split`` field, else the passage number's parity) so that a setting chosen
on one half is reported on the other. Document embeddings are computed once per text and
reused across archives and methods that embed the same text the same way (said in the output:
``embeddings_reused``). Prints one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

METHODS = ("newsrag", "dense", "lexical", "plain-dense", "naive-rrf", "tutorial")


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# --- corpora ----------------------------------------------------------------------------------
def read_articles(paths: Sequence[Path]) -> list[Any]:
    from ingest.sources import discover, read_file
    from rag.types import Article

    files, _ = discover(list(paths))
    return [a for f in files for a in read_file(f, max_bytes=1 << 30) if isinstance(a, Article)]


def corpus(name: str, workdir: Path) -> tuple[list[Any], Path]:
    """(articles, questions file) of a corpus; every article has its language set."""
    from rag.language import detect_language

    data = SHARED / "data"
    if name == "belebele":
        articles = read_articles([data / "belebele_it_en.passages.jsonl"])
        questions = data / "belebele_it_en.questions.jsonl"
    elif name == "news":
        wikinews = workdir / "belebele_wikinews.jsonl"
        if not wikinews.exists():
            rows = [json.loads(x) for x in (data / "belebele_it_en.passages.jsonl").open()]
            news_pairs = {r["pair_id"] for r in rows if "wikinews" in r.get("source", "")}
            wikinews.parent.mkdir(parents=True, exist_ok=True)
            wikinews.write_text(
                "".join(json.dumps(r) + "\n" for r in rows if r["pair_id"] in news_pairs)
            )
        articles = read_articles(
            [data / "fakes_syria_en.passages.jsonl", SHARED / "seeds", wikinews]
        )
        questions = REPO / "data" / "eval" / "news.jsonl"
    elif name == "sample":
        articles = read_articles([REPO / "data" / "sample"])
        questions = REPO / "data" / "eval" / "sample.jsonl"
    else:
        raise SystemExit(f"unknown corpus {name!r}: belebele, news or sample")
    return [
        a if a.lang else replace(a, lang=detect_language(f"{a.title}\n{a.text}")) for a in articles
    ], questions


def split_of(q: Any, row_split: dict[str, str]) -> str:
    if q.qid in row_split:
        return row_split[q.qid]
    parts = q.qid.split(":")
    number = (
        int(parts[2])
        if len(parts) > 2 and parts[2].isdigit()
        else int(hashlib.sha1(q.qid.encode()).hexdigest(), 16)
    )
    return "dev" if number % 2 == 0 else "test"


# --- embeddings computed once ------------------------------------------------------------------
class ReusedEmbeddings:
    """Document vectors by (prompted?, text), kept on disk: archives share their texts."""

    def __init__(self, embedder: Any, path: Path) -> None:
        self.embedder = embedder
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        self.reused = self.computed = 0
        if path.exists():
            saved = np.load(path, allow_pickle=False)
            self.vectors = dict(zip(saved["keys"].tolist(), saved["vectors"], strict=True))

    def get(self, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray], tag: str):
        keys = [tag + hashlib.sha1(t.encode()).hexdigest() for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self.vectors]
        if missing:
            fresh = compute([texts[i] for i in missing])
            self.vectors.update((keys[i], v) for i, v in zip(missing, fresh, strict=True))
        self.computed += len(missing)
        self.reused += len(texts) - len(missing)
        return np.stack([self.vectors[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        keys = list(self.vectors)
        np.savez(self.path, keys=np.array(keys), vectors=np.stack([self.vectors[k] for k in keys]))


class CachedEmbedder:
    """newsrag's embedder with document vectors from ReusedEmbeddings."""

    def __init__(self, embedder: Any, cache: ReusedEmbeddings) -> None:
        self._e, self._cache = embedder, cache
        self.label, self.dim, self.max_tokens = embedder.label, embedder.dim, embedder.max_tokens
        self.spec = getattr(embedder, "spec", None)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._cache.get(texts, self._e.embed_documents, "d:")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._e.embed_queries(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._e.count_tokens(texts)


# --- one archive ------------------------------------------------------------------------------
def build_newsrag(index_dir: Path, articles: Sequence[Any], embedder: Any, model: str) -> None:
    from app.compose import story_threshold
    from ingest.stories import StoryLinker
    from ingest.sync import Ingestor
    from rag.archive.index import ArchiveIndex
    from rag.config import Settings

    if (index_dir / "manifest.sqlite").exists():
        return
    export = index_dir.with_suffix(".jsonl")
    export.parent.mkdir(parents=True, exist_ok=True)
    export.write_text(
        "".join(
            json.dumps({"id": a.id, "title": a.title, "text": a.text, "lang": a.lang,
                        "date": a.date, "url": a.url, "source": a.source}) + "\n"
            for a in articles
        )
    )  # fmt: skip
    settings = Settings(index_dir=index_dir, embedding_model=model)
    index = ArchiveIndex.open(settings, model_label=embedder.label, dim=embedder.dim)
    linker = StoryLinker(threshold=story_threshold(settings, embedder._e))
    Ingestor(index, embedder, linker=linker).run([export], max_bytes=1 << 30)
    index.close()


class PlainIndex:
    """Whole articles: dense with the model's prompts (exact cosine) and BM25 (it/en stems)."""

    def __init__(self, articles: Sequence[Any], embedder: Any, cache: ReusedEmbeddings) -> None:
        from rag.archive.lexical import LexicalDoc, LexicalIndex

        self.ids = [a.id for a in articles]
        texts = [f"{a.title}\n{a.text}".strip() for a in articles]
        self.vectors = cache.get(texts, embedder.embed_documents, "d:")
        self.lexical = LexicalIndex.build(
            (
                (LexicalDoc(a.id, a.id, a.lang, 0, ""), t)
                for a, t in zip(articles, texts, strict=True)
            ),
            0,
        )  # fmt: skip

    def dense(self, qvec: np.ndarray, k: int) -> list[str]:
        order = np.argsort(-(self.vectors @ qvec))[:k]
        return [self.ids[i] for i in order]

    def bm25(self, question: str, lang: str, k: int) -> list[str]:
        scores = self.lexical.scores(question, lang)
        if not len(scores) or scores.max() <= 0:
            return []
        order = np.argsort(-scores)[:k]
        return [self.ids[i] for i in order if scores[i] > 0]


def rrf(*rankings: Sequence[str], k: int = 60) -> list[str]:
    score: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking):
            score[doc] = score.get(doc, 0.0) + 1 / (k + rank + 1)
    return sorted(score, key=lambda d: -score[d])


def tutorial_search(articles: Sequence[Any], model_path: str, persist: Path, cache: Any):
    """The LangChain tutorial recipe over these articles; its vectors reused by text."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    hf = HuggingFaceEmbeddings(model_name=model_path, encode_kwargs={"normalize_embeddings": True})

    class Reused(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return cache.get(texts, lambda t: np.asarray(hf.embed_documents(t)), "hf:").tolist()

        def embed_query(self, text: str) -> list[float]:
            return hf.embed_query(text)

    docs = [Document(page_content=a.text, metadata={"article_id": a.id}) for a in articles]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        docs
    )
    store = Chroma(
        collection_name="tutorial", embedding_function=Reused(), persist_directory=str(persist)
    )
    if store._collection.count() == 0:
        for i in range(0, len(splits), 2000):
            store.add_documents(splits[i : i + 2000])

    def search(question: str, k: int) -> list[str]:
        out: dict[str, None] = {}
        for d in store.similarity_search(question, k=4 * k):
            out.setdefault(d.metadata["article_id"], None)
        return list(out)[:k]

    return search


def variant_engine(engine: Any, index: Any, embedder: Any, method: str) -> Any:
    """``newsrag:lexical_weight=0.1+lexical_norm=query``: the engine with those retrieval
    settings (RetrievalConfig fields), for comparing settings in one run."""
    import copy

    from rag.retrieval import Retriever

    _, _, spec = method.partition(":")
    if not spec:
        return engine
    changes: dict[str, Any] = {}
    for part in spec.split("+"):
        key, _, value = part.partition("=")
        current = getattr(engine.retriever.config, key)
        if isinstance(current, bool):
            changes[key] = value.lower() in ("1", "true", "yes")
        else:
            changes[key] = type(current)(value) if not isinstance(current, str) else value
    variant = copy.copy(engine)
    variant.retriever = Retriever(
        index, embedder, replace(engine.retriever.config, **changes),
        model_centroids=engine.retriever.model_centroids,
    )  # fmt: skip
    return variant


# --- the run ----------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", default="belebele")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/newsrag-bench-crosslingual"))
    ap.add_argument("--model", default="multilingual-e5-small")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--protocols", default="mixed,pure")
    ap.add_argument("--limit", type=int, help="at most this many questions per language")
    ap.add_argument("--answerable-only", action="store_true", default=True)
    args = ap.parse_args()

    from app.compose import embedder_for, engine_parts
    from rag.config import Settings
    from rag.evaluate import archive_maps, evaluate, load_questions, resolve_ids
    from rag.models import resolve
    from rag.retrieval import Retriever
    from rag.timeparse import parse_time

    methods = args.methods.split(",")
    work = args.workdir / args.corpus
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings(embedding_model=args.model)
    embedder = embedder_for(settings)
    cache = ReusedEmbeddings(
        embedder, args.workdir / f"vectors-{embedder.label.replace('/', '_')}.npz"
    )
    cached = CachedEmbedder(embedder, cache)
    articles, qpath = corpus(args.corpus, work)
    row_split = {}
    for line in qpath.open(encoding="utf-8"):
        row = json.loads(line)
        if "split" in row:
            row_split[str(row.get("qid"))] = row["split"]
    all_questions = [
        q for q in resolve_ids(load_questions(qpath), [a.id for a in articles]) if q.relevant_ids
    ]
    out: dict[str, Any] = {
        "corpus": args.corpus, "model": embedder.label, "articles": len(articles),
        "questions_file": str(qpath), "protocols": {},
    }  # fmt: skip

    for protocol in args.protocols.split(","):
        langs = ["all"] if protocol == "mixed" else sorted({q.lang for q in all_questions})
        results: dict[str, dict[str, Any]] = {m: {"dev": [], "test": []} for m in methods}
        per_lang: dict[str, Any] = {}
        for qlang in langs:
            keep = articles if qlang == "all" else [a for a in articles if a.lang != qlang]
            kept_ids = {a.id for a in keep}
            questions = [
                q for q in all_questions
                if (qlang == "all" or q.lang == qlang) and set(q.relevant_ids) & kept_ids
            ]  # fmt: skip
            if args.limit:
                by_lang: dict[str, int] = {}
                limited = []
                for q in questions:
                    by_lang[q.lang] = by_lang.get(q.lang, 0) + 1
                    if by_lang[q.lang] <= args.limit:
                        limited.append(q)
                questions = limited
            name = f"{protocol}-{qlang}"
            log(f"[{args.corpus} {name}] {len(keep)} articles, {len(questions)} questions")
            t0 = time.perf_counter()
            index_dir = work / f"index-{name}"
            build_newsrag(index_dir, keep, cached, args.model)
            cache.save()
            log(f"  newsrag index ready in {time.perf_counter() - t0:.0f} s")
            parts = engine_parts(Settings(index_dir=index_dir, embedding_model=args.model))
            engine = parts.engine
            story_of, lang_of = archive_maps(parts.index.manifest.iter_records())
            vectors = embedder.embed_queries([q.question for q in questions])
            qvecs = dict(zip([q.qid for q in questions], vectors, strict=True))
            searches: dict[str, Callable[[Any, Any], list[str]]] = {}
            for method in methods:
                if method == "newsrag" or method.startswith("newsrag:"):
                    variant = variant_engine(engine, parts.index, embedder, method)
                    searches[method] = lambda q, f, e=variant: [
                        h.article_id for h in e.search(q.question, k=10, filters=f, lang=q.lang)
                    ]
            for fusion in ("dense", "lexical"):
                if fusion in methods:
                    config = replace(engine.retriever.config, fusion=fusion)
                    alone = Retriever(
                        parts.index,
                        embedder,
                        config,
                        model_centroids=engine.retriever.model_centroids,
                    )

                    def one_side(q, f, r=alone, e=engine, qv=qvecs):
                        intent = parse_time(q.question, q.lang)
                        hits = r.search(q.question, lang=q.lang, k=10, filters=f,
                                        recency=intent.recency, when=e.asked_time(intent, f),
                                        query_vector=qv[q.qid])  # fmt: skip
                        return [h.article_id for h in hits]

                    searches[fusion] = one_side
            if {"plain-dense", "naive-rrf"} & set(methods):
                plain = PlainIndex(keep, embedder, cache)
                cache.save()
                if "plain-dense" in methods:
                    searches["plain-dense"] = lambda q, f, p=plain, qv=qvecs: p.dense(qv[q.qid], 10)
                if "naive-rrf" in methods:
                    searches["naive-rrf"] = lambda q, f, p=plain, qv=qvecs: rrf(
                        p.dense(qv[q.qid], 40), p.bm25(q.question, q.lang, 40)
                    )[:10]
            if "tutorial" in methods:
                model_path = resolve(args.model, settings.models_dir).name_or_path
                tut = tutorial_search(keep, model_path, work / f"tutorial-{name}", cache)
                cache.save()
                searches["tutorial"] = lambda q, f, t=tut: t(q.question, 10)
            for method, fn in searches.items():
                t1 = time.perf_counter()
                for part in ("dev", "test"):
                    subset = [q for q in questions if split_of(q, row_split) == part]
                    r = evaluate(subset, search=fn, story_of=story_of, lang_of=lang_of)
                    results[method][part].append((len(subset), r))
                log(f"  {method}: {time.perf_counter() - t1:.0f} s")
            per_lang[qlang] = len(questions)
            parts.close()
        out["protocols"][protocol] = {
            "questions": per_lang,
            "methods": {m: {p: _pool(rows) for p, rows in parts_.items()}
                        for m, parts_ in results.items()},
        }  # fmt: skip
        for m, parts_ in out["protocols"][protocol]["methods"].items():
            brief = {p: {k: v.get(k) for k in ("hit@1", "hit@5", "hit@10")}
                     for p, v in parts_.items()}  # fmt: skip
            log(f"{protocol:6s} {m:12s} {json.dumps(brief)}")
    out["embeddings_reused"] = {"computed": cache.computed, "reused": cache.reused}
    print(json.dumps(out, indent=2))


def _pool(rows: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Question-weighted mean of the headline metrics over the per-language archives."""
    keys = ("hit@1", "hit@5", "hit@10", "recall@1", "recall@5", "recall@10", "mrr@10")
    total = sum(n for n, r in rows if "hit@1" in r)
    if not total:
        return {"n": 0}
    pooled = {k: round(sum(r[k] * n for n, r in rows if k in r) / total, 4) for k in keys}
    by_lang: dict[str, Any] = {}
    for _, r in rows:
        by_lang.update(r.get("by_lang", {}))
    return {**pooled, "n": total, "by_lang": by_lang}


if __name__ == "__main__":
    main()
