"""The ``newsrag`` command line. Heavy libraries are imported inside the commands."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from rag.config import Settings
from rag.errors import ConfigError, NewsragError

app = typer.Typer(
    name="newsrag",
    help="A cross-lingual chat assistant over a news archive.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="List and install embedding models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

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
) -> None:
    """Ingest articles (.txt .md .html .jsonl .json .csv) into the index, incrementally."""
    from ingest.sources import parse_field_map

    cfg = settings(index_dir=index, embedding_model=model, max_file_mb=max_file_mb)
    mapping = parse_field_map(field_map)
    from ui.ingest_view import run_ingest

    report = run_ingest(cfg, paths, field_map=mapping, prune=prune, rebuild=rebuild, quiet=quiet)
    if report.articles_seen == 0:
        raise typer.Exit(1)
    if strict and report.problems:
        raise typer.Exit(1)


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
    from rag.models import install

    cfg = settings()
    err = _console(stderr=True)
    path = install(name, cfg.models_dir, force=force, progress=lambda msg: err.print(msg))
    _console().print(f"{name} installed in {path}")


# --- entry point ----------------------------------------------------------------------------
def _quiet_phone_home() -> None:
    """No telemetry, ever (see ENVIRONMENT.md): set before the libraries are imported."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    _quiet_phone_home()
    logging.basicConfig(
        level=os.environ.get("NEWSRAG_LOG_LEVEL", "WARNING").upper(),
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
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
