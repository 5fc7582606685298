"""The time a question is about: an explicit date range and/or "the latest news".

``parse_time("cosa è successo a Mosul nel 2016?", "it")`` gives 2016-01-01 … 2016-12-31;
``parse_time("where is Isis still active in Syria?", "en")`` gives ``recency=True``. Both
languages' expressions are recognised whatever ``lang`` says, because people mix them.

Decisions (a wrong date filter hides the answer, so when in doubt there is no filter):
- A number is a year only when a temporal construction introduces it: "in/during/of 2017",
  "nel/durante il/del 2017", "the 2017 attack" (a determiner, the year, then a word), seasons
  and "early/inizio/fine" ("summer 2017", "fine 2017" are the whole year). "2017 soldiers",
  "1500 km" and a bare "Mosul 2016" are not dates, nor is a year followed by a unit ("in 2000
  km"). A counted noun after it ("the 2017 soldiers", "of 2000 men", "after 2000 soldiers
  died", "up to 2000 fighters") makes it a number too, except after "in/nel/during", where
  the year reading wins ("in 2017 civilians fled"). Italian "il 2017" alone is not taken: it
  also follows "entro" (a deadline), which is not a filter.
- "from 2019" with no end is read as "since 2019" (like "dal 2019"): the wider reading
  keeps what the narrower one ("news from 2019") would have found. "until/fino al 2016"
  includes 2016, "before/prima del 2016" ends on 2015-12-31, "after/dopo il 2019" starts on
  2020-01-01; the same holds for months and days ("after March 2016" is from 2016-04-01).
- "March 2016" needs no preposition (a month name next to a year is unambiguous); "03/2016"
  is not a date (Italian laws are numbered "n. 3/2016"). Day/month/year with ``/ . -`` is
  taken only when one reading is impossible or both agree (``16/4/2017``, ``5/5/2017``);
  ``5/4/2017`` is skipped. Two-digit years are never taken. An impossible day falls back to
  its month ("31 April 2017" is April 2017). A day or month without a year
  ("il 5 aprile", "in March") needs today's date and is skipped, except as the start of a
  range whose end has the year ("tra marzo e giugno 2016", "dal 5 al 10 aprile 2017").
- "ago" and "set" are months (agosto, settembre) only when ``lang`` is Italian: in English
  "two years ago 2016" must not become August 2016.
- Decades: "the 1990s", "the '90s", "the nineties", "(negli) anni '90/90/novanta",
  "anni 2000"; two-digit decades are 1920-1990; "early/late/primi/fine" keep the decade.
- Relative expressions ("last year", "l'anno scorso", "ieri") give no dates and no recency.
- Several date expressions: identical ones count once; if one contains all the others
  ("since 2015 … in 2017") it wins, since it covers everything asked; a lone lower bound and
  a lone upper bound make a range ("since 2015 … before 2018"). Anything else, and any list
  ("in 2015 and 2017", "March and June 2016"), is ambiguous: no dates, recency kept.
- ``phrases`` lists every expression recognised, in question order, with its preposition
  ("nel 2017", "still"), even when ambiguity dropped the dates.

Recency cues are whole words, case-insensitive. Italian "ora" counts only as the adverb
("dove si trova ora"): not "l'ora", "un'ora", "a che ora", "ora legale", "1 ora"; "ancora una
volta" (once again), "al momento del…" and "at the moment of/when", "at the latest" and
"up to date" are not recency.

Deterministic (never reads the clock) and fast: the date regexes are compiled once, on first
use (~40 ms, kept out of import time); a question then takes well under a millisecond.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta


@dataclass(frozen=True)
class TimeIntent:
    """What a question says about time. Dates are ISO ``YYYY-MM-DD``, both inclusive."""

    date_from: str | None
    date_to: str | None
    recency: bool
    phrases: tuple[str, ...]

    @property
    def has_dates(self) -> bool:
        return self.date_from is not None or self.date_to is not None


def parse_time(question: str, lang: str) -> TimeIntent:
    """The date range and recency a question asks about; ``lang`` is "it" or "en"."""
    italian = lang.lower().startswith("it")
    # same length as the question, so offsets found in it cut phrases out of the original
    text = question.translate(_APOSTROPHES)
    found = _find_dates(text, italian)
    cues = [(m.start(), m.end()) for m in _RECENCY_RE.finditer(text) if not _vetoed(text, m)]
    lo, hi = _combine(found)
    spans = sorted([(f.start, f.end) for f in found] + cues)
    return TimeIntent(
        date_from=lo.isoformat() if lo else None,
        date_to=hi.isoformat() if hi else None,
        recency=bool(cues),
        phrases=tuple(question[s:e] for s, e in spans),
    )


def names_day(text: str, day: str) -> bool:
    """Whether ``text`` names the ISO ``day`` by its day and month ("on May 25", "il 25
    maggio"), with or without a year, or as a numeric date ("5/25/2017"): a report published
    days later says "on May 25" of the year it appeared in."""
    asked = date.fromisoformat(day)
    for m in _DAY_MONTH_RE.finditer(text.translate(_APOSTROPHES)):
        point = _point(m.group(), italian=True)
        if (
            point is not None
            and (point.month, point.day) == (asked.month, asked.day)
            and point.year in (None, asked.year)
        ):
            return True
    return False


def names_month(text: str, months: set[int]) -> bool:
    """Whether ``text`` names one of ``months`` (1-12) by its full name, English with a
    capital ("in January", not "may" or "march") or Italian ("a gennaio", "il 3 marzo")."""
    for m in _MONTH_NAME_RE.finditer(text):
        word = m.group()
        if _MONTHS[word.lower()] in months and (word[0].isupper() or word.lower() in _ITALIAN):
            return True
    return False


# --- the pieces dates are written with -------------------------------------------------------

_APOSTROPHES = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc\u00b4`", "'"))

_MONTHS: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            "january jan gennaio gen",
            "february feb febbraio",
            "march mar marzo",
            "april apr aprile",
            "may maggio mag",
            "june jun giugno giu",
            "july jul luglio lug",
            "august aug agosto ago",
            "september sept sep settembre sett set",
            "october oct ottobre ott",
            "november nov novembre",
            "december dec dicembre dic",
        ),
        start=1,
    )
    for name in names.split()
}
_ITALIAN_ONLY_MONTHS = frozenset({"ago", "set"})  # English words: "years ago", "a set"
# the months' full names as text and answers write them (rag/answer/messages.py dates with
# them); a report's text is read for these, never for "mar", "set" or "ago"
MONTH_NAMES = {
    "it": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
           "settembre", "ottobre", "novembre", "dicembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}  # fmt: skip
_ITALIAN = frozenset(MONTH_NAMES["it"])
_MONTH_NAME_RE = re.compile(
    r"(?<!\w)(?:" + "|".join(n for names in MONTH_NAMES.values() for n in names) + r")(?!\w)",
    re.IGNORECASE,
)

_MONTH = r"(?<!\w)(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")(?!\w)\.?"
_DAY = r"(?<![\w.,/])(?:3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th|º|°|ª)?(?!\d)"
_YEAR = r"(?<![\d.,])(?:19\d\d|20\d\d|2100)(?!\d)"
# after a year: no more digits and no unit ("1999 km"); then, unless "in/nel" came before it,
# no counted noun either ("after 2000 soldiers died" is a number; "in 2017 civilians fled" not)
_UNITS = (
    "km|chilometri|kilometers|kilometres|miles|miglia|metri|meters|metres|m|kg|chili|tonnellate|"
    "tonnes|tons|t|mm|cm|euro|eur|dollari|dollars|usd|barili|barrels|mw|cv|hp|nodi|knots|feet|"
    "piedi|ore|hours|minuti|minutes|giorni|days|anni|years"
)
_COUNTED = (
    "soldiers|soldati|troops|truppe|men|"
    "uomini|women|donne|people|persone|fighters|combattenti|miliziani|militants|jihadisti|"
    "jihadists|civilians|civili|militari|dead|morti|killed|uccisi|victims|vittime|casualties|"
    "wounded|feriti|refugees|rifugiati|profughi|units|unità|tanks|carri|missiles|missili|"
    "rockets|razzi|drones|droni|aircraft|aerei|vehicles|veicoli|mezzi|prisoners|prigionieri|"
    "hostages|ostaggi"
)
_YEAR_END = rf"(?!\w|[.,/\-–—]\d|\s*[%€$£]|\s+(?:{_UNITS})(?!\w))"
_YEND = rf"{_YEAR_END}(?!\s+(?:{_COUNTED})(?!\w))"


def _alts(phrases: str) -> str:
    """ "in|nel corso del|dell'": the phrases with the space after each (none after "dell'")."""
    parts = []
    for phrase in sorted(phrases.split("|"), key=len, reverse=True):
        body = r"\s+".join(re.escape(word) for word in phrase.split())
        parts.append(body + (r"\s*" if phrase[-1] in "'-" else r"\s+"))
    return r"(?<!\w)(?:" + "|".join(parts) + ")"


_NUMERIC = rf"(?:{_YEAR}-\d{{1,2}}-\d{{1,2}}|(?<![\w.,/])\d{{1,2}}[/.\-]\d{{1,2}}[/.\-]{_YEAR})"
_DMY = rf"{_DAY}\s+(?:of\s+)?{_MONTH},?\s+(?:del\s+)?{_YEAR}"
_MDY = rf"{_MONTH}\s+(?:the\s+)?{_DAY},?\s+{_YEAR}"
_MY = rf"{_MONTH},?\s+(?:of\s+|del\s+)?{_YEAR}"
_DAY_PART = rf"(?:{_DMY}|{_MDY}|{_NUMERIC})"
# a point in time that has its year, then one that may borrow it from the end of a range
_FULL = rf"(?:{_DAY_PART}|{_MY}|{_YEAR})"
_PARTIAL = rf"(?:{_FULL}|{_DAY}\s+(?:of\s+)?{_MONTH}|{_MONTH}\s+(?:the\s+)?{_DAY}|{_MONTH}|{_DAY})"
_ARTICLE = r"(?:(?:il|lo|la|the)\s+|l'\s*)?"
# a day named by its day and month, in either order, or a numeric date (names_day)
_DAY_MONTH_RE = re.compile(
    rf"{_NUMERIC}|{_DAY}\s+(?:of\s+)?{_MONTH}|{_MONTH}\s+(?:the\s+)?{_DAY}", re.IGNORECASE
)

_IN_YEAR = _alts(
    "in|during|throughout|in the year|the year|in early|in late|in mid|early|late|mid-|mid|"
    "summer|winter|spring|autumn|fall|nel|nell'anno|durante il|durante l'anno|nel corso del|"
    "nel corso dell'anno|per tutto il|dell'anno|l'anno|inizio|fine|metà|a inizio|a fine|"
    "a metà|estate|inverno|primavera|autunno|nell'estate del|nell'inverno del|"
    "nella primavera del|nell'autunno del|quarter|trimestre|semestre"
)
_IN_MONTH = _alts(
    "in|during|throughout|of|in the month of|nel|nell'|nel mese di|a|ad|di|del|dell'|durante|"
    "durante il|durante l'|il|l'"
)
_ON_DAY = _alts("on|on the|the|il|l'|del|dell'|nel|nell'|all'")
_LIST_SEP = r"(?:\s*,\s*|\s+(?:and|or|e|ed|o|oppure)\s+)"


# --- turning a match into a date range ---------------------------------------------------------


@dataclass(frozen=True)
class _Point:
    """A year, a month of a year or a day; year/month may be missing at the start of a range."""

    year: int | None
    month: int | None = None
    day: int | None = None

    def first(self) -> date:
        assert self.year is not None
        return date(self.year, self.month or 1, self.day or 1)

    def last(self) -> date:
        assert self.year is not None
        month = self.month or 12
        return date(self.year, month, self.day or calendar.monthrange(self.year, month)[1])


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    lo: date | None
    hi: date | None
    ambiguous: bool = False


@dataclass(frozen=True)
class _Bounds:
    lo: date | None
    hi: date | None
    ambiguous: bool = False


_ISO_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_SLASH_RE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")
_TOKEN_RE = re.compile(r"(\d+)(?:st|nd|rd|th|º|°|ª)?|([^\W\d_]+)", re.IGNORECASE)


def _valid(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def _month(word: str, italian: bool) -> int | None:
    """The month a word names, None for other words; raises for English "ago"/"set"."""
    word = word.lower()
    if word in _ITALIAN_ONLY_MONTHS and not italian:
        raise ValueError(word)
    return _MONTHS.get(word)


def _point(text: str, italian: bool) -> _Point | None:
    """The point a matched date text names; None when it is invalid or ambiguous."""
    if m := _ISO_RE.fullmatch(text):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
        return _Point(year, month, day) if _valid(year, month, day) else None
    if m := _SLASH_RE.fullmatch(text):
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        readings = {(month, day) for month, day in ((b, a), (a, b)) if _valid(year, month, day)}
        if len(readings) != 1:  # impossible, or day/month vs month/day undecidable
            return None
        month, day = readings.pop()
        return _Point(year, month, day)
    return _worded_point(text, italian)


def _worded_point(text: str, italian: bool) -> _Point | None:
    """ "5th of April 2017", "marzo del 2016", "2017", "aprile": the numbers and the month."""
    found: dict[str, int] = {}
    try:
        for m in _TOKEN_RE.finditer(text):
            if m[1] is not None:
                found["year" if len(m[1]) == 4 else "day"] = int(m[1])
            elif (month := _month(m[2], italian)) is not None:
                found["month"] = month
    except ValueError:
        return None
    year, month, day = found.get("year"), found.get("month"), found.get("day")
    if year and month and day and not _valid(year, month, day):
        return None
    return _Point(year, month, day)


def _range(m: re.Match[str], italian: bool) -> _Bounds | None:
    start, end = _point(m["a"], italian), _point(m["b"], italian)
    if start is None or end is None or end.year is None:
        return None
    if start.year is None:  # "tra marzo e giugno 2016", "dal 5 al 10 aprile 2017"
        if start.month is None:
            if end.month is None or end.day is None:
                return None
            start = replace(start, month=end.month)
        start = replace(start, year=end.year)
    try:
        lo, hi = start.first(), end.last()
    except ValueError:  # 31 April taken from the range's end
        return None
    # backwards ("from 2017 to 2015"): a slip, but of which year? no dates
    return _Bounds(lo, hi) if lo <= hi else _Bounds(None, None, ambiguous=True)


def _dash_range(m: re.Match[str], italian: bool) -> _Bounds | None:
    first, last = int(m["a"]), m["b"]
    end = int(last) if len(last) == 4 else first // 100 * 100 + int(last)  # "2015-17"
    return _Bounds(date(first, 1, 1), date(end, 12, 31)) if first < end <= 2100 else None


_DECADE_WORDS = {
    "twenties": 20, "thirties": 30, "forties": 40, "fifties": 50, "sixties": 60,
    "seventies": 70, "eighties": 80, "nineties": 90, "venti": 20, "trenta": 30,
    "quaranta": 40, "cinquanta": 50, "sessanta": 60, "settanta": 70, "ottanta": 80,
    "novanta": 90,
}  # fmt: skip


def _decade(m: re.Match[str], italian: bool) -> _Bounds | None:
    if m["c4"]:
        first = int(m["c4"])
    elif m["c2"]:
        first = 1900 + int(m["c2"])
    else:
        first = 1900 + _DECADE_WORDS[m["w"].lower()]
    if " ".join((m["intro"] or "").lower().split()) in _DECADE_SINCE:  # "since the 1990s"
        return _Bounds(date(first, 1, 1), None)
    return _Bounds(date(first, 1, 1), date(first + 9, 12, 31))


_WEAK_INTROS = frozenset({"da", "fino a", "fino ad", "sino a", "up to"})  # + a count: "up to 2000"


def _open(kind: str) -> Callable[[re.Match[str], bool], _Bounds | None]:
    def bounds(m: re.Match[str], italian: bool) -> _Bounds | None:
        point = _point(m["p"], italian)
        if point is None or point.year is None:
            return None
        if " ".join(m["intro"].lower().split()) in _WEAK_INTROS and point.month is None:
            return None
        if kind == "since":
            return _Bounds(point.first(), None)
        if kind == "after":
            return _Bounds(point.last() + timedelta(days=1), None)
        if kind == "before":
            return _Bounds(None, point.first() - timedelta(days=1))
        return _Bounds(None, point.last())  # until

    return bounds


def _single(m: re.Match[str], italian: bool) -> _Bounds | None:
    point = _point(m["p"], italian)
    if point is None or point.year is None:
        return None
    return _Bounds(point.first(), point.last())


def _listed(m: re.Match[str], italian: bool) -> _Bounds | None:
    """ "March and June 2016", "5 e 6 aprile 2017": more than one date, so ambiguous."""
    point = _point(m["p"], italian)
    if point is None or point.year is None:
        return None
    try:
        named = {_month(w, italian) for w in re.findall(r"[^\W\d_]+", m["head"])} - {None}
    except ValueError:
        return None
    days = {int(d) for d in re.findall(r"\d+", m["head"])}
    if named <= {point.month} and days <= {point.day}:
        return _Bounds(point.first(), point.last())
    return _Bounds(None, None, ambiguous=True)


def _years(m: re.Match[str], italian: bool) -> _Bounds | None:
    years = {int(y) for y in re.findall(r"(?<!\d)\d{4}(?!\d)", m[0])}
    if len(years) > 1:  # "in 2015 and 2017", "nel 2015 e nel 2017"
        return _Bounds(None, None, ambiguous=True)
    year = years.pop()
    return _Bounds(date(year, 1, 1), date(year, 12, 31))


# --- the patterns, most specific first: what one claims, later ones do not see -------------------

_Handler = Callable[[re.Match[str], bool], _Bounds | None]


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_YEAR_LIST = rf"{_YEAR}(?:{_LIST_SEP}(?:{_IN_YEAR}|{_alts('of|del')})?{_YEAR}){{0,8}}"
_SINCE_TAIL = r"(?:\s+(?:in\s+poi|onwards?|forward))?"
_DECADE_SINCE = frozenset({"since", "ever since", "from", "dagli", "sin dagli", "fin dagli"})
_PATTERNS: tuple[tuple[str, _Handler], ...] = (
    (
        rf"{_alts('between|tra|fra')}{_ARTICLE}(?P<a>{_PARTIAL})"
        rf"\s+(?:and|e|ed)\s+{_ARTICLE}(?P<b>{_FULL}){_YEND}",
        _range,
    ),
    (
        _alts("from|dal|dall'|dalla|da|sin dal|fin dal|a partire dal")
        + rf"(?P<a>{_PARTIAL})\s*"
        + _alts(
            "to|until|till|through|thru|up to|up until|al|all'|alla|a|ad|fino al|fino all'|"
            "fino a|sino al"
        )
        + rf"(?P<b>{_FULL}){_YEND}",
        _range,
    ),
    (
        _alts(
            "in|during|throughout|between|over|in the years|the years|in the period|the period|"
            "nel|durante|durante il|tra|tra il|fra|fra il|nel periodo|il periodo|negli anni|"
            "gli anni|nel biennio|nel triennio|del|of"
        )
        + rf"(?P<a>{_YEAR})\s*[-–—/]\s*(?P<b>{_YEAR}|\d\d(?!\d)){_YEND}",
        _dash_range,
    ),
    (
        rf"(?<!\w)(?P<intro>{_alts('in|during|throughout|of|since|ever since|from')})?"
        r"(?:(?:the\s+)?(?:(?:early|late|mid)[-\s]?)?(?P<c4>(?:19|20)\d0)'?s"
        r"|the\s+(?:(?:early|late|mid)[-\s]?)?(?:'?(?P<c2>[2-9]0)'?s"
        r"|(?P<w>twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties)))"
        r"(?!\w)",
        _decade,
    ),
    (
        r"(?<!\w)(?P<intro>"
        + _alts("negli|degli|agli|dagli|sin dagli|fin dagli|sugli|gli|nei|dei|i")
        + r")?"
        r"(?:(?:primi|fine|inizio|metà|tardi)\s+)?anni\s+(?:'\s*)?"
        r"(?:(?P<c4>(?:19|20)\d0)|(?P<c2>[2-9]0)"
        r"|(?P<w>venti|trenta|quaranta|cinquanta|sessanta|settanta|ottanta|novanta))(?!\w)",
        _decade,
    ),
    (
        r"(?P<intro>"
        + _alts(
            "since|ever since|from|starting in|starting from|beginning in|dal|dall'|dalla|da|"
            "sin dal|fin dal|sin dall'|fin dall'|sin da|fin da|a partire dal|"
            "a partire dall'|a partire da"
        )
        + rf")(?P<p>{_FULL}){_YEND}{_SINCE_TAIL}",
        _open("since"),
    ),
    (
        r"(?P<intro>"
        + _alts("after|post-|post|later than|dopo|dopo il|dopo l'")
        + rf")(?P<p>{_FULL}){_YEND}",
        _open("after"),
    ),
    (
        r"(?P<intro>"
        + _alts("before|prior to|earlier than|pre-|prima del|prima dell'|prima di|prima della")
        + rf")(?P<p>{_FULL}){_YEND}",
        _open("before"),
    ),
    (
        r"(?P<intro>"
        + _alts(
            "until|till|up until|up to|through|thru|until the end of|by the end of|fino al|"
            "fino all'|fino a|fino ad|sino al|sino a|fino alla fine del|fino alla fine dell'|"
            "entro la fine del"
        )
        + rf")(?P<p>{_FULL}){_YEND}",
        _open("until"),
    ),
    (
        rf"(?:{_IN_MONTH}|{_ON_DAY})?(?P<head>(?:(?:{_MONTH}|{_DAY}){_LIST_SEP}){{1,8}}+)"
        rf"(?:{_IN_MONTH}|{_ON_DAY})?(?P<p>{_DMY}|{_MY}){_YEND}",
        _listed,
    ),
    (rf"(?:{_ON_DAY})?(?P<p>{_DAY_PART}){_YEND}", _single),
    (rf"(?:{_IN_MONTH})?(?P<p>{_MY}){_YEND}", _single),
    (rf"{_IN_YEAR}{_YEAR_LIST}{_YEAR_END}", _years),
    (rf"{_alts('of|del')}{_YEAR_LIST}{_YEND}", _years),
    # the adjective year: "the 2017 attack", "its 2016 report"
    (
        _alts("the|a|an|its|their|this|that|his|her|our") + rf"{_YEAR_LIST}{_YEND}(?=\s+[^\W\d_])",
        _years,
    ),
)


@functools.cache
def _patterns() -> tuple[tuple[re.Pattern[str], _Handler], ...]:
    """Compiled on first use, not at import: ~40 ms that ``newsrag --help`` need not pay."""
    return tuple((_compile(source), handler) for source, handler in _PATTERNS)


_MASK = "\x00"  # claimed text: neither a word character nor a space, so nothing matches across it


def _find_dates(text: str, italian: bool) -> list[_Found]:
    found: list[_Found] = []
    for pattern, handler in _patterns():
        for m in pattern.finditer(text):
            bounds = handler(m, italian)
            if bounds is None:
                continue
            found.append(_Found(m.start(), m.end(), bounds.lo, bounds.hi, bounds.ambiguous))
            text = text[: m.start()] + _MASK * (m.end() - m.start()) + text[m.end() :]
    return found


def _contains(outer: _Found, inner: _Found) -> bool:
    return (outer.lo is None or (inner.lo is not None and outer.lo <= inner.lo)) and (
        outer.hi is None or (inner.hi is not None and inner.hi <= outer.hi)
    )


def _combine(found: list[_Found]) -> tuple[date | None, date | None]:
    if not found or any(f.ambiguous for f in found):
        return None, None
    for outer in found:
        if all(_contains(outer, f) for f in found):
            return outer.lo, outer.hi
    distinct = {(f.lo, f.hi) for f in found}
    if len(distinct) == 2:  # "since 2015 … before 2018"
        (lo1, hi1), (lo2, hi2) = distinct
        lo, hi = lo1 or lo2, hi1 or hi2
        if (hi1 is None) != (hi2 is None) and (lo1 is None) != (lo2 is None) and lo and hi:
            return (lo, hi) if lo <= hi else (None, None)
    return None, None


# --- recency ------------------------------------------------------------------------------------

_RECENCY = (
    "still", "currently", "now", "nowadays", "today", "latest", "recent", "recently",
    "so far", "at the moment", "these days", "ongoing", "current", "lately", "at present",
    "to date", "ancora", "attualmente", "oggi", "adesso", "ora", "ultime", "ultimi", "ultima",
    "ultimo", "ultima ora", "ultim'ora", "recente", "recenti", "di recente", "recentemente",
    "ultimamente", "in corso", "al momento", "oggigiorno", "finora", "tuttora", "tutt'ora",
    "attuale", "attuali",
)  # fmt: skip
_RECENCY_RE = _compile(
    r"(?<!\w)(?:"
    + "|".join(r"\s+".join(map(re.escape, w.split())) for w in sorted(_RECENCY, key=len)[::-1])
    + r")(?!\w)"
)
# the senses that are not "now": (cue, what may not come before it, what may not follow it)
_VETOES: dict[str, tuple[re.Pattern[str] | None, re.Pattern[str] | None]] = {
    # the noun "ora": "l'ora", "un'ora", "a che ora", "ogni ora", "1 ora", "ora legale"
    "ora": (
        _compile(
            r"(?:'|(?<!\w)(?:un|una|che|quale|quella|questa|stessa|ogni|la|prima|seconda|mezza|"
            r"alla|della|nella|sulla|dalla|\d+)\s+)$"
        ),
        _compile(r"\s+(?:dell'|(?:di|del|della|legale|locale|solare|esatta|italiana|zero)(?!\w))"),
    ),
    "ancora": (None, _compile(r"\s+una\s+volta(?!\w)")),  # "once again"
    "at the moment": (None, _compile(r"\s+(?:of|when)(?!\w)")),
    "al momento": (
        None,
        _compile(r"\s+(?:dell'|(?:del|della|dello|dei|degli|delle|di)(?!\w)|in\s+cui(?!\w))"),
    ),
    "so far": (None, _compile(r"\s+(?:from|away|as)(?!\w)")),
    "latest": (_compile(r"(?<!\w)at\s+the\s+$"), None),  # "by 2018 at the latest"
    "to date": (_compile(r"(?<!\w)up\s+$"), None),  # "up to date"
}


def _vetoed(text: str, m: re.Match[str]) -> bool:
    """Whether a recency word is used in another sense here ("un'ora", "at the latest")."""
    before, after = _VETOES.get(" ".join(m[0].lower().split()), (None, None))
    return bool(
        (before and before.search(text, max(0, m.start() - 40), m.start()))
        or (after and after.match(text, m.end()))
    )
