"""``newsrag eval``: run a questions file through search (and ask) and show the metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from app.compose import EngineParts
from rag.evaluate import Question, archive_maps, evaluate, load_questions, resolve_ids
from rag.followup import standalone_question
from rag.types import Filters, Message

METRICS = ("hit@1", "hit@5", "hit@10", "recall@5", "mrr@10")
ANSWER_METRICS = (
    "answer_accuracy", "wrong_answers", "refusal_rate", "wrong_refusal_rate",
)  # fmt: skip


def run_eval(
    parts: EngineParts,
    path: Path,
    *,
    k: int,
    retrieval_only: bool,
    quiet: bool,
    details: bool = False,
    standalone: bool = False,
) -> dict[str, Any]:
    engine, manifest = parts.engine, parts.index.manifest
    records = list(manifest.iter_records())
    questions = resolve_ids(load_questions(path), (r.id for r in records))
    if standalone:  # a conversation's last question asked on its own, for comparison
        questions = [q.alone() for q in questions]
    story_of, lang_of = archive_maps(records)

    def search(q: Question, filters: Filters) -> list[str]:
        # a follow-up is searched as the conversation makes it (rag/followup.py)
        query = standalone_question(q.question, [Message("user", h) for h in q.history])
        hits = engine.search(query, k=k, filters=filters, lang=q.lang)
        return [h.article_id for h in hits]

    def ask(q: Question) -> Any:
        """The conversation's earlier questions first, each with the answers before it, as a
        person asks them in the chat; then the question, judged."""
        history: list[Message] = []
        for earlier in q.history:
            turn = engine.ask(earlier, history=history, filters=q.filters)
            history += [Message("user", earlier), Message("assistant", turn.answer)]
        return engine.ask(q.question, history=history, filters=q.filters, lang=q.lang)

    with Progress(disable=quiet, transient=True) as progress:
        task = progress.add_task("eval", total=len(questions))
        result = evaluate(
            questions,
            search=search,
            story_of=story_of,
            lang_of=lang_of,
            ask=None if retrieval_only else ask,
            progress=lambda n: progress.update(task, completed=n),
            details=details,
        )
    known = {r.id for r in records}
    missing = sorted({a for q in questions for a in q.relevant_ids if a not in known})
    result["relevant_ids_not_in_archive"] = missing
    result["questions"] = str(path)
    result["mode"] = "retrieval-only" if retrieval_only else engine.mode
    return result


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_eval(console: Console, r: dict[str, Any]) -> None:
    table = Table("retrieval", *METRICS, "n", title=f"{r['questions']} ({r['mode']})")

    def row(name: str, m: dict[str, Any]) -> None:
        if m:
            table.add_row(name, *(_fmt(m.get(k)) for k in METRICS), str(m["n"]))

    row("all", {**{k: r.get(k) for k in METRICS}, "n": r["answerable"]} if "hit@1" in r else {})
    for lang, m in r["by_lang"].items():
        row(f"lang {lang}", m)
    for name, m in r.get("by_crossing", {}).items():
        row(name.replace("_", "-"), m)
    for name, m in r["by_relevance"].items():
        row(f"filtered {name.replace('_', '-')}", m)
    console.print(table)
    if "answers" in r:
        heads = [k.replace("_rate", "").replace("_", " ") for k in ANSWER_METRICS]
        answers = Table("answers", *heads, "answerable", "unanswerable")
        groups = {"all": r["answers"]}
        groups.update(r.get("answers_by", {}))
        for name, m in groups.items():
            answers.add_row(
                name, *(_fmt(m.get(k)) for k in ANSWER_METRICS),
                str(m["answerable"]), str(m["unanswerable"]),
            )  # fmt: skip
        console.print(answers)
        for key in ANSWER_METRICS:
            if r["answers"].get(key) is not None:
                console.print(f"{key.replace('_', ' ')}: {r['answers'][key]:.3f}")
    for key in ("answer_hit_rate", "citation_precision"):
        if r.get(key) is not None:
            console.print(f"{key.replace('_', ' ')}: {r[key]:.3f}")
    if r.get("relevant_ids_not_in_archive"):
        missing = r["relevant_ids_not_in_archive"]
        console.print(
            f"[yellow]{len(missing)} relevant ids are not in the archive[/] (e.g. {missing[0]}): "
            "ingest what the questions were written for."
        )
