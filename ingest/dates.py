"""Publication dates from the forms news sources write them in, as ISO ``YYYY-MM-DD``.

Handled: ISO dates and datetimes (any timezone), ``2017/04/05``, numeric day-month-year with
``/ . -`` (``05/04/2017``, ``4/16/2017``, two-digit years), month names in English, Italian,
French, German, Spanish and Portuguese (``Wed 05 Apr 2017``, ``5 aprile 2017``,
``April 5, 2017``, ``1º maggio 2017``, ``5 de abril de 2017``), RFC 2822 (``Wed, 05 Apr 2017
10:00:00 +0000``), ``datetime``/``date`` objects, ``20170405`` and unix timestamps in
seconds or milliseconds (1990-2100 only, so that ids and counts are never taken for dates).

Decisions:
- The date is the one written, in the writer's timezone: ``2017-04-05T23:30-05:00`` is
  2017-04-05, the day the publisher printed, not the UTC day.
- Slash dates are ambiguous. ``order`` ("DMY" or "MDY") decides when both readings are
  valid; when only one is (``4/16/2017``) it wins whatever the order. Readers choose the
  order per file with ``infer_order``; without evidence the default is DMY (European archive).
- No dateparser: it takes over a second to import and resolves "yesterday" or "2 hours ago"
  against today's clock, which would make re-ingesting the same file give different dates.
  A value nothing here understands gives ``None`` and the reader reports it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Literal

Order = Literal["DMY", "MDY"]
ORDERS: tuple[Order, ...] = ("DMY", "MDY")

_MIN_YEAR, _MAX_YEAR = 1800, 2100
_MIN_TS = 631_152_000  # 1990-01-01: smaller numbers are ids or counts, not timestamps
_MAX_TS = 4_102_444_800  # 2100-01-01

# an optional time of day after the date, with an optional zone ("Z", "+02:00", "UTC")
_TIME = (
    r"(?:[T ,]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[ap]\.?m\.?)?"
    r"\s*(?:Z|[+-]\d{2}(?::?\d{2})?|\(?[A-Z]{2,5}\)?)?)?"
)
_ISO_RE = re.compile(rf"^(\d{{4}})([-/.])(\d{{1,2}})\2(\d{{1,2}}){_TIME}$", re.IGNORECASE)
_NUMERIC_RE = re.compile(
    rf"^(\d{{1,2}})([/.-])(\d{{1,2}})\2(\d{{4}}|\d{{2}}){_TIME}$", re.IGNORECASE
)
_DIGITS_RE = re.compile(r"^\d{8,13}(?:\.\d+)?$")
_CLOCK_RE = re.compile(r"\b\d{1,2}[:.h]\d{2}(?:[:.]\d{2})?(?:[.,]\d+)?\b")
_OFFSET_RE = re.compile(r"(?<![\w-])[+-]\d{2}:?\d{2}\b")
_TOKEN_RE = re.compile(r"\d+|[^\W\d_]+")

_MONTHS: dict[str, int] = {}
for _n, _names in enumerate(
    [
        "january jan gennaio gen janvier januar janner enero janeiro",
        "february feb febbraio fevrier februar febrero fevereiro",
        "march mar marzo mars marz maerz marco",
        "april apr aprile avril abril",
        "may maggio mag mai mayo maio",
        "june jun giugno giu juin juni junio junho",
        "july jul luglio lug juillet juli julio julho",
        "august aug agosto ago aout",
        "september sep sept settembre set septembre septiembre setiembre setembro",
        "october oct ottobre ott octobre oktober okt octubre outubro",
        "november nov novembre noviembre novembro",
        "december dec dicembre dic decembre dezember dez diciembre dezembro",
    ],
    start=1,
):
    _MONTHS.update(dict.fromkeys(_names.split(), _n))

# weekdays (en, it, fr, de, es, pt; Italian "mar" for martedì is handled below), ordinals,
# articles, labels and timezone names: words a date may carry besides its month
_IGNORED_WORDS = """
    monday mon tuesday tue tues wednesday wed thursday thu thur thurs friday fri saturday sat
    sunday sun lunedi martedi mercoledi giovedi venerdi sabato domenica lun mer gio ven sab dom
    lundi mardi mercredi jeudi vendredi samedi dimanche montag dienstag mittwoch donnerstag
    freitag samstag sonntag lunes martes miercoles jueves viernes domingo segunda terca quarta
    quinta sexta feira
    st nd rd th o er of the de del di le la el den der at on ore alle h am pm t
    published pubblicato posted updated aggiornato date data
    z gmt utc cet cest est edt pst pdt bst eet eest msk ist
