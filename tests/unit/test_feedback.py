"""The feedback store: SQLite beside the index, safe across threads, exported as CSV/JSONL."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import datetime

import pytest
from typer.testing import CliRunner

from app.feedback import COLUMNS, FeedbackStore
from rag.errors import InputError
from ui.cli import app

CITATIONS = [{"n": 1, "article_id": "a1", "title": "Raqqa, «l'offensiva»", "quote": 'x "y", z'}]


def test_nothing_is_created_until_the_first_rating(tmp_path):
    store = FeedbackStore.for_index(tmp_path / "index")
    assert store.count() == 0 and list(store.rows()) == []
    assert not store.path.exists()
    first = store.add(rating="up", question="q?", answer="a [1].", citations=CITATIONS)
    assert store.path == tmp_path / "index" / "feedback.sqlite3" and store.path.exists()
    second = store.add(rating="down", question="q2?", answer="b", comment="wrong date")
    assert second == first + 1 and store.count() == 2


def test_rows_keep_every_field(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    store.add(
        rating="down", question="Chi?", answer="Loro [1].", citations=CITATIONS,
        comment="la data è sbagliata", mode="extractive", user="mrossi",
        origin="https://intranet.example.org", turn_id="t-1",
    )  # fmt: skip
    [row] = list(store.rows())
    assert set(row) == set(COLUMNS)
    assert row["rating"] == "down" and row["comment"] == "la data è sbagliata"
    assert row["citations"] == CITATIONS and row["user"] == "mrossi"
    assert row["origin"] == "https://intranet.example.org" and row["turn_id"] == "t-1"
    when = datetime.fromisoformat(row["time"])
    assert when.utcoffset() is not None and when.utcoffset().total_seconds() == 0


def test_an_unknown_rating_is_refused(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    with pytest.raises(InputError, match="'up' or 'down'"):
        store.add(rating="meh", question="q", answer="a")  # type: ignore[arg-type]


def test_concurrent_ratings_all_land_with_distinct_ids(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    ids: list[int] = []
    lock = threading.Lock()

    def rate(worker: int) -> None:
        for i in range(10):
            new = store.add(rating="up", question=f"{worker}-{i}", answer="a")
            with lock:
                ids.append(new)

    threads = [threading.Thread(target=rate, args=(w,)) for w in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids) == list(range(1, 51)) and store.count() == 50


def test_csv_and_jsonl_exports_round_trip(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    store.add(rating="up", question='a, "b"\nc', answer="x", citations=CITATIONS, user="u")
    store.add(rating="down", question="d", answer="y", comment="c")
    expected = list(store.rows())

    out = io.StringIO()
    assert store.export("csv", out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["question"] for r in rows] == ['a, "b"\nc', "d"]
    assert json.loads(rows[0]["citations"]) == CITATIONS
    assert rows[1]["comment"] == "c" and rows[0]["comment"] == ""

    out = io.StringIO()
    assert store.export("jsonl", out) == 2
    assert [json.loads(line) for line in out.getvalue().splitlines()] == expected


def test_cli_export_says_when_there_is_no_feedback_yet(tmp_path):
    result = CliRunner().invoke(app, ["feedback", "export", "--index", str(tmp_path / "i")])
    assert result.exit_code == 0
    assert "No feedback yet" in result.output and result.stdout == ""


def test_cli_exports_to_stdout_and_to_a_file(tmp_path):
    store = FeedbackStore.for_index(tmp_path / "i")
    store.add(rating="up", question="q", answer="a", citations=CITATIONS)
    runner = CliRunner()
    shown = runner.invoke(app, ["feedback", "export", "--index", str(tmp_path / "i"), "--format",
                                "jsonl"])  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["citations"] == CITATIONS
    target = tmp_path / "out.csv"
    written = runner.invoke(
        app, ["feedback", "export", "--index", str(tmp_path / "i"), "--out", str(target)]
    )
    assert written.exit_code == 0, written.output
    [row] = csv.DictReader(target.open(encoding="utf-8"))
    assert row["question"] == "q"
    bad = runner.invoke(app, ["feedback", "export", "--index", str(tmp_path / "i"), "--format",
                              "xml"])  # fmt: skip
    assert bad.exit_code != 0


def test_a_second_rating_of_the_same_answer_updates_its_row(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite3")
    first = store.add(rating="up", question="q", answer="a", turn_id="t-1", user="anna")
    other_user = store.add(rating="down", question="q", answer="a", turn_id="t-1", user="bob")
    again = store.add(rating="down", question="q", answer="a", turn_id="t-1", user="anna",
                      comment="old date")  # fmt: skip
    kept = store.add(rating="up", question="q", answer="a", turn_id="t-1", user="anna")
    no_turn = store.add(rating="up", question="q", answer="a")
    assert again == kept == first and other_user != first and no_turn not in (first, other_user)
    rows = {r["id"]: r for r in store.rows()}
    assert store.count() == 3
    assert (rows[first]["rating"], rows[first]["comment"]) == ("up", "old date")
    assert rows[other_user]["rating"] == "down" and rows[other_user]["user"] == "bob"
