"""The newsrag command as a user runs it: a subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

FAKES_MAP = "id=unit_id,title=article_title,text=article_content"


def newsrag(*args: str, env: dict[str, str] | None = None, timeout: int = 600):
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


def stats(index: Path, env: dict[str, str] | None = None) -> dict:
    out = newsrag("stats", "--json", "--index", str(index), env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def assert_clean_error(result, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_help_lists_the_commands():
    out = newsrag("--help")
    assert out.returncode == 0
    for command in ("ingest", "stats", "models"):
        assert command in out.stdout


@pytest.mark.slow
def test_full_fakes_csv_and_every_jsonl_ingest(tmp_path, shared_data, tiny_model):
    index = tmp_path / "big"
    model = ["--model", str(tiny_model), "--index", str(index), "-q"]
    csv = newsrag("ingest", str(shared_data / "fakes_syria_en.csv"), "--map", FAKES_MAP, *model)
    assert csv.returncode == 0, csv.stderr
    # 804 rows, 792 distinct unit_ids: the 12 repeats are reported, not stored twice
    assert "792" in csv.stdout
    got = stats(index)
    assert got["articles"] == 792 and got["by_lang"]["en"]["articles"] == 792
    assert got["date_min"] >= "2011-01-01" and got["date_max"] <= "2018-12-31"
    assert got["chunks"] == got["chunks_in_store"] > 792
    jsonl = newsrag(
        "ingest", str(shared_data / "fakes_syria_en.passages.jsonl"),
        str(shared_data / "belebele_it_en.passages.jsonl"), *model,
    )  # fmt: skip
    assert jsonl.returncode == 0, jsonl.stderr
    got = stats(index)
    # the JSONL ids ("fakes:…", "belebele:…") differ from the CSV's unit_ids
    assert got["articles"] == 792 * 2 + 976
    assert got["by_lang"]["it"]["articles"] == 488


def test_ingest_and_stats_on_the_seeds_and_the_sample(tmp_path, seeds_dir):
    index = tmp_path / "idx"
    out = newsrag("ingest", str(REPO / "data" / "sample"), str(seeds_dir), "--index", str(index))
    assert out.returncode == 0, out.stderr
    assert "stories linked" in out.stdout
    assert "files 11/11" in out.stderr  # the progress bar's last state
    got = stats(index)
    assert got["articles"] == 15
    assert (
        got["chunks"] == got["chunks_in_store"] == sum(v["chunks"] for v in got["by_lang"].values())
    )
    assert set(got["by_lang"]) == {"it", "en"}
    # the seeds, and the sample's two Islamic State stories (2021 and 2024)
    assert got["stories_in_several_languages"] == 3
    assert got["embedding_model"] == "multilingual-e5-small" and got["dim"] == 384
    assert got["index_bytes"] > 0
    again = newsrag("ingest", str(seeds_dir), "--index", str(index), "-q")
    assert again.returncode == 0 and "unchanged" in again.stdout
    assert stats(index)["chunks"] == got["chunks"]


def test_exit_codes_follow_what_was_ingested(tmp_path, tiny_model):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "1", "title": "T", "text": "Aleppo news today."}) + "\n")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x01binary")
    model = ["--model", str(tiny_model), "--index", str(tmp_path / "i"), "-q"]
    only_bad = newsrag("ingest", str(bad), *model)
    assert only_bad.returncode == 1
    assert "nothing was ingested" in only_bad.stdout and "bad.txt" in only_bad.stdout
    mixed = newsrag("ingest", str(good), str(bad), *model)
    assert mixed.returncode == 0 and "bad.txt" in mixed.stdout
    strict = newsrag("ingest", str(good), str(bad), "--strict", *model)
    assert strict.returncode == 1
    missing = newsrag("ingest", str(tmp_path / "nope"), *model)
    assert missing.returncode == 1 and "nope" in missing.stdout


def test_user_mistakes_are_one_line_errors(tmp_path, tiny_model):
    bad_map = newsrag("ingest", str(tmp_path), "--map", "text", "--index", str(tmp_path / "i"))
    assert_clean_error(bad_map, 6, "error:", "text")
    bad_setting = newsrag("stats", env={"NEWSRAG_CHUNK_TOKENS": "5"})
    assert_clean_error(bad_setting, 2, "NEWSRAG_CHUNK_TOKENS")
    no_index = newsrag("stats", "--index", str(tmp_path / "none"))
    assert_clean_error(no_index, 5, "newsrag ingest")
    unknown_model = newsrag("models", "install", "e5-large")
    assert_clean_error(unknown_model, 3, "multilingual-e5-small")


def test_a_model_that_is_not_installed_fails_fast_with_the_fix(tmp_path, seeds_dir):
    started = time.monotonic()
    out = newsrag(
        "ingest", str(seeds_dir), "--index", str(tmp_path / "i"),
        env={"NEWSRAG_MODELS_DIR": str(tmp_path / "no-models"), "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert_clean_error(out, 3, "newsrag models install multilingual-e5-small", "NEWSRAG_MODELS_DIR")
    assert time.monotonic() - started < 30  # no minute of hub retries
    assert not (tmp_path / "i").exists()  # nothing was created


def test_another_model_on_an_index_says_how_to_reindex(tmp_path, seeds_dir, tiny_model):
    index = str(tmp_path / "i")
    first = newsrag("ingest", str(seeds_dir), "--index", index, "--model", str(tiny_model), "-q")
    assert first.returncode == 0, first.stderr
    other = newsrag("ingest", str(seeds_dir), "--index", index, "-q")  # the default model
    assert_clean_error(other, 4, "--rebuild")
    assert stats(tmp_path / "i")["articles"] == 2  # nothing was lost
    rebuilt = newsrag("ingest", str(seeds_dir), "--index", index, "--rebuild", "-q")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert stats(tmp_path / "i")["embedding_model"] == "multilingual-e5-small"


def test_two_archives_live_side_by_side(tmp_path, seeds_dir, tiny_model):
    sahel = tmp_path / "sahel.jsonl"
    sahel.write_text(json.dumps({"id": "s1", "text": "JNIM attacked a base in Mali."}) + "\n")
    a, b = tmp_path / "a.index", tmp_path / "b.index"
    model = ["--model", str(tiny_model), "-q"]
    assert newsrag("ingest", str(seeds_dir), "--index", str(a), *model).returncode == 0
    assert newsrag("ingest", str(sahel), "--index", str(b), *model).returncode == 0
    assert (stats(a)["articles"], stats(b)["articles"]) == (2, 1)
    # nothing is written outside the index folders (and the tiny model's own folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.index", "b.index", "sahel.jsonl"]


@pytest.mark.slow
def test_kill_9_halfway_then_rerun_gives_exact_counts(tmp_path, shared_data):
    source = shared_data / "sample" / "fakes_syria_en.passages.jsonl"
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    small_batches = {"NEWSRAG_INGEST_BATCH_CHUNKS": "8"}
    assert newsrag("ingest", str(source), "--index", str(clean), "-q").returncode == 0

    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "ingest", str(source), "--index", str(crashed), "-q"],
        env={**os.environ, **small_batches},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    manifest = crashed / "manifest.sqlite"
    deadline = time.time() + 300
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if manifest.exists():
            try:
                with sqlite3.connect(f"file:{manifest}?mode=ro", uri=True) as db:
                    done = db.execute(
                        "SELECT COUNT(*) FROM articles WHERE state='done'"
                    ).fetchone()[0]
            except sqlite3.OperationalError:
                done = 0
            if done >= 5:
                break
        time.sleep(0.2)
    assert proc.poll() is None, "the ingest finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 5 <= stats(crashed)["articles"] < 50

    rerun = newsrag("ingest", str(source), "--index", str(crashed), "-q", env=small_batches)
    assert rerun.returncode == 0, rerun.stderr
    want, got = stats(clean), stats(crashed)
    assert got["articles"] == want["articles"] == 50
    assert got["chunks"] == got["chunks_in_store"] == want["chunks"]
    assert got["pending"] == 0

    import chromadb

    def chunk_ids(index: Path) -> set[str]:
        client = chromadb.PersistentClient(path=str(index / "chroma"))
        return set(client.get_collection("newsrag-chunks").get(include=[])["ids"])

    assert chunk_ids(crashed) == chunk_ids(clean)


def test_library_log_lines_do_not_leak_and_every_file_is_accounted_for(tmp_path, tiny_model):
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "a.md").write_text("# Mercato di Valdoro\n\nIl mercato del pesce riapre domani.\n")
    (folder / "b.txt").write_bytes("Titolo\n\nLa città è più bella così.\n".encode("cp1252"))
    (folder / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    out = newsrag("ingest", str(folder), "--index", str(tmp_path / "i"),
                  "--model", str(tiny_model), "-q")  # fmt: skip
    assert out.returncode == 0, out.stderr
    # bm25s sets its own logger to DEBUG: its "Building index from tokens" reached stderr
    assert "bm25s" not in out.stderr + out.stdout and "DEBUG" not in out.stderr + out.stdout
    assert "1 .xlsx file not read" in out.stdout and "export them as CSV" in out.stdout
    assert "1 .jpg file not read" in out.stdout
    assert "warnings" in out.stdout and "read as Windows-1252" in out.stdout
    assert stats(tmp_path / "i")["articles"] == 2
    bad_level = newsrag("stats", "--index", str(tmp_path / "i"), env={"NEWSRAG_LOG_LEVEL": "loud"})
    assert_clean_error(bad_level, 2, "NEWSRAG_LOG_LEVEL")


def test_serve_writes_json_log_lines_when_asked(tmp_path):
    """NEWSRAG_LOG_FORMAT=json: every line a real server writes to stderr is one JSON object,
    its own lines and uvicorn's access lines alike; a bad format is a one-line error."""
    import httpx

    from tests.llm_server import free_port

    port = free_port()
    env = {**os.environ, "NEWSRAG_LOG_FORMAT": "json", "NEWSRAG_LOG_LEVEL": "info"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "serve", "--port", str(port), "--index",
         str(tmp_path / "none")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "no server"
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    for line in err.splitlines():
        if line.strip():
            assert line.startswith("{"), f"not a JSON line on stderr: {line[:300]!r}"
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    assert any(x["logger"] == "uvicorn.access" and "/healthz" in x["message"] for x in lines)
    bad = newsrag("stats", "--index", str(tmp_path / "none"), env={"NEWSRAG_LOG_FORMAT": "xml"})
    assert_clean_error(bad, 2, "NEWSRAG_LOG_FORMAT 'xml' is not a log format")