"""
_IGNORED = frozenset(_IGNORED_WORDS.split())


def parse_date(value: object, *, order: str | None = None) -> str | None:
    """``value`` as ``"YYYY-MM-DD"``, or ``None`` if it is empty or not a date we understand.

    ``order`` ("DMY" or "MDY") settles numeric dates where both readings are valid; it
    defaults to DMY.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        return _from_number(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > 80:
        return None
    if _DIGITS_RE.match(text):
        return _from_digits(text)
    if m := _ISO_RE.match(text):
        return _valid(int(m.group(1)), int(m.group(3)), int(m.group(4)))
    if m := _NUMERIC_RE.match(text):
        return _from_numeric(m.group(1), m.group(3), m.group(4), order)
    return _from_words(text)


def infer_order(values: Iterable[object]) -> Order | None:
    """The day/month order of a file's numeric dates, from the values only one order fits.

    ``4/16/2017`` votes MDY, ``16/4/2017`` votes DMY, ``4/5/2017`` says nothing. Returns the
    majority, or ``None`` when nothing decides (or the votes tie).
    """
    votes = {"DMY": 0, "MDY": 0}
    for value in values:
        if not isinstance(value, str):
            continue
        m = _NUMERIC_RE.match(value.strip())
        if not m:
            continue
        first, second = int(m.group(1)), int(m.group(3))
        if first > 12 >= second >= 1:
            votes["DMY"] += 1
        elif second > 12 >= first >= 1:
            votes["MDY"] += 1
    if votes["DMY"] == votes["MDY"]:
        return None
    return "DMY" if votes["DMY"] > votes["MDY"] else "MDY"


def _valid(year: int, month: int, day: int) -> str | None:
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        return None
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _from_number(value: float) -> str | None:
    if value != value or value in (float("inf"), float("-inf")):  # NaN, inf
        return None
    if 19_000_101 <= value <= 21_001_231 and float(value).is_integer():
        n = int(value)
        return _valid(n // 10000, n // 100 % 100, n % 100)
    seconds = value / 1000 if value >= _MAX_TS * 10 else value  # milliseconds
    if not _MIN_TS <= seconds < _MAX_TS:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).date().isoformat()


def _from_digits(text: str) -> str | None:
    if len(text) == 8:
        return _valid(int(text[:4]), int(text[4:6]), int(text[6:]))
    return _from_number(float(text))


def _from_numeric(a: str, b: str, y: str, order: str | None) -> str | None:
    year = int(y)
    if len(y) == 2:
        year += 2000 if year < 70 else 1900
    first, second = int(a), int(b)
    dmy = _valid(year, second, first)
    mdy = _valid(year, first, second)
    if dmy and mdy:
        return mdy if (order or "DMY").upper() == "MDY" else dmy
    return dmy or mdy


def _from_words(text: str) -> str | None:
    text = _CLOCK_RE.sub(" ", text)
    text = _OFFSET_RE.sub(" ", text)
    tokens = [_fold(t) for t in _TOKEN_RE.findall(text)]
    months: list[str] = []
    numbers: list[str] = []
    for token in tokens:
        if token.isdigit():
            numbers.append(token)
        elif token in _MONTHS:
            months.append(token)
        elif token not in _IGNORED:
            return None  # other words: a sentence, not a date
    if len(months) > 1 and "mar" in months:  # Italian "mar" is also Tuesday (martedì)
        months.remove("mar")
    if len(months) != 1 or len(numbers) != 2:
        return None
    years = [n for n in numbers if len(n) == 4]
    days = [n for n in numbers if len(n) <= 2]
    if len(years) != 1 or len(days) != 1:
        return None
    return _valid(int(years[0]), _MONTHS[months[0]], int(days[0]))


def _fold(token: str) -> str:
    decomposed = unicodedata.normalize("NFKD", token.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
