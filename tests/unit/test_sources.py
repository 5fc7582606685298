"""discover / read_file / parse_field_map: every format, every bad input, the real data."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ingest.sources as sources
from ingest.sources import (
    MAX_SAME_PROBLEM,
    SUPPORTED,
    discover,
    parse_field_map,
    parse_front_matter,
    read_file,
)
from rag.errors import InputError
from rag.types import Article, Problem

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
FAKES_MAP = "id=unit_id,title=article_title,text=article_content"
MB = 1024 * 1024
BODY = "The Syrian Democratic Forces said on Friday that they had taken the town after a siege."


def read(path: Path, field_map: dict | None = None, max_bytes: int = 10 * MB):
    items = list(read_file(path, field_map=field_map, max_bytes=max_bytes))
    articles = [i for i in items if isinstance(i, Article)]
    problems = [i for i in items if isinstance(i, Problem)]
    assert len(articles) + len(problems) == len(items)
    return articles, problems


def write_jsonl(path: Path, records: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def rec(i: int, **kw) -> dict:
    return {"id": f"a{i}", "title": f"Title {i}", "text": f"{BODY} Story {i}.", **kw}


# --- parse_field_map ----------------------------------------------------------------------------
def test_field_map_parses_the_cli_form():
    assert parse_field_map(FAKES_MAP) == {
        "id": "unit_id", "title": "article_title", "text": "article_content",
    }  # fmt: skip
    assert parse_field_map(" Text = body , date=published_at,") == {
        "text": "body", "date": "published_at",
    }  # fmt: skip
    assert parse_field_map(None) == {} and parse_field_map("  ") == {}


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("text", "is not FIELD=COLUMN"),
        ("text=", "is not FIELD=COLUMN"),
        ("=body", "is not FIELD=COLUMN"),
        ("body=text", "did you mean text=body?"),
        ("headline=title_col", "the fields are id, title, text, lang, date, url, source"),
        ("text=a,text=b", "mapped twice"),
        ("title=x,text=x", "mapped to both"),
    ],
)
def test_bad_field_map_says_the_expected_form(spec, says):
    with pytest.raises(InputError) as err:
        parse_field_map(spec)
    assert says in str(err.value)
    assert "FIELD=COLUMN" in str(err.value) or "each" in str(err.value)


# --- discover ----------------------------------------------------------------------------------
def test_discover_walks_folders_in_order_and_skips_what_is_not_an_article(tmp_path):
    root = tmp_path / "archive"
    names = ["b.md", "a.txt", "c.xlsx", "sub/d.jsonl", "sub/e.CSV", "sub/z.doc", "sub/y.doc",
             ".hidden.txt", ".git/x.txt", "index/store.jsonl", "README.md", "LICENSE"]  # fmt: skip
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(BODY)
    files, problems = discover([root], exclude=[root / "index"])
    assert [f.relative_to(root).as_posix() for f in files] == [
        "a.txt",
        "b.md",
        "sub/d.jsonl",
        "sub/e.CSV",
    ]
    # every file accounted for: the unsupported ones by type, with a count and what to do
    assert [p.reason.split(" (")[0] for p in problems] == [
        "2 .doc files not read",
        "1 .xlsx file not read",
    ]
    assert "save them as .docx or PDF" in problems[0].reason and "sub/y.doc" in problems[0].reason
    assert "export them as CSV" in problems[1].reason
    assert {p.path for p in problems} == {str(root)}


def test_discover_reports_missing_paths_and_unsupported_files_named_explicitly(tmp_path):
    (tmp_path / "doc.pages").write_bytes(b"PK")
    (tmp_path / "ok.json").write_text("[]")
    files, problems = discover([tmp_path / "gone", tmp_path / "doc.pages", tmp_path / "ok.json"])
    assert files == [tmp_path / "ok.json"]
    assert [p.path for p in problems] == [str(tmp_path / "gone"), str(tmp_path / "doc.pages")]
    assert "no such file or folder" in problems[0].reason
    assert "'.pages'" in problems[1].reason
    assert all(ext in problems[1].reason for ext in SUPPORTED)


def test_discover_reports_a_folder_without_any_supported_file(tmp_path):
    (tmp_path / "sheets").mkdir()
    for n in range(3):
        (tmp_path / "sheets" / f"{n}.xlsx").write_bytes(b"PK")
    files, problems = discover([tmp_path / "sheets"])
    assert files == []
    assert len(problems) == 1 and "3 .xlsx" in problems[0].reason and ".jsonl" in problems[0].reason


def test_discover_lists_a_file_once_and_keeps_argument_order(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(BODY)
    b.write_text(BODY)
    files, _ = discover([b, tmp_path, a])
    assert files == [b, a]


def test_discover_takes_an_excluded_path_out_even_when_named(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    (index / "x.jsonl").write_text("{}")
    assert discover([index / "x.jsonl", tmp_path], exclude=[index]) == ([], [])


@pytest.mark.parametrize("content", [[], [".hidden.txt", "README.md", "LICENSE", ".git/x.md"]])
def test_discover_reports_a_folder_with_nothing_to_read(tmp_path, content):
    folder = tmp_path / "archive"
    folder.mkdir()
    for name in content:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(BODY)
    files, (problem,) = discover([folder])
    assert files == [] and problem.path == str(folder)
    assert "nothing to read in this folder" in problem.reason and ".jsonl" in problem.reason


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_discover_follows_symlinked_folders_and_survives_loops(tmp_path):
    root, elsewhere = tmp_path / "archive", tmp_path / "elsewhere"
    (root / "real").mkdir(parents=True)
    elsewhere.mkdir()
    (root / "real" / "a.txt").write_text(BODY)
    (elsewhere / "b.txt").write_text(BODY)
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    (root / "real" / "again").symlink_to(root / "real", target_is_directory=True)  # a loop
    (elsewhere / "up").symlink_to(root, target_is_directory=True)  # a loop through the link
    (root / "self.txt").symlink_to(root / "self.txt")  # a symlink to itself
    files, problems = discover([root])
    assert [f.relative_to(root).as_posix() for f in files] == ["linked/b.txt", "real/a.txt"]
    assert [Path(p.path).name for p in problems] == ["self.txt"]
    assert "symlink" in problems[0].reason


# --- plain text and Markdown -------------------------------------------------------------------
def test_text_file_title_body_and_path_id(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("skip to Main Content\n\nRaqqa falls to the SDF\n\n" + BODY + "\n\nBack To Top")
    (article,), problems = read(path)
    assert problems == []
    assert article.title == "Raqqa falls to the SDF"
    assert article.text == BODY
    assert article.id == "file:story.txt"  # relative to the current directory (tmp_path)
    assert article.path == str(path.resolve()) and article.line is None
    assert (article.lang, article.date, article.url, article.extra) == (None, None, None, {})


def test_path_id_outside_the_current_directory_is_absolute(tmp_path, monkeypatch):
    path = tmp_path / "data" / "story.txt"
    path.parent.mkdir()
    path.write_text("Title\n\n" + BODY)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (article,), _ = read(path)
    assert article.id == "file:" + path.resolve().as_posix()


def test_front_matter_gives_metadata_and_keeps_colons_in_values(tmp_path):
    path = tmp_path / "a.md"
    path.write_text(
        "---\n"
        "title: Siria: Isis implode a Deir Ezzor\n"
        "date: 5 aprile 2017\n"
        "lang: it-IT\n"
        "source: 'Analisi Difesa'\n"
        'url: "https://example.org/siria"\n'
        "tags:\n  - Siria\n  - Isis\n"
        "# a comment\n"
        "---\n\n# Siria: Isis implode a Deir Ezzor\n\n"
        "Il **gruppo** si divide, [secondo](http://x) fonti.\n"
    )  # fmt: skip
    (article,), problems = read(path)
    assert problems == []
    assert article.title == "Siria: Isis implode a Deir Ezzor"
    assert (
        article.text == "Il gruppo si divide, secondo fonti."
    )  # heading equal to the title dropped
    assert (article.date, article.lang, article.source) == ("2017-04-05", "it", "Analisi Difesa")
    assert article.id == article.url == "https://example.org/siria"
    assert article.extra == {"tags": "Siria, Isis"}


def test_front_matter_id_wins_over_url(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(f"---\nid: 42\nurl: https://example.org/a\n---\nTitle\n\n{BODY}")
    (article,), _ = read(path)
    assert article.id == "42" and article.url == "https://example.org/a"


def test_front_matter_parser_is_yaml_safe():
    meta, rest = parse_front_matter(
        '---\nlang: no\ndate: 2017-04-05\nquote: "a \\"b\\""\n---\nBody'
    )
    assert meta == {"lang": "no", "date": "2017-04-05", "quote": 'a "b"'}  # strings, not False/date
    assert rest == "Body"
    assert parse_front_matter("--- not front matter\nBody") == ({}, "--- not front matter\nBody")


def test_markdown_heading_is_the_title(tmp_path):
    path = tmp_path / "a.markdown"
    path.write_text(
        "# Mosul, the army enters the city\n\n![map](m.png)\n" + BODY + "\n\n## Next\n\nMore."
    )
    (article,), _ = read(path)
    assert article.title == "Mosul, the army enters the city"
    assert article.text == BODY + "\n\nNext\n\nMore."


def test_bad_front_matter_date_keeps_the_article_and_reports_the_value(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(f"---\ndate: last Tuesday\n---\nTitle\n\n{BODY}")
    (article,), (problem,) = read(path)
    assert article.date is None
    assert "'last Tuesday'" in problem.reason and "kept without a date" in problem.reason


def test_field_map_matches_front_matter_keys_whatever_their_case(tmp_path):
    path = tmp_path / "a.md"
    path.write_text(f"---\nHeadline: Raqqa falls\nPubDate: 2017-10-20\n---\n\n{BODY}\n")
    (article,), problems = read(path, field_map=parse_field_map("title=Headline,date=PUBDATE"))
    assert problems == []
    assert (article.title, article.date, article.text) == ("Raqqa falls", "2017-10-20", BODY)
    assert article.extra == {}  # mapped keys are used, not kept as extra metadata


def test_seeds_read_with_title_chrome_gone_and_teaser_kept(seeds_dir):
    (it,), problems = read(seeds_dir / "001_af3cd1c6c052b50c.txt")
    assert problems == []
    assert (
        it.title
        == "Siria, Isis implode a Deir Ezzor: Scontri interni allo Stato Islamico a Sha’fah"
    )
    assert it.text.startswith(
        "Il JNIM ha attaccato e, presumibilmente, conquistato una base ad Acharan."
    )
    assert "Timbuktu" in it.text and "Cizire Storm" in it.text
    assert it.id.startswith("file:") and it.id.endswith("001_af3cd1c6c052b50c.txt")
    (en,), _ = read(seeds_dir / "000_6473641cabe65d09.txt")
    assert en.title == "Syria, Isis implodes at Deir Ezzor; clashes inside Islamic State at Sha’fah"
    for article in (it, en):
        assert "skip to" not in article.text.lower() and "back to top" not in article.text.lower()
        assert article.title not in article.text


# --- HTML --------------------------------------------------------------------------------------
@pytest.fixture(params=["trafilatura", "lxml"])
def extractor(request, monkeypatch):
    """Both extraction paths: trafilatura (when importable) and our own lxml fallback."""
    if request.param == "lxml":
        monkeypatch.setattr(sources, "_trafilatura", lambda html: None)
    else:
        try:
            import trafilatura  # noqa: F401
        except ImportError as err:
            pytest.skip(f"trafilatura cannot be imported ({err}): only the lxml fallback runs")
    return request.param


def test_sample_html_page(extractor):
    (article,), problems = read(SAMPLE / "2023-05-18-mali-jnim-base.html")
    assert problems == []
    canonical = "https://sample.newsrag.example/sahel/2023/05/mali-jnim-attacca-base-mopti"
    assert article.id == article.url == canonical  # <link rel=canonical>, not og:url
    assert article.title == "Mali, il JNIM attacca una base dell'esercito nella regione di Mopti"
    assert (article.date, article.lang, article.source) == ("2023-05-18", "it", "newsrag-sample")
    assert article.text.startswith("All'alba di giovedì i miliziani del Gruppo di sostegno")
    assert article.text.endswith("rende difficile rifornire i centri abitati.")
    assert article.text.count("\n\n") == 2  # three paragraphs
    for chrome in ["skip to", "Cookie", "Accetta", "Home", "Medio Oriente", "newsletter",
                   "Condividi", "Stampa", "Articoli correlati", "Djibo", "Torna su", "©",
                   "diritti riservati", "Redazione", article.title]:  # fmt: skip
        assert chrome not in article.text, chrome


def page(body: str, head: str = "", lang: str = "") -> str:
    attr = f' lang="{lang}"' if lang else ""
    return (
        f"<!DOCTYPE html><html{attr}><head><meta charset='utf-8'>{head}</head>"
        f"<body>{body}</body></html>"
    )


def test_html_date_from_time_element_or_json_ld(tmp_path, extractor):
    p = "<p>" + BODY * 3 + "</p>"
    a = tmp_path / "a.html"
    a.write_text(
        page(f"<article><h1>T</h1><time datetime='2019-03-23T10:00'>x</time>{p}</article>")
    )
    graph = {"@graph": [{"@type": "NewsArticle", "datePublished": "2018-09-12"}]}
    ld = f'<script type="application/ld+json">{json.dumps(graph)}</script>'
    b = tmp_path / "b.htm"
    b.write_text(page(f"<article>{p}</article>", head=ld))
    assert read(a)[0][0].date == "2019-03-23"
    assert read(b)[0][0].date == "2018-09-12"


def test_html_without_canonical_gets_a_path_id_and_og_url(tmp_path, extractor):
    p = "<p>" + BODY * 3 + "</p>"
    a = tmp_path / "a.html"
    a.write_text(page(f"<main>{p}</main>", lang="en-GB"))
    b = tmp_path / "b.html"
    b.write_text(
        page(f"<main>{p}</main>", head="<meta property='og:url' content='https://x.org/b'>")
    )
    (first,), _ = read(a)
    assert first.id == "file:a.html" and first.lang == "en" and first.url is None
    assert first.text == BODY * 3
    assert read(b)[0][0].id == "https://x.org/b"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("<link rel='canonical' href='javascript:alert(document.cookie)'>", None),
        ("<link rel='canonical' href=' JaVaScRiPt:alert(1)'>", None),
        ("<link rel='canonical' href='data:text/html,<b>x</b>'>", None),
        ("<link rel='canonical' href='file:///etc/passwd'>", None),
        ("<link rel='canonical' href='/2031/03/story.html'>", None),  # relative: no base
        ("<link rel='canonical' href='javascript:x'><meta property='og:url' "
         "content='https://x.org/real'>", "https://x.org/real"),  # the next usable one
    ],
)  # fmt: skip
def test_an_html_file_whose_canonical_is_not_a_web_address_keeps_its_path_id(
    tmp_path, extractor, head, expected
):
    a = tmp_path / "a.html"
    a.write_text(page(f"<main><p>{BODY * 3}</p></main>", head=head))
    (article,), problems = read(a)
    assert problems == []
    assert article.id == (expected or "file:a.html") and article.url == expected


def test_html_in_a_declared_legacy_charset_is_decoded(tmp_path, extractor):
    path = tmp_path / "old.html"
    html = page("<article><p>" + "Città di Deir Ezzor, è così. " * 10 + "</p></article>")
    path.write_bytes(html.replace("utf-8", "windows-1252").encode("cp1252"))
    (article,), problems = read(path)
    assert problems == [] and "Città di Deir Ezzor, è così." in article.text


def test_html_without_text_is_a_problem(tmp_path, extractor):
    path = tmp_path / "empty.html"
    path.write_text(page("<nav><a href='/'>Home</a></nav><script>var x = 1;</script>"))
    articles, (problem,) = read(path)
    assert articles == [] and "no article text" in problem.reason


def test_html_title_and_date_outside_the_article_do_not_depend_on_the_extractor(
    tmp_path, extractor
):
    path = tmp_path / "a.html"
    path.write_text(page(
        "<header><nav><a href='/'>Home</a></nav><h1>Raqqa falls to the SDF</h1>"
        "<time datetime='2017-10-20T09:00'>20 October</time></header>"
        f"<article><p>{BODY}</p></article><footer>Contacts</footer>",
        head="<link rel='canonical' href='https://x.org/raqqa'>", lang="en",
    ))  # fmt: skip
    (article,), problems = read(path)
    assert problems == []
    assert (article.title, article.date, article.url, article.lang) == (
        "Raqqa falls to the SDF", "2017-10-20", "https://x.org/raqqa", "en",
    )  # fmt: skip
    assert BODY in article.text and "Home" not in article.text


# --- JSONL -------------------------------------------------------------------------------------
def test_jsonl_records_fields_and_extra(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [
        rec(1, lang="IT", date="2017-04-05T10:00:00+02:00", url="https://x.org/1", source="ansa",
            tags=["a", "b"], meta={"k": 1}, score=0.5, flag=True, n=3, empty=None),
        {"id": 7, "text": BODY, "lang": "ita"},
    ])  # fmt: skip
    (a, b), problems = read(path)
    assert problems == []
    assert (a.id, a.title, a.lang, a.date, a.url, a.source, a.line) == (
        "a1", "Title 1", "it", "2017-04-05", "https://x.org/1", "ansa", 1,
    )  # fmt: skip
    assert a.extra == {"tags": '["a","b"]', "meta": '{"k":1}', "score": 0.5, "flag": True, "n": 3}
    assert (b.id, b.title, b.lang, b.line, b.extra) == ("7", "", "it", 2, {})


def test_jsonl_ids_fall_back_to_url_then_content_hash(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [
        {"url": "https://x.org/1", "text": BODY},
        {"title": "T", "text": BODY},
        {"id": "", "title": "T", "text": BODY + " More."},
    ])  # fmt: skip
    (a, b, c), problems = read(path)
    assert problems == []
    assert a.id == "https://x.org/1"
    assert b.id == "file:a.jsonl#" + hashlib.sha1(f"T\n{BODY}".encode()).hexdigest()[:12]
    assert c.id.startswith("file:a.jsonl#") and c.id != b.id
    assert [x.id for x in read(path)[0]] == [a.id, b.id, c.id]  # deterministic


def test_jsonl_bad_lines_are_reported_and_the_rest_is_kept(tmp_path):
    path = tmp_path / "a.jsonl"
    good = [json.dumps(rec(i)).encode() for i in range(4)]
    path.write_bytes(b"\n".join([
        b"\xef\xbb\xbf" + good[0],  # a BOM on the first line is fine
        b'{"id": "x", "text": "caf\xe9"}',  # Latin-1 byte: not UTF-8
        b'{"id": "y", "text": ',  # truncated JSON
        b"",  # blank lines are skipped
        b'["not", "an", "object"]',
        good[1],
        b'{"id": "z", "text": "   "}',
        good[2],
        good[3],
    ]) + b"\n")  # fmt: skip
    articles, problems = read(path)
    assert [a.id for a in articles] == ["a0", "a1", "a2", "a3"]
    assert [a.line for a in articles] == [1, 6, 8, 9]
    by_line = {p.line: p.reason for p in problems}
    assert set(by_line) == {2, 3, 5, 7}
    assert "not valid UTF-8" in by_line[2] and "iconv -f cp1252 -t utf-8" in by_line[2]
    assert "invalid JSON" in by_line[3] and "column" in by_line[3]
    assert "one JSON object, not an array" in by_line[5]
    assert "empty 'text' field" in by_line[7]


def test_jsonl_duplicate_ids_first_wins(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [rec(1), rec(2), rec(1), dict(rec(2), text="Other.")])
    articles, problems = read(path)
    assert [a.line for a in articles] == [1, 2]
    assert [p.line for p in problems] == [3, 4]
    assert problems[0].reason.startswith(
        "duplicate id 'a1', first seen at line 1 (same title and text)"
    )
    assert (
        "give records unique ids" in problems[1].reason and "same title" not in problems[1].reason
    )


def test_jsonl_missing_text_is_capped_per_file(tmp_path):
    records = [rec(0)] + [{"id": f"q{i}", "question": "?"} for i in range(12)]
    articles, problems = read(write_jsonl(tmp_path / "a.jsonl", records))
    assert len(articles) == 1
    assert len(problems) == MAX_SAME_PROBLEM + 1
    assert all(
        "no 'text' field" in p.reason and "--map text=FIELD" in p.reason for p in problems[:-1]
    )
    assert [p.line for p in problems[:-1]] == [2, 3, 4, 5, 6]
    assert problems[-1].line is None and problems[-1].reason.startswith("7 more records")


def test_jsonl_where_no_record_has_text_is_one_problem(tmp_path):
    records = [{"qid": f"q{i}", "question": "Who?", "answer": "JNIM"} for i in range(30)]
    articles, (problem,) = read(write_jsonl(tmp_path / "q.jsonl", records))
    assert articles == []
    assert "none of the 30 records has a 'text' field" in problem.reason
    assert "qid, question, answer" in problem.reason and "--map text=FIELD" in problem.reason


def test_jsonl_field_map_and_canonical_fallback(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [
        {"uid": 1, "headline": "H1", "body": BODY, "title": "other"},
        {"id": "c2", "title": "H2", "text": BODY},  # canonical names still work
    ])  # fmt: skip
    (a, b), problems = read(path, field_map=parse_field_map("id=uid,title=headline,text=body"))
    assert problems == []
    assert (a.id, a.title, a.text, a.extra) == ("1", "H1", BODY, {})  # canonical names: never extra
    assert (b.id, b.title) == ("c2", "H2")


def test_jsonl_slash_dates_follow_the_files_order(tmp_path):
    mdy = write_jsonl(tmp_path / "mdy.jsonl", [rec(1, date="4/5/2017"), rec(2, date="4/16/2017")])
    dmy = write_jsonl(tmp_path / "dmy.jsonl", [rec(1, date="4/5/2017")])
    assert [a.date for a in read(mdy)[0]] == ["2017-04-05", "2017-04-16"]
    assert [a.date for a in read(dmy)[0]] == ["2017-05-04"]  # nothing decides: DMY


def test_jsonl_bad_dates_keep_the_article(tmp_path):
    records = [rec(i, date="sometime in spring") for i in range(8)]
    articles, problems = read(write_jsonl(tmp_path / "a.jsonl", records))
    assert len(articles) == 8 and all(a.date is None for a in articles)
    assert len(problems) == MAX_SAME_PROBLEM + 1
    assert "'sometime in spring' not understood; article kept without a date" in problems[0].reason


def test_jsonl_of_blank_lines_has_no_records(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("\n \n\n")
    articles, (problem,) = read(path)
    assert articles == [] and "no records" in problem.reason


def test_jsonl_map_matches_a_key_in_another_case_only_when_one_does(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [
        {"id": "1", "Body": BODY, "HEADLINE": "H1"},
        {"id": "2", "Body": BODY, "BODY": "other", "Headline": "H2"},  # "body" is ambiguous
    ])  # fmt: skip
    (a,), problems = read(path, field_map=parse_field_map("text=body,title=Headline"))
    assert (a.id, a.title, a.text, a.extra) == ("1", "H1", BODY, {})
    assert problems[0].line == 2 and "no 'body' field" in problems[0].reason


# --- JSON --------------------------------------------------------------------------------------
def test_json_array_with_line_numbers(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([rec(1), rec(2)], indent=2))
    (a, b), problems = read(path)
    assert problems == []
    assert (a.id, b.id) == ("a1", "a2")
    lines = path.read_text().split("\n")
    assert lines[a.line - 1].strip() == "{" and lines[b.line - 1].strip() == "{"
    assert a.line == 2 and b.line > a.line


@pytest.mark.parametrize("key", ["articles", "items", "data", "records", "stories"])
def test_json_object_holding_records(tmp_path, key):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"meta": {"n": 2}, "note": "x", key: [rec(1), rec(2)]}, indent=1))
    (a, b), problems = read(path)
    assert problems == [] and (a.id, b.id) == ("a1", "a2")
    assert path.read_text().split("\n")[a.line - 1].strip() == "{"


def test_json_single_record_is_one_article_with_a_path_id(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"title": "T", "text": ["First paragraph.", "Second."]}))
    (article,), problems = read(path)
    assert problems == []
    assert (article.id, article.text, article.line) == (
        "file:one.json",
        "First paragraph.\n\nSecond.",
        None,
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('[{"id": 1, "text": "x"},\n  {"id": 2 "text": "y"}]', "invalid JSON"),
        ("42", "no records: the file holds a number"),
        ("[]", "no records (the array is empty)"),
        ('[1, {"id": "a", "text": "ok"}]', "must be a JSON object, not a number"),
    ],
)
def test_json_problems(tmp_path, content, says):
    path = tmp_path / "a.json"
    path.write_text(content)
    _, problems = read(path)
    assert any(says in p.reason for p in problems), problems
    if says == "invalid JSON":
        assert problems[0].line == 2


@pytest.mark.parametrize(
    "document",
    [
        {"title": "T", "text": BODY, "authors": [{"name": "A"}]},
        {"text": BODY, "items": []},
        {"text": BODY, "articles": [{"text": "a record?"}], "data": [{"x": 1}]},
    ],
)
def test_json_object_with_a_text_field_is_one_article(tmp_path, document):
    path = tmp_path / "one.json"
    path.write_text(json.dumps(document))
    (article,), problems = read(path)
    assert problems == []
    assert (article.id, article.text, article.line) == ("file:one.json", BODY, None)


def test_json_object_with_a_mapped_text_field_is_one_article(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"Headline": "H", "Body": BODY, "tags": [{"k": "v"}]}))
    (article,), problems = read(path, field_map=parse_field_map("title=headline,text=body"))
    assert problems == [] and (article.title, article.text) == ("H", BODY)
    assert article.extra == {"tags": '[{"k":"v"}]'}


def test_json_object_without_text_prefers_a_record_key_then_the_only_list(tmp_path):
    a = tmp_path / "a.json"
    a.write_text(json.dumps({"authors": [{"name": "A"}], "posts": [rec(1)]}, indent=1))
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"meta": {"n": 1}, "stories": [rec(2)]}, indent=1))
    assert [x.id for x in read(a)[0]] == ["a1"] and [x.id for x in read(b)[0]] == ["a2"]
    c = tmp_path / "c.json"
    c.write_text(json.dumps({"title": "T", "body": BODY, "authors": [{"name": "A"}]}))
    articles, (problem,) = read(c)  # the only list of objects is searched, and says so
    assert articles == [] and "none of the 1 records under 'authors'" in problem.reason
    d = tmp_path / "d.json"
    d.write_text(json.dumps({"title": "T", "body": BODY, "tags": ["x"], "meta": {"n": 1}}))
    articles, (problem,) = read(d)
    assert articles == [] and "no 'text' field in this object" in problem.reason
    assert "title, body, tags, meta" in problem.reason and "--map text=FIELD" in problem.reason


@pytest.mark.parametrize("first", [True, False])
def test_json_with_a_repeated_key_reads_the_value_json_keeps(tmp_path, first):
    # json.loads keeps the LAST of repeated keys; the line numbers must follow the same array
    records = [rec(1), rec(2)]
    arrays = (records, []) if first else ([], records)
    path = tmp_path / "dup.json"
    path.write_text("{\n" + ",\n".join(
        f'"articles": {json.dumps(a, indent=2)}' for a in arrays
    ) + "\n}\n")  # fmt: skip
    articles, problems = read(path)
    if first:  # the array that counts is the empty one
        assert articles == [] and "no records (the array is empty)" in problems[0].reason
    else:
        assert problems == [] and [a.id for a in articles] == ["a1", "a2"]
        lines = path.read_text().split("\n")
        assert all(lines[a.line - 1].strip() == "{" for a in articles)
        assert articles[0].line > 3


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("big.json", '[{"text": "x", "id": ' + "9" * 5000 + "}]", "cannot read this JSON"),
        ("big.jsonl", '{"text": "x", "id": ' + "9" * 5000 + "}\n", "cannot read this JSON"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
    ],
)
def test_json_the_parser_refuses_is_a_problem_not_a_crash(tmp_path, name, content, says):
    path = tmp_path / name
    path.write_text(content)
    articles, (problem,) = read(path)
    assert articles == [] and says in problem.reason and problem.path == str(path)
    assert problem.line == (1 if name.endswith(".jsonl") else None)


@pytest.mark.parametrize("ext", [".json", ".jsonl"])
def test_json_lone_surrogate_escapes_become_replacement_characters(tmp_path, ext):
    path = tmp_path / f"a{ext}"
    path.write_text('{"id": "s", "title": "T \\udc00", "text": "Caf\\u00e9 \\ud800 ok", '
                    '"note": "\\ud83d\\ude00"}\n')  # fmt: skip
    (article,), problems = read(path)
    assert problems == []
    assert (article.title, article.text) == ("T \ufffd", "Café \ufffd ok")
    assert article.extra == {"note": "\U0001f600"}  # a proper pair is one character


def test_an_unexpected_error_in_a_reader_is_a_problem_naming_the_file(tmp_path, monkeypatch):
    def broken(file):
        yield from ()
        raise KeyError("boom")

    monkeypatch.setitem(sources._READERS, ".txt", broken)
    path = tmp_path / "a.txt"
    path.write_text(BODY)
    articles, (problem,) = read(path)
    assert articles == [] and problem.path == str(path.resolve())
    assert problem.reason == "could not read this file (KeyError: 'boom'); please report it"


# --- CSV ---------------------------------------------------------------------------------------
def test_csv_with_bom_crlf_and_a_huge_field(tmp_path):
    big = "Lorem ipsum dolor sit amet. " * 10_000  # > csv's default 128 KiB field limit
    path = tmp_path / "a.csv"
    path.write_bytes(("\ufeffid,title,text,date,lang,extra_col\r\n"
                      f'1,"T, one","{BODY}",23/03/2019,en,x\r\n'
                      f'2,T2,"{big}",2019-03-24,,\r\n').encode())  # fmt: skip
    (a, b), problems = read(path)
    assert problems == []
    assert (a.id, a.title, a.date, a.lang, a.line, a.extra) == (
        "1",
        "T, one",
        "2019-03-23",
        "en",
        2,
        {"extra_col": "x"},
    )
    assert (b.id, b.date, b.lang, b.line, b.extra) == ("2", "2019-03-24", None, 3, {})
    assert len(b.text) == len(big.strip())


def test_csv_with_non_canonical_columns_needs_a_map(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "unit_id;article_title;article_content;published\n"
        f'10;Titolo;"{BODY}\n\nSecondo paragrafo.";5 aprile 2017\n'
        f"11;Altro;{BODY};2017-04-06\n"
    )  # semicolons, as a European spreadsheet exports
    articles, (problem,) = read(path)
    assert articles == []
    assert (
        "no text column: the columns are unit_id, article_title, article_content, published"
        in problem.reason
    )
    assert "--map text=article_content" in problem.reason
    mapping = parse_field_map("id=unit_id,title=article_title,text=article_content,date=published")
    (a, b), problems = read(path, field_map=mapping)
    assert problems == []
    assert (a.id, a.title, a.text, a.date, a.line) == (
        "10",
        "Titolo",
        f"{BODY}\n\nSecondo paragrafo.",
        "2017-04-05",
        2,
    )
    assert (b.id, b.line) == ("11", 5)  # the quoted field spanned lines 2-4


def test_csv_map_naming_a_missing_column_is_reported(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(f"id,text\n1,{BODY}\n")
    (article,), (problem,) = read(path, field_map={"title": "headline"})
    assert article.title == "" and "no column 'headline'" in problem.reason


def test_a_latin1_csv_is_read_with_a_warning(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(f"id,text\n1,{BODY}\n2,Citt\xe0 di Raqqa\n".encode("latin-1"))
    articles, (warning,) = read(path)
    assert [a.text for a in articles] == [BODY, "Città di Raqqa"]
    assert warning.warning and "iconv -f cp1252 -t utf-8" in warning.reason


def test_csv_mostly_utf8_with_a_bad_byte_skips_the_file_with_the_line(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(f"id,text\n1,{BODY} Città\n".encode() + b"2,Citt\xe0 di Raqqa\n")
    articles, (problem,) = read(path)
    assert articles == []
    assert problem.line == 3 and "first bad byte on line 3" in problem.reason
    assert "iconv -f cp1252 -t utf-8" in problem.reason


def test_csv_rows_without_text_and_header_only(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(f"id,text\n1,{BODY}\n2,\n\n3,{BODY} 3\n")
    articles, (problem,) = read(path)
    assert [a.id for a in articles] == ["1", "3"]
    assert problem.line == 3 and "empty 'text' field" in problem.reason
    header_only = tmp_path / "h.csv"
    header_only.write_text("id,text\n")
    assert "only a header line" in read(header_only)[1][0].reason


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_csv_line_endings_of_every_kind(tmp_path, newline):
    rows = ["id;title;text", f'1;"T, one";"{BODY}, here"', f'2;T2;"two{newline}lines"',
            f"3;T3;{BODY}, three", ""]  # fmt: skip
    path = tmp_path / "a.csv"
    path.write_bytes(newline.join(rows).encode())
    articles, problems = read(path)
    assert problems == []
    assert [(a.id, a.title, a.line) for a in articles] == [("1", "T, one", 2), ("2", "T2", 3),
                                                           ("3", "T3", 5)]  # fmt: skip
    assert articles[1].text == "two\nlines" and articles[2].text == f"{BODY}, three"


def test_csv_with_old_mac_line_endings_reports_the_bad_utf8_line(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(f"id,text\r1,{BODY} è\r".encode() + "2,Citt\xe0\r".encode("latin-1"))
    articles, (problem,) = read(path)
    assert articles == [] and problem.line == 3 and "first bad byte on line 3" in problem.reason


def test_csv_map_matches_a_column_in_another_case_only_when_one_does(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(f"ID,Headline,Body\n1,H1,{BODY}\n")
    (article,), problems = read(path, field_map=parse_field_map("id=id,title=headline,text=body"))
    assert problems == [] and (article.id, article.title, article.text) == ("1", "H1", BODY)
    assert article.extra == {}
    ambiguous = tmp_path / "b.csv"
    ambiguous.write_text(f"id,Body,BODY\n1,{BODY},x\n")
    articles, (problem,) = read(ambiguous, field_map=parse_field_map("text=body"))
    assert articles == [] and "no text column" in problem.reason


# --- bad files, whatever the format ---------------------------------------------------------------
@pytest.mark.parametrize("ext", [".txt", ".md", ".html", ".jsonl", ".json", ".csv"])
def test_binary_file(tmp_path, ext):
    path = tmp_path / f"x{ext}"
    path.write_bytes(b"PK\x03\x04\x00\x00" + bytes(range(256)) * 4)
    articles, (problem,) = read(path)
    assert (
        articles == [] and "binary file" in problem.reason and "export it as CSV" in problem.reason
    )


@pytest.mark.parametrize("ext", [".txt", ".jsonl", ".csv"])
def test_utf16_file(tmp_path, ext):
    path = tmp_path / f"x{ext}"
    path.write_text(f"id,text\n1,{BODY}\n", encoding="utf-16")
    articles, (problem,) = read(path)
    assert (
        articles == []
        and "UTF-16" in problem.reason
        and "iconv -f utf-16 -t utf-8" in problem.reason
    )


@pytest.mark.parametrize("ext", [".txt", ".md", ".html", ".jsonl", ".json", ".csv"])
def test_empty_file(tmp_path, ext):
    path = tmp_path / f"x{ext}"
    path.write_text("")
    articles, (problem,) = read(path)
    assert articles == [] and "empty file" in problem.reason


@pytest.mark.parametrize(
    "content", ["   \n\n\t\n", "skip to Main Content\n\nBack To Top\nCondividi\n"]
)
def test_text_file_of_whitespace_or_chrome_is_empty(tmp_path, content):
    path = tmp_path / "x.txt"
    path.write_text(content)
    articles, (problem,) = read(path)
    assert articles == [] and "empty file" in problem.reason


def test_a_latin1_text_file_is_read_with_a_warning(tmp_path):
    path = tmp_path / "x.md"
    path.write_bytes(b"# Title\n\nLine two\nCitt\xe0 di Raqqa\n")
    (article,), (warning,) = read(path)
    assert article.text == "Line two\nCittà di Raqqa" and article.title == "Title"
    assert warning.warning and "read as Windows-1252" in warning.reason
    assert "iconv -f cp1252 -t utf-8" in warning.reason


@pytest.mark.parametrize(
    ("text", "encoding", "read_as"),
    [
        ("Perché l'attacco a Tessalit è avvenuto lunedì? Così è stato.", "latin-1", "cp1252"),
        ("L’esercito – ha detto – “non si ritirerà”. Così è più chiaro.", "cp1252", "cp1252"),
        ("Привет, как дела? Это тест кодировки для архива.", "cp1251", "cp1251"),
    ],
)
def test_a_legacy_encoding_is_recognised(tmp_path, text, encoding, read_as):
    path = tmp_path / "x.txt"
    path.write_bytes(f"Titolo\n\n{text}\n".encode(encoding))
    (article,), (warning,) = read(path)
    assert article.text == text and f"-f {read_as} " in warning.reason


def test_mostly_utf8_with_a_bad_byte_is_still_refused(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes("Titolo\n\nCittà, perché, così e più: tutto in UTF-8.\n".encode() + b"\xe0\n")
    articles, (problem,) = read(path)
    assert articles == [] and not problem.warning and problem.line == 4
    assert "re-save it as UTF-8" in problem.reason


@pytest.mark.parametrize("ext", [".txt", ".jsonl", ".csv"])
def test_file_over_the_size_limit(tmp_path, ext):
    path = tmp_path / f"x{ext}"
    path.write_text("x" * 3 * MB)
    articles, (problem,) = read(path, max_bytes=2 * MB)
    assert articles == []
    assert "3.0 MB, over the 2.0 MB limit" in problem.reason
    assert "NEWSRAG_MAX_FILE_MB" in problem.reason and "--max-file-mb" in problem.reason


def test_size_message_never_reads_the_same_number_twice(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("x" * (10 * MB + 1))
    articles, (problem,) = read(path, max_bytes=10 * MB)
    assert articles == [] and "10.0 MB, over the 10.0 MB" not in problem.reason
    assert "10,485,761 bytes, over the 10,485,760-byte limit" in problem.reason


@pytest.mark.parametrize("charset", ["base64", "punycode", "undefined", "utf-16", "utf-7"])
def test_html_declaring_a_charset_that_is_no_page_encoding_is_read_as_utf8(tmp_path, charset):
    path = tmp_path / "a.html"
    path.write_bytes(page(f"<article><p>Città. {BODY}</p></article>").replace(
        "utf-8", charset).encode())  # fmt: skip
    (article,), problems = read(path)
    assert problems == [] and article.text == f"Città. {BODY}"


def test_missing_and_unreadable_paths_are_problems(tmp_path):
    (problem,) = read(tmp_path / "gone.txt")[1]
    assert "cannot read" in problem.reason
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    (problem,) = read(folder)[1]
    assert "is a folder" in problem.reason


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(BODY)
    path.chmod(0)
    (problem,) = read(path)[1]
    assert "permissions" in problem.reason


# --- the real data --------------------------------------------------------------------------------
def test_fakes_csv_with_the_map(shared_data):
    articles, problems = read(
        shared_data / "fakes_syria_en.csv", parse_field_map(FAKES_MAP), 1 << 30
    )
    # 804 rows, of which 12 repeat a unit_id (11 of them word for word): the first wins
    assert len(articles) == 792
    duplicates = [p for p in problems if p.reason.startswith("duplicate id")]
    assert len(duplicates) == MAX_SAME_PROBLEM and problems[-1].reason.startswith("7 more records")
    assert len(problems) == MAX_SAME_PROBLEM + 1
    assert len({a.id for a in articles}) == 792
    first = articles[0]
    assert (first.id, first.date, first.line, first.source) == (
        "1914947530",
        "2017-04-05",
        2,
        "nna",
    )
    assert first.title == "Syria attack symptoms consistent with nerve agent use WHO"
    assert first.text.startswith("Wed 05 Apr 2017 Syria attack symptoms")
    assert first.extra == {"location": "idlib", "labels": "0"}
    assert all(a.date and "2011" <= a.date[:4] <= "2018" for a in articles)
    assert all(a.lang is None for a in articles)  # detected later, not guessed here
    lines = [a.line for a in articles]
    assert lines == sorted(lines) and lines[-1] == 805


def test_fakes_jsonl(shared_data):
    articles, problems = read(shared_data / "fakes_syria_en.passages.jsonl", max_bytes=1 << 30)
    assert len(articles) == 792 and len(problems) == MAX_SAME_PROBLEM + 1
    first = articles[0]
    assert (first.id, first.date, first.lang, first.source) == (
        "fakes:1914947530",
        "2017-04-05",
        "en",
        "fa-kes/nna",
    )
    assert first.extra["location"] == "idlib" and first.extra["fakes_label"] == 0
    assert "pair_id" not in first.extra and "url" not in first.extra  # nulls are dropped


def test_belebele_passages(shared_data):
    articles, problems = read(shared_data / "belebele_it_en.passages.jsonl", max_bytes=1 << 30)
    assert problems == []
    assert len(articles) == 976 == len({a.id for a in articles})
    assert sum(a.lang == "it" for a in articles) == sum(a.lang == "en" for a in articles) == 488
    a = articles[0]
    assert a.id == "belebele:en:000" and a.url.startswith("https://en.wikibooks.org/")
    assert a.extra["pair_id"] == "belebele:000" and a.title == ""


def test_belebele_questions_are_not_articles(shared_data):
    articles, problems = read(shared_data / "belebele_it_en.questions.jsonl", max_bytes=1 << 30)
    assert articles == []
    assert (
        len(problems) == 1 and "none of the 1800 records has a 'text' field" in problems[0].reason
    )


def test_sample_archive(monkeypatch):
    monkeypatch.chdir(REPO)
    files, problems = discover([SAMPLE])
    assert problems == [] and len(files) == 9 and not any(f.name == "README.md" for f in files)
    articles = []
    for f in files:
        got, problems = read(f)
        assert problems == [], problems
        articles.extend(got)
    assert 12 <= len(articles) <= 16
    assert len({a.id for a in articles}) == len(articles)
    assert all(a.source == "newsrag-sample" and a.date for a in articles)
    years = {a.date[:4] for a in articles}
    assert min(years) == "2016" and max(years) == "2024" and len(years) >= 7
    assert all(120 <= len(f"{a.title} {a.text}".split()) <= 300 for a in articles)
    en, it = (next(a for a in articles if a.id == f"sample-badia-2021-{x}") for x in ("en", "it"))
    assert en.date == it.date == "2021-03-14" and en.path != it.path
    raqqa = next(a for a in articles if a.id == "file:data/sample/2017-10-20-raqqa.txt")
    assert raqqa.title.startswith("Raqqa falls") and "Share on" not in raqqa.text


def test_importing_sources_loads_no_heavy_parser():
    heavy = "('lxml', 'trafilatura', 'lingua', 'dateparser')"
    code = f"import sys, ingest.sources; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]"
