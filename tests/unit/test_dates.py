"""parse_date and infer_order: the forms news sources write dates in."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingest.dates import infer_order, parse_date


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2017-04-05", "2017-04-05"),
        ("2017-4-5", "2017-04-05"),
        ("2017-04-05T10:00:00", "2017-04-05"),
        ("2017-04-05T10:00:00Z", "2017-04-05"),
        ("2017-04-05T10:00:00.123+02:00", "2017-04-05"),
        ("2017-04-05T23:30:00-05:00", "2017-04-05"),  # the writer's date, not the UTC one
        ("2017-04-05 10:00:00 UTC", "2017-04-05"),
        ("2017/04/05", "2017-04-05"),
        ("Wed 05 Apr 2017", "2017-04-05"),
        ("Wed, 05 Apr 2017 10:00:00 +0000", "2017-04-05"),  # RFC 2822
        ("Wed, 5 Apr 2017 10:00:00 GMT", "2017-04-05"),
        ("April 5, 2017", "2017-04-05"),
        ("5th April 2017", "2017-04-05"),
        ("05-Apr-2017", "2017-04-05"),
        ("Sept 9, 2016", "2016-09-09"),
        ("5 aprile 2017", "2017-04-05"),
        ("mercoledì 5 aprile 2017", "2017-04-05"),
        ("Mercoledi 5 Aprile, 2017", "2017-04-05"),
        ("1º maggio 2017", "2017-05-01"),
        ("1° maggio 2017", "2017-05-01"),
        ("9 ago 2022 ore 18:30", "2022-08-09"),
        ("mar 5 apr 2017", "2017-04-05"),  # "mar" = martedì when another month is named
        ("5 mar 2017", "2017-03-05"),
        ("5 avril 2017", "2017-04-05"),
        ("5. März 2017", "2017-03-05"),
        ("5 de abril de 2017", "2017-04-05"),
        ("Published: 5 April 2017", "2017-04-05"),
        ("05/04/2017", "2017-04-05"),  # ambiguous: DMY by default
        ("4/16/2017", "2017-04-16"),  # only one reading is valid
        ("16/4/2017", "2017-04-16"),
        ("05.04.2017", "2017-04-05"),
        ("05-04-2017", "2017-04-05"),
        ("05/04/17", "2017-04-05"),
        ("05/04/2017 10:30", "2017-04-05"),
        ("20170405", "2017-04-05"),
        (20170405, "2017-04-05"),
        ("1491350400", "2017-04-05"),  # unix seconds
        (1491350400, "2017-04-05"),
        (1491350400.5, "2017-04-05"),
        (1491350400000, "2017-04-05"),  # unix milliseconds
        (date(2017, 4, 5), "2017-04-05"),
        (datetime(2017, 4, 5, 23, 0, tzinfo=timezone(timedelta(hours=-5))), "2017-04-05"),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None, "", "   ", "yesterday", "2 hours ago", "April 2017", "2017", "31/02/2017",
        "2017-13-01", "13/13/2017", "05/04/2017 Syria", "Syria 5 April 2017 attack",
        "5 April 2017 and 6 May 2017", "unknown", 42, 0, True, float("nan"), 1e30,
        ["2017-04-05"], "1/1/1700", "x" * 500,
    ],
)  # fmt: skip
def test_unparseable_values_give_none(value):
    assert parse_date(value) is None


def test_order_settles_ambiguous_numeric_dates_only():
    assert parse_date("05/04/2017", order="MDY") == "2017-05-04"
    assert parse_date("05/04/2017", order="DMY") == "2017-04-05"
    assert parse_date("05/04/2017", order=None) == "2017-04-05"
    # when only one reading exists it wins whatever the order says
    assert parse_date("16/4/2017", order="MDY") == "2017-04-16"
    assert parse_date("4/16/2017", order="DMY") == "2017-04-16"
    # names and ISO are never reordered
    assert parse_date("2017-04-05", order="MDY") == "2017-04-05"
    assert parse_date("5 aprile 2017", order="MDY") == "2017-04-05"


def test_infer_order():
    assert infer_order(["4/5/2017", "4/16/2017", "7/10/2016"]) == "MDY"
    assert infer_order(["05/04/2017", "16/04/2017"]) == "DMY"
    assert infer_order(["4/5/2017", "7/10/2016"]) is None  # nothing decides
    assert infer_order([]) is None
    assert infer_order(["2017-04-05", None, 17, "5 aprile 2017"]) is None
    assert infer_order(["13/1/2017", "1/13/2017"]) is None  # a tie
    assert infer_order(["13/1/2017", "1/13/2017", "1/14/2017"]) == "MDY"  # the majority


def test_fakes_csv_dates_are_month_first(shared_data):
    with (shared_data / "fakes_syria_en.csv").open(encoding="utf-8", newline="") as f:
        dates = [row["date"] for row in csv.DictReader(f)]
    order = infer_order(dates)
    assert order == "MDY"
    parsed = [parse_date(d, order=order) for d in dates]
    assert all(parsed)
    assert parsed[0] == "2017-04-05"  # "4/5/2017", unit_id 1914947530: "Wed 05 Apr 2017"
    assert min(parsed) >= "2011-01-01" and max(parsed) <= "2018-12-31"


def test_dates_module_does_not_import_dateparser():
    code = "import sys, ingest.dates; print('dateparser' in sys.modules)"
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo
    )
    assert out.stdout.strip() == "False"
