"""The ``newsrag`` command line. Heavy libraries, and the project modules each command runs,
are imported inside the commands: `newsrag --help` answers at once."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from app.quiet import quiet_phone_home
from rag.config import Settings
from rag.errors import ConfigError, InputError, NewsragError

app = typer.Typer(
    name="newsrag",
    help="A cross-lingual chat assistant over a news archive.",
    rich_markup_mode=None,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="List and install embedding models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
feedback_app = typer.Typer(help="The ratings people gave to answers.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")
sources_app = typer.Typer(
    help="Feeds, sitemaps, sites and folders the archive follows (`newsrag sync` reads them).",
    no_args_is_help=True,
)
app.add_typer(sources_app, name="sources")

IndexOpt = Annotated[
    Path | None,
    typer.Option("--index", help="Index folder (env NEWSRAG_INDEX_DIR, default data/index)."),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Embedding model: a name from `newsrag models list`, a hub id "
        "or a folder (env NEWSRAG_EMBEDDING_MODEL).",
    ),
]


def settings(**overrides: Any) -> Settings:
    """Settings from env/.env, overridden by the options actually given on the command line."""
    from pydantic import ValidationError

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        lines = [
            f"NEWSRAG_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError("Invalid setting: " + "; ".join(lines)) from exc


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


# --- ingest ---------------------------------------------------------------------------------
@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
    index: IndexOpt = None,
    model: ModelOpt = None,
    field_map: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="Column names for JSONL/CSV, e.g. "
            "id=unit_id,title=article_title,text=article_content",
        ),
    ] = None,
    prune: Annotated[
        bool, typer.Option(help="Remove stored articles whose source under PATHS is gone.")
    ] = False,
    strict: Annotated[bool, typer.Option(help="Exit non-zero if any input had a problem.")] = False,
    rebuild: Annotated[
        bool, typer.Option(help="Delete this index first and build it again from PATHS.")
    ] = False,
    max_file_mb: Annotated[
        float | None, typer.Option(help="Skip files larger than this (env NEWSRAG_MAX_FILE_MB).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="Ingest through this running `newsrag serve` (e.g. http://127.0.0.1:7860): "
            "the files are uploaded to it and it writes the index it serves.",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="The server's admin key (env NEWSRAG_ADMIN_KEY)."),
    ] = None,
) -> None:
    """Ingest articles (.txt .md .html .jsonl .json .csv) into the index, incrementally."""
    from ingest.sources import parse_field_map

    cfg = settings(index_dir=index, embedding_model=model, max_file_mb=max_file_mb)
    mapping = parse_field_map(field_map)
    if server:
        from ui.remote_ingest import run_remote_ingest

        given = [n for n, v in (("--index", index), ("--model", model), ("--rebuild", rebuild),
                                ("--max-file-mb", max_file_mb)) if v]  # fmt: skip
        if given:
            raise ConfigError(
                f"{', '.join(given)} cannot go with --server: the server ingests into its own "
                "index with its own model and limits (--rebuild: stop the server and run "
                "`newsrag ingest --rebuild` where the index is)."
            )
        admin_key = key or (cfg.admin_key.get_secret_value() if cfg.admin_key else None)
        report = run_remote_ingest(
            server, admin_key, paths, field_map=mapping, prune=prune, quiet=quiet
        )
    else:
        from ui.ingest_view import run_ingest

        report = run_ingest(
            cfg, paths, field_map=mapping, prune=prune, rebuild=rebuild, quiet=quiet
        )
    if report.articles_seen == 0:
        raise typer.Exit(1)
    if strict and report.problems:
        raise typer.Exit(1)


# --- sources and sync -----------------------------------------------------------------------
@sources_app.command("add")
def sources_add(
    location: Annotated[
        str,
        typer.Argument(
            help="An RSS, Atom or JSON feed URL, a sitemap (or sitemap index) URL, a site's "
            "root URL (its robots.txt sitemaps), or a folder."
        ),
    ],
    every: Annotated[
        str, typer.Option("--every", help="How often `newsrag sync` reads it: 15m, 2h, 1d.")
    ] = "30m",
    name: Annotated[
        str | None, typer.Option("--name", help="Its name (default: the host or folder name).")
    ] = None,
    index: IndexOpt = None,
) -> None:
    """Follow a feed, a sitemap, a site or a folder: `newsrag sync` reads it when due."""
    from app.sources import add_source
    from ingest.registry import format_every

    cfg = settings(index_dir=index)
    source = add_source(cfg, location, every=every, name=name)
    what = "folder" if source.kind == "folder" else "web source"
    _console().print(
        f"added {what} {source.name!r} ({source.location}), synced every "
        f"{format_every(source.every_seconds)}; `newsrag sync {source.name}` reads it now.",
        soft_wrap=True,
    )


@sources_app.command("list")
def sources_list(
    index: IndexOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """The sources, with their last sync, the articles they gave and their problems."""
    from app.sources import list_sources
    from ui.sources_view import render_sources

    cfg = settings(index_dir=index)
    rows = list_sources(cfg)
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    else:
        render_sources(_console(), rows, cfg.index_dir)


@sources_app.command("remove")
def sources_remove(
    name: Annotated[str, typer.Argument(help="The source's name (`newsrag sources list`).")],
    index: IndexOpt = None,
) -> None:
    """Stop following a source. The articles it gave stay in the archive."""
    from app.sources import remove_source

    source = remove_source(settings(index_dir=index), name)
    _console().print(
        f"removed source {source.name!r} ({source.location}); its articles stay in the archive.",
        soft_wrap=True,
    )


@app.command("sync")
def sync_command(
    names: Annotated[
        list[str] | None, typer.Argument(help="Sources to sync now (default: those due).")
    ] = None,
    every_source: Annotated[
        bool, typer.Option("--all", help="Sync every source now, due or not.")
    ] = False,
    index: IndexOpt = None,
    model: ModelOpt = None,
    strict: Annotated[bool, typer.Option(help="Exit non-zero if any URL had a problem.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress line.")] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="Sync through this running `newsrag serve` (e.g. http://127.0.0.1:7860): it "
            "syncs the sources of the index it serves.",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="The server's admin key (env NEWSRAG_ADMIN_KEY)."),
    ] = None,
) -> None:
    """Read the due sources (or the ones named) and store their new and changed articles."""
    cfg = settings(index_dir=index, embedding_model=model)
    if server:
        from ui.remote_sync import print_remote_summary, run_remote_sync

        given = [n for n, v in (("--index", index), ("--model", model)) if v]
        if given:
            raise ConfigError(
                f"{', '.join(given)} cannot go with --server: the server syncs the sources of "
                "its own index with its own model."
            )
        admin_key = key or (cfg.admin_key.get_secret_value() if cfg.admin_key else None)
        report, message = run_remote_sync(
            server, admin_key, names or [], force=every_source, quiet=quiet
        )
        print_remote_summary(_console(), report, message, server.rstrip("/"))
    else:
        report = _sync_here(cfg, names or [], every_source, quiet)
        if report is None:
            return
    if report.sources and not any(s.reached for s in report.sources):
        raise typer.Exit(1)
    if strict and report.problems:
        raise typer.Exit(1)


def _sync_here(cfg: Settings, names: list[str], every_source: bool, quiet: bool) -> Any:
    from app.sources import check_names, due_message, has_sources
    from ui.sources_view import run_sync

    if not has_sources(cfg):
        _console(stderr=True).print(
            f"No sources in {cfg.index_dir}: add one with `newsrag sources add URL|PATH`.",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    check_names(cfg, names)
    if not names and not every_source:
        waiting = due_message(cfg)
        if waiting:  # before the model loads: a cron job every minute costs nothing
            _console().print(waiting, soft_wrap=True)
            return None
    return run_sync(cfg, names, force=every_source, quiet=quiet)


# --- backup, restore ------------------------------------------------------------------------
@app.command()
def backup(
    target: Annotated[Path, typer.Argument(help="A new folder to write the backup into.")],
    index: IndexOpt = None,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="Back up the index this running `newsrag serve` serves (e.g. "
            "http://127.0.0.1:7860): it pauses its writes for the copy and sends it here.",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="The server's admin key (env NEWSRAG_ADMIN_KEY)."),
    ] = None,
) -> None:
    """A consistent copy of the index (articles, vectors, sources, feedback) into a new folder,
    even while a server serves and syncs it."""
    from ui.backup_view import run_backup, run_remote_backup

    cfg = settings(index_dir=index)
    if server:
        if index:
            raise ConfigError("--index cannot go with --server: the server backs up its own index.")
        admin_key = key or (cfg.admin_key.get_secret_value() if cfg.admin_key else None)
        info = run_remote_backup(server, admin_key, target)
    else:
        info = run_backup(cfg, target)
    _console().print(f"backed up to {target}: {info.describe()}", soft_wrap=True)


@app.command()
def restore(
    backup_dir: Annotated[Path, typer.Argument(help="A folder written by `newsrag backup`.")],
    index: Annotated[
        Path,
        typer.Option("--index", help="A new (or empty) index folder to restore into."),
    ],
) -> None:
    """Check a backup file by file and restore it into a new index folder; then serve that
    folder (`newsrag serve --index DIR`)."""
    from ui.backup_view import run_restore

    info = run_restore(backup_dir, settings(index_dir=index))
    _console().print(
        f"restored into {index}: {info.describe()}; serve it with `newsrag serve --index {index}`.",
        soft_wrap=True,
    )


# --- stats ----------------------------------------------------------------------------------
@app.command()
def stats(
    index: IndexOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """What the index holds: articles and chunks by language and source, dates, model, size."""
    from ui.stats_view import collect_stats, render_stats

    cfg = settings(index_dir=index)
    data = collect_stats(cfg)
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        render_stats(_console(), data)


# --- search, ask, chat ----------------------------------------------------------------------
LangOpt = Annotated[
    str | None, typer.Option("--lang", help="Only articles in this language (it, en…).")
]
FromOpt = Annotated[
    str | None, typer.Option("--date-from", help="Only articles from this date (YYYY-MM-DD).")
]
ToOpt = Annotated[
    str | None, typer.Option("--date-to", help="Only articles up to this date (YYYY-MM-DD).")
]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Only articles from this source.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")]


def filters(
    lang: str | None, date_from: str | None, date_to: str | None, source: str | None
) -> Any:
    from datetime import date

    from rag.types import Filters

    for name, value in (("--date-from", date_from), ("--date-to", date_to)):
        if value:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise InputError(f"{name} {value!r} is not a date: use YYYY-MM-DD.") from None
    return Filters(lang=lang, date_from=date_from, date_to=date_to, source=source)


def _engine(index: Path | None, model: str | None) -> Any:
    from app.compose import engine_parts

    return engine_parts(settings(index_dir=index, embedding_model=model))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in any language.")],
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="How many results.")] = 10,
    lang: LangOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    source: SourceOpt = None,
    as_json: JsonOpt = False,
    index: IndexOpt = None,
    model: ModelOpt = None,
) -> None:
    """Ranked passages for a query (hybrid, cross-lingual, one per story)."""
    from ui.render import passages_to_json, print_passages

    f = filters(lang, date_from, date_to, source)
    parts = _engine(index, model)
    try:
        hits = parts.engine.search(query, k=k, filters=f)
    finally:
        parts.close()
    if as_json:
        sys.stdout.write(
            json.dumps(
                {"query": query, "results": passages_to_json(hits)}, ensure_ascii=False, indent=2
            )
            + "\n"
        )
    else:
        print_passages(_console(), hits)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question, in Italian or English.")],
    lang: LangOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    source: SourceOpt = None,
    as_json: JsonOpt = False,
    index: IndexOpt = None,
    model: ModelOpt = None,
) -> None:
    """Answer a question from the archive, citing the passages used."""
    from ui.render import print_turn_footer, to_dict
    from ui.terminal_chat import stream_turn

    f = filters(lang, date_from, date_to, source)
    parts = _engine(index, model)
    console = _console()
    try:
        turn = stream_turn(parts.engine, question, console, filters=f, echo=not as_json)
    finally:
        parts.close()
    if as_json:
        sys.stdout.write(json.dumps(to_dict(turn), ensure_ascii=False, indent=2) + "\n")
    else:
        print_turn_footer(console, turn)


@app.command()
def chat(
    lang: LangOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    source: SourceOpt = None,
    index: IndexOpt = None,
    model: ModelOpt = None,
) -> None:
    """A conversation in the terminal: follow-ups keep the context. /new starts over."""
    from ui.terminal_chat import run_chat

    f = filters(lang, date_from, date_to, source)
    parts = _engine(index, model)
    try:
        run_chat(parts.engine, f, _console())
    finally:
        parts.close()


# --- eval -----------------------------------------------------------------------------------
@app.command("eval")
def eval_command(
    questions: Annotated[Path, typer.Option("--questions", help="JSONL file of questions.")],
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="Results per search.")] = 10,
    retrieval_only: Annotated[
        bool, typer.Option("--retrieval-only", help="Skip answering (fast).")
    ] = False,
    details: Annotated[
        bool, typer.Option("--details", help="With --json: every question's answer and verdict.")
    ] = False,
    as_json: JsonOpt = False,
    index: IndexOpt = None,
    model: ModelOpt = None,
    standalone: Annotated[
        bool,
        typer.Option(
            "--standalone",
            help="Ask each conversation's last question on its own (its `standalone` form).",
        ),
    ] = False,
) -> None:
    """Retrieval and answer quality on a questions file (see the README for its format)."""
    from ui.eval_view import print_eval, run_eval

    parts = _engine(index, model)
    try:
        result = run_eval(
            parts, questions, k=k, retrieval_only=retrieval_only, quiet=as_json, details=details,
            standalone=standalone,
        )  # fmt: skip
    finally:
        parts.close()
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    else:
        print_eval(_console(), result)


# --- models ---------------------------------------------------------------------------------
@models_app.command("list")
def models_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The named embedding models and whether they are installed."""
    from rag.models import list_models

    cfg = settings()
    rows = list_models(cfg.models_dir)
    if as_json:
        out = [
            {
                "name": r.name,
                "hub_id": r.hub_id,
                "dim": r.dim,
                "installed": r.installed,
                "path": str(r.path) if r.path else None,
                "default": r.name == cfg.embedding_model,
            }
            for r in rows
        ]
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    from rich.table import Table

    table = Table("name", "hub id", "dim", "installed", "path")
    for r in rows:
        name = r.name + (" (default)" if r.name == cfg.embedding_model else "")
        table.add_row(name, r.hub_id, str(r.dim), "yes" if r.installed else "no", str(r.path or ""))
    _console().print(table)


