"""``newsrag eval``: run a questions file through search (and ask) and show the metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from rag.evaluate import Question, archive_maps, evaluate, load_questions
from rag.types import Filters

from .compose import EngineParts

METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")


def run_eval(
    parts: EngineParts, path: Path, *, k: int, retrieval_only: bool, quiet: bool
) -> dict[str, Any]:
    questions = load_questions(path)
    engine, manifest = parts.engine, parts.index.manifest
    story_of, lang_of = archive_maps(manifest.iter_records())

    def search(q: Question, filters: Filters) -> list[str]:
        hits = engine.search(q.question, k=k, filters=filters, lang=q.lang)
        return [h.article_id for h in hits]

    def ask(q: Question) -> Any:
        return engine.ask(q.question, filters=q.filters, lang=q.lang)

    with Progress(disable=quiet, transient=True) as progress:
        task = progress.add_task("eval", total=len(questions))
        result = evaluate(
            questions,
            search=search,
            story_of=story_of,
            lang_of=lang_of,
            ask=None if retrieval_only else ask,
            progress=lambda n: progress.update(task, completed=n),
        )
    result["questions"] = str(path)
    result["mode"] = "retrieval-only" if retrieval_only else engine.mode
    return result


def print_eval(console: Console, r: dict[str, Any]) -> None:
    table = Table("", *METRICS, "n", title=f"{r['questions']} ({r['mode']})")

    def row(name: str, m: dict[str, Any]) -> None:
        if m:
            table.add_row(name, *(f"{m[k]:.3f}" for k in METRICS), str(m["n"]))

    row("all", {**{k: r[k] for k in METRICS}, "n": r["answerable"]} if "recall@1" in r else {})
    for lang, m in r["by_lang"].items():
        row(f"lang {lang}", m)
    for name, m in r["by_relevance"].items():
        row(name.replace("_", "-"), m)
    console.print(table)
    for key in ("answer_hit_rate", "citation_precision", "refusal_rate", "wrong_refusal_rate"):
        if r.get(key) is not None:
            console.print(f"{key.replace('_', ' ')}: {r[key]:.3f}")
