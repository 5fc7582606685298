"""Text clean-up shared by every source format, and the title rule for plain-text articles.

``clean_text`` normalises Unicode and whitespace and drops page-chrome lines ("skip to main
content", "Back To Top", "condividi", cookie and newsletter prompts) that scrapers leave in.
Chrome is matched against WHOLE lines only, so a sentence that merely contains "print" or
"stampa" is never cut.

Unicode form: NFC, not NFKC. NFKC rewrites what the publisher wrote ("km²" → "km2", "½" →
"1⁄2", "1º" → "1o", "™" → "TM"), and citations must quote the article as published. The
places that need compatibility folding already do it: the e5/XLM-R tokenizer applies NFKC
itself, and lexical search can fold its own tokens.
"""

from __future__ import annotations

import re
import unicodedata

from .dates import parse_date

# invisible characters that only break word matching. ZWNJ/ZWJ (U+200C/U+200D) are kept on
# purpose: they are spelling in Persian and Kurdish and join emoji sequences.
_INVISIBLE = dict.fromkeys(
    [
        *(0x00AD, 0x180E, 0x200B, 0x200E, 0x200F, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF),
        *range(0x202A, 0x202F),  # bidi embeddings and overrides
        *range(0x2066, 0x206A),  # bidi isolates
    ]
)
_LINE_BREAKS = {
    "\r\n": "\n",
    "\r": "\n",
    "\x0b": "\n",
    "\x0c": "\n",
    "\x1c": "\n",
    "\x1d": "\n",
    "\x1e": "\n",
    "\x85": "\n",
    "\u2028": "\n",
    "\u2029": "\n\n",
}
_BREAK_RE = re.compile("|".join(re.escape(k) for k in _LINE_BREAKS))
# every control character except \n and \t (tabs become spaces below)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
# tabs and every Unicode space separator (NBSP, narrow NBSP, thin space, ideographic space …)
_SPACES_RE = re.compile(r"[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000 ]+")
_BLANK_LINES_RE = re.compile(r"\n{3,}")

# Page chrome, matched against a whole trimmed line, case-insensitively. Decorations such as
# arrows, bullets and pipes around the phrase are allowed ("↑ Back to top", "» Leggi anche").
_CHROME = [
    # navigation
    r"skip to (the )?(main )?content",
    r"skip (to )?navigation",
    r"jump to (main )?content",
    r"(back|return|go) to (the )?top",
    r"top",
    r"torna (su|in alto|all'inizio|all’inizio)",
    r"(vai|salta) al contenuto( principale)?",
    r"vai (al menu|alla navigazione)",
    r"(main )?menu",
    r"home( ?page)?",
    r"search|cerca",
    r"(log ?in|sign ?in|sign up|register|accedi|registrati|esci|log ?out)",
    r"breaking news|ultim'ora|ultim’ora",
    # sharing and printing
    r"(share|tweet|post|condividi|pubblica)( (this|this article|this story|l'articolo"
    r"|l’articolo|su|on|via))?( (facebook|twitter|x|linkedin|whatsapp|telegram|email"
    r"|e-mail|reddit|pinterest))?",
    r"(facebook|twitter|x|linkedin|whatsapp|telegram|email|e-mail|reddit|pinterest"
    r"|instagram|youtube|rss)",
    r"click to (share|print|email).*",
    r"(copy|copia) (link|url|il link)",
    r"(print|stampa|print this( article| page)?|stampa (l'articolo|l’articolo|questa pagina))",
    r"(follow us|seguici)( on| su)?( (facebook|twitter|x|instagram|telegram|youtube|linkedin))?",
    # related content
    r"(leggi anche|read (more|also)|see also|related( articles| stories| posts)?"
    r"|articoli correlati|potrebbe interessarti|ti potrebbe interessare|you may also like"
    r"|more from .{1,40}|most read|i più letti|più letti)(\s*[:»›>\-–—].{0,200})?",
    # cookies, newsletters, paywalls, ads
    r"(cookie policy|cookie settings|privacy policy|informativa (sulla )?privacy|informativa"
    r" cookie|gestisci (i )?cookie|impostazioni (dei )?cookie)",
    r"(this (web)?site uses cookies|questo sito (utilizza|usa) (i )?cookie).{0,300}",
    r"(accept|accept all|accept cookies|reject all|accetta|accetta tutti|rifiuta|ok|got it"
    r"|ho capito)",
    r"(subscribe|sign up|iscriviti)( (to|for|alla))?( (our|la nostra|nostra))? newsletter.{0,120}",
    r"(subscribe|abbonati|abbonamento)",
    r"(advertisement|advertising|sponsored|pubblicità|adv|annuncio)",
    r"(reading time|tempo di lettura)[: ].{0,20}",
    r"(loading|caricamento)(\.\.\.|…)?",
    # copyright footers
    r"(©|\(c\)|copyright)( ©)? ?\d{4}.{0,160}",
    r".{0,160}(all rights reserved|tutti i diritti riservati|riproduzione riservata)\.?",
]
_DECORATION = r"[\s↑↓←→⬆⬇▲▼»«›‹>|•·*#\-–—:]*"
_CHROME_RE = re.compile(
    rf"^{_DECORATION}(?:{'|'.join(_CHROME)}){_DECORATION}$", re.IGNORECASE | re.DOTALL
)