@models_app.command("install")
def models_install(
    name: Annotated[str, typer.Argument(help="A name from `newsrag models list`.")],
    force: Annotated[bool, typer.Option(help="Install again even if present.")] = False,
) -> None:
    """Provision a named model into the models folder from its offline source."""
    from provision.install import install

    cfg = settings()
    err = _console(stderr=True)
    path = install(name, cfg.models_dir, force=force, progress=lambda msg: err.print(msg))
    _console().print(f"{name} installed in {path}")


@models_app.command("train-judge")
def models_train_judge(
    data: Annotated[
        Path, typer.Option("--data", help="The shared data folder (Belebele, FA-KES, MEANTIME).")
    ] = Path("../shared/data"),
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write it (default: the shipped file).")
    ] = None,
    model: ModelOpt = None,
) -> None:
    """Train the answer judge for the embedding model (seeded; about 15 minutes on 2 cores),
    then install it for the model."""
    from provision.onnx_export import export_judge
    from rag.answer.judge.model import weights_path
    from rag.answer.judge.train import train_judge
    from rag.models import resolve

    cfg = settings(embedding_model=model)
    resolved = resolve(cfg.embedding_model, cfg.models_dir)
    if not resolved.local:
        raise InputError(
            f"{cfg.embedding_model} is not installed here: run `newsrag models install` first."
        )
    folder = Path(resolved.name_or_path)
    name = folder.name
    target = out or weights_path(name)
    err = _console(stderr=True)
    project = Path(__file__).resolve().parents[1]  # data/eval and data/judge live there
    card = train_judge(data, project, folder, resolved.label, target, progress=err.print)
    held = card["held_out"].get("all", {})
    _console().print(
        f"answer judge written to {target} ({card['bytes']} bytes); held-out sentence choice "
        f"{held.get('judge_acc1')} (first sentence {held.get('lead_acc1')})"
    )
    if out is None:
        installed = export_judge(folder, target)
        _console().print(
            f"installed in {folder} (logits within {installed['max_diff_int8']:.1e} of torch's)"
        )


# --- serve, feedback -------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (env NEWSRAG_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port to listen on (env NEWSRAG_PORT).")
    ] = None,
    index: IndexOpt = None,
) -> None:
    """The web chat, the HTTP API and the widget, until Ctrl+C."""
    from ui.web.server import bind, server_url
    from ui.web.server import serve as run_server

    cfg = settings(index_dir=index, host=host, port=port)
    bind(cfg.host, cfg.port).close()  # a taken port is one clear line, before models load
    url = server_url(cfg)
    banner = f"newsrag: web chat on {url}/ (API docs at {url}/docs, index {cfg.index_dir})"
    json_logs = os.environ.get("NEWSRAG_LOG_FORMAT", "text").lower() == "json"
    if json_logs:  # a log collector reads every line as JSON
        logging.getLogger("newsrag").warning(banner)
    else:
        _console(stderr=True).print(banner, soft_wrap=True)
    run_server(
        cfg, log_level=os.environ.get("NEWSRAG_LOG_LEVEL", "info").lower(), json_logs=json_logs
    )


@feedback_app.command("export")
def feedback_export(
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: standard output).")
    ] = None,
    index: IndexOpt = None,
) -> None:
    """Every thumbs up/down given in the web chat or the API, as CSV or JSONL."""
    from app.feedback import FeedbackStore

    if fmt not in ("csv", "jsonl"):
        raise ConfigError(f"--format {fmt!r} is not known: use csv or jsonl.")
    kind: Literal["csv", "jsonl"] = "csv" if fmt == "csv" else "jsonl"
    cfg = settings(index_dir=index)
    store = FeedbackStore.for_index(cfg.index_dir)
    if store.count() == 0:
        _console(stderr=True).print(
            f"No feedback yet in {store.path}: ratings appear there when people rate answers "
            "in the web chat (newsrag serve)."
        )
        return
    if out is None:
        store.export(kind, sys.stdout)
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        written = store.export(kind, handle)
    _console(stderr=True).print(f"{written} ratings written to {out}")