_MD_HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_SETEXT_RE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_TITLE_MAX_CHARS = 200
_TITLE_MAX_WORDS = 30
_TITLE_SEARCH_LINES = 3


def clean_text(text: str) -> str:
    """Normalised text: NFC, no invisible/control characters, tidy whitespace, no chrome lines.

    Paragraphs are separated by one blank line (``"\\n\\n"``); lines inside a paragraph are
    kept; leading and trailing blank lines are removed.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    text = _BREAK_RE.sub(lambda m: _LINE_BREAKS[m.group()], text)
    text = text.translate(_INVISIBLE)
    text = _CONTROL_RE.sub("", text)
    lines = []
    for raw in text.split("\n"):
        line = _SPACES_RE.sub(" ", raw).strip()
        if line and is_chrome(line):
            continue
        lines.append(line)
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()


def is_chrome(line: str) -> bool:
    """True if the whole line is page furniture rather than article text."""
    return len(line) <= 400 and _CHROME_RE.match(line.strip()) is not None


def split_title(text: str) -> tuple[str, str]:
    """``(title, body)`` for a plain-text or Markdown article (already cleaned).

    The title is the first Markdown heading among the first lines, else the first line that
    looks like a headline (short, no final period) among the first three, else the first
    line. A heading or headline is taken OUT of the body: it lives in ``Article.title`` and
    the chunker puts the title in front of every chunk's embedding text, so keeping it would
    repeat it in the first chunk and in citations. Every other line stays, in order (a teaser
    of another story above the headline is still article text). When the title is only the
    first line (nothing looked like a headline), that line is content and the body is the
    whole text.
    """
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if line.strip()][: _TITLE_SEARCH_LINES + 2]
    if not candidates:
        return "", text

    for i in candidates:
        heading = _MD_HEADING_RE.match(lines[i])
        if heading:
            return heading.group(2).strip(), _without(lines, i, i + 1)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _SETEXT_RE.match(nxt) and _looks_like_headline(lines[i].strip()):
            return lines[i].strip(), _without(lines, i, i + 2)

    for i in candidates[:_TITLE_SEARCH_LINES]:
        if _looks_like_headline(lines[i].strip()):
            return lines[i].strip(), _without(lines, i, i + 1)

    first = lines[candidates[0]].strip()
    return _shorten(first), text


def _looks_like_headline(line: str) -> bool:
    # a dateline ("Wed 05 Apr 2017") is short and has no period, but it is not a headline
    if not line or len(line) > _TITLE_MAX_CHARS or len(line.split()) > _TITLE_MAX_WORDS:
        return False
    if line.endswith((".", ",", ";", ":")) and not line.endswith("..."):
        return False
    if sum(ch.isalpha() for ch in line) < 3:
        return False
    return parse_date(line) is None


def _without(lines: list[str], start: int, end: int) -> str:
    rest = [*lines[:start], *lines[end:]]
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(rest)).strip()


def _shorten(line: str, limit: int = 120) -> str:
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return f"{cut}…"