# --- entry point ----------------------------------------------------------------------------
class JsonLines(logging.Formatter):
    """One JSON object a line (NEWSRAG_LOG_FORMAT=json), for log collectors: time, level,
    logger, message, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


JsonLines.converter = time.gmtime


def configure_logging(level_name: str, log_format: str = "text") -> None:
    """One stderr handler at ``level_name``, whatever level a library sets on its own logger.

    bm25s sets its logger to DEBUG at import, so with only the root logger's level its
    "Building index from tokens" reached the terminal on every ingest: the handler filters.
    ``log_format`` "json" writes JSON lines (``JsonLines``), uvicorn's own lines included.
    """
    level = logging.getLevelName(level_name.upper())
    if not isinstance(level, int):
        raise ConfigError(
            f"NEWSRAG_LOG_LEVEL {level_name!r} is not a log level: use DEBUG, INFO, WARNING "
            "or ERROR."
        )
    if log_format not in ("text", "json"):
        raise ConfigError(
            f"NEWSRAG_LOG_FORMAT {log_format!r} is not a log format: use text or json."
        )
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
        if log_format == "json":
            handler.setFormatter(JsonLines())


def main() -> None:
    quiet_phone_home()
    try:
        configure_logging(
            os.environ.get("NEWSRAG_LOG_LEVEL", "WARNING"),
            os.environ.get("NEWSRAG_LOG_FORMAT", "text").lower(),
        )
        app()
    except NewsragError as exc:
        from rich.markup import escape

        _console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _console(stderr=True).print("interrupted; run the same command again to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
