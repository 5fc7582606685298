"""The chat page's HTML and handlers, without a browser (tests/browser checks what people see)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app.feedback import FeedbackStore
from app.services import Services
from rag.chat import Done, Event, Token
from rag.config import Settings
from rag.errors import ModelError
from rag.types import Citation, Filters, Message, Passage, Turn
from ui.web import web_chat
from ui.web.i18n import STRINGS, pick_lang
from ui.web.web_chat import Conversation, answer_html, card_html, quote_html, rate, turn_html

HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'


def citation(n: int = 1, **overrides: object) -> Citation:
    values: dict[str, object] = dict(
        n=n, article_id="seed-1", chunk_id="seed-1:0", title="Isis implodes at Deir Ezzor",
        date="2018-03-01", url=None, lang="en", source="agency", start=100, end=180,
        quote="Isis is imploding. Isis in Syria is relegated to Deir Ezzor. The end.",
        highlight=(19, 60), also_in=("it",),
    )  # fmt: skip
    values.update(overrides)
    return Citation(**values)  # type: ignore[arg-type]


def passage(article_id: str = "seed-1", title: str = "Deir Ezzor") -> Passage:
    return Passage(
        chunk_id=f"{article_id}:0", article_id=article_id, text="text", start=0, end=4,
        title=title, date="2018-03-01", lang="en", source=None, url=None, story_id=None,
        score=0.5, dense=0.5,
    )  # fmt: skip


def turn(
    answer: str, citations: Sequence[Citation], *, refused: bool = False, **kw: object
) -> Turn:
    return Turn(
        question="q", query="q", lang="en", answer=answer, citations=tuple(citations),
        mode="refusal" if refused else "extractive", refused=refused,
        passages=tuple(kw.get("passages", ())),  # type: ignore[arg-type]
    )  # fmt: skip


class Tags(HTMLParser):
    """Every tag and attribute the browser would build from a piece of HTML."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


# --- escaping and links ---------------------------------------------------------------------
def test_hostile_text_everywhere_becomes_inert_text():
    c = citation(title=f"Title {HOSTILE}", quote=f"Before {HOSTILE} after.", source=HOSTILE,
                 highlight=(0, 6), url="javascript:window.__pwned=1")  # fmt: skip
    html = turn_html(turn(f"Answer {HOSTILE} [1].", [c]), "3", "en")
    parsed = Tags(html)
    assert not parsed.named("script") and not parsed.named("img")
    assert all(not k.startswith("on") for _, attrs in parsed.tags for k in attrs)
    assert all(not (v or "").startswith("javascript:") for _, a in parsed.tags for v in a.values())
    # the browser shows the markup as it was written
    assert "".join(parsed.text).count(HOSTILE) == 4  # answer, title, source, quote


def test_a_card_links_to_an_http_url_or_else_to_our_article_page():
    web = Tags(card_html(citation(url="https://news.example.org/a?x=1&y=2"), "1", "en"))
    (link,) = web.named("a")
    assert link["href"] == "https://news.example.org/a?x=1&y=2"
    assert link["target"] == "_blank" and link["rel"] == "noopener noreferrer"
    for url in (None, "javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "//evil"):
        (link,) = Tags(card_html(citation(url=url, article_id="a/b c"), "1", "en")).named("a")
        assert link["href"] == "/articles/a%2Fb%20c?start=100&end=180#passage"


@pytest.mark.parametrize(
    "href, is_link",
    [("https://x.org/", True), ("http://x.org/", True), ("/articles/1", True),
     ("//evil.org/", False), ("/\\evil.org", False), ("javascript:alert(1)", False),
     ("JAVASCRIPT:alert(1)", False), ("mailto:a@b", False), ("", False), (None, False)],
)  # fmt: skip
def test_link_rules(href, is_link):
    assert bool(Tags(web_chat.link_html(href, "label")).named("a")) is is_link


# --- [n] anchors, highlight, cards ----------------------------------------------------------
def test_each_known_marker_links_to_its_card_of_this_turn():
    cites = [citation(1), citation(2, article_id="seed-2")]
    html = turn_html(turn("Deir Ezzor [1]. Acharan [2]. Not a source [7].", cites), "5", "en")
    parsed = Tags(html)
    hrefs = [a["href"] for a in parsed.named("a") if a.get("class") == "nr-cite"]
    assert hrefs == ["#nr-src-5-1", "#nr-src-5-2"]
    ids = [attrs["id"] for attrs in parsed.named("li")]
    assert ids == ["nr-src-5-1", "nr-src-5-2"]
    assert "[7]" in "".join(parsed.text)  # a marker without a card stays text
    other = Tags(turn_html(turn("Deir Ezzor [1].", cites[:1]), "6", "en"))
    assert [attrs["id"] for attrs in other.named("li")] == ["nr-src-6-1"]  # unique per turn


def test_the_answer_keeps_its_line_breaks():
    assert answer_html("one\n\ntwo [1]", [citation()], "1") == (
        'one<br><br>two <a class="nr-cite" href="#nr-src-1-1">[1]</a>'
    )


def test_the_supporting_sentence_is_highlighted_inside_the_quote():
    c = citation()
    html = quote_html(c.quote, c.highlight)
    assert (
        html == "Isis is imploding. <mark>Isis in Syria is relegated to Deir Ezzor.</mark> The end."
    )
    assert quote_html("a < b", (0, 5)) == "<mark>a &lt; b</mark>"
    for bad in (None, (5, 2), (0, 999), (-1, 3)):
        assert "<mark>" not in quote_html("a < b", bad)


def test_a_card_shows_title_date_language_source_and_other_languages():
    parsed = Tags(card_html(citation(), "1", "it"))
    text = " ".join(parsed.text)
    assert "Isis implodes at Deir Ezzor" in text
    assert "1 marzo 2018 · inglese · agency · disponibile anche in italiano" in text
    assert "[1]" in text


def test_a_refusal_is_a_plain_message_with_the_closest_articles():
    answer = "I found no article in the archive that answers this question.\nThe closest…\n- x"
    html = turn_html(turn(answer, [], refused=True, passages=[passage(title=HOSTILE)]), "1", "en")
    parsed = Tags(html)
    assert not parsed.named("li") or all("id" not in a for a in parsed.named("li"))
    assert "I found no article" in "".join(parsed.text)
    assert HOSTILE in "".join(parsed.text) and not parsed.named("script")
    assert [a["href"] for a in parsed.named("a")] == ["/articles/seed-1?start=0&end=4#passage"]


# --- interface language ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "header, lang",
    [("it-IT,it;q=0.9,en;q=0.8", "it"), ("en-US,en;q=0.9,it;q=0.8", "en"), ("de-DE,it;q=0.5", "it"),
     ("fr-FR", "en"), ("", "en"), (None, "en"), ("en;q=0.2, it;q=0.8", "it"), ("it;q=0", "en")],
)  # fmt: skip
def test_the_interface_language_follows_accept_language(header, lang):
    assert pick_lang(header) == lang


def test_both_languages_have_every_string():
    assert set(STRINGS["it"]) == set(STRINGS["en"])


# --- handlers -------------------------------------------------------------------------------
class FakeEngine:
    """Streams fixed tokens then a turn, or raises; records what it was asked."""

    mode = "extractive"
    judge_state = ("off", None)

    def __init__(self, *, fail: Exception | None = None) -> None:
        self.fail = fail
        self.calls: list[tuple[str, list[Message], Filters | None]] = []

    def ask_stream(
        self, question: str, *, history: Sequence[Message] = (), filters: Filters | None = None,
        lang: str | None = None,
    ) -> Iterator[Event]:  # fmt: skip
        self.calls.append((question, list(history), filters))
        if self.fail:
            raise self.fail
        yield Token("Deir Ezzor ")
        yield Token("[1].")
        yield Done(turn("Deir Ezzor [1].", [citation()]))


def services(tmp_path: Path, engine: object) -> Services:
    s = Services.with_engine(Settings(index_dir=tmp_path / "index"), engine)  # type: ignore[arg-type]
    s.feedback = FeedbackStore.for_index(tmp_path / "index")  # type: ignore[attr-defined]
    return s


NO_FILTERS = (None, None, None, None)


def test_an_answer_streams_then_becomes_the_cited_answer(tmp_path):
    engine = FakeEngine()
    convo = Conversation()
    updates = web_chat.ask(services(tmp_path, engine), convo, "where?", NO_FILTERS, "en")
    steps = [c.messages[-1]["content"] for c in updates]
    assert "Searching the archive" in steps[0]
    assert steps[1].endswith("Deir Ezzor </div>")
    assert 'href="#nr-src-1-1"' in steps[-1] and 'id="nr-src-1-1"' in steps[-1]
    assert convo.history == [Message("user", "where?"), Message("assistant", "Deir Ezzor [1].")]
    list(web_chat.ask(services(tmp_path, engine), convo, "and then?", NO_FILTERS, "en"))
    assert engine.calls[1][1] == convo.history[:2]  # the follow-up gets the conversation
    assert 'id="nr-src-2-1"' in convo.messages[-1]["content"]


@pytest.mark.parametrize(
    "filters, message",
    [(("any", "2017-13-01", None, None), "is not valid"),
     (("it", "2018-01-01", "2017-01-01", None), "after the end date")],
)  # fmt: skip
def test_bad_filters_are_a_readable_message(tmp_path, filters, message):
    engine = FakeEngine()
    convo = Conversation()
    list(web_chat.ask(services(tmp_path, engine), convo, "where?", filters, "en"))
    assert message in convo.messages[-1]["content"] and "nr-error" in convo.messages[-1]["content"]
    assert engine.calls == []


def test_filters_reach_the_engine(tmp_path):
    engine = FakeEngine()
    list(web_chat.ask(services(tmp_path, engine), Conversation(), "where?",
                      ("it", "2017-01-01", "", " agency "), "en"))  # fmt: skip
    assert engine.calls[0][2] == Filters(lang="it", date_from="2017-01-01", source="agency")


def test_engine_errors_are_messages_not_tracebacks(tmp_path):
    unreachable = ModelError("The LLM server at http://x could not be reached <b>.")
    cases = [
        (FakeEngine(fail=unreachable), "could not be reached &lt;b&gt;."),
        (FakeEngine(fail=RuntimeError("boom")), "Something went wrong"),
    ]
    for engine, expected in cases:
        convo = Conversation()
        list(web_chat.ask(services(tmp_path, engine), convo, "where?", NO_FILTERS, "en"))
        assert expected in convo.messages[-1]["content"]
        assert "Traceback" not in convo.messages[-1]["content"]
    loading = Services(Settings(index_dir=tmp_path / "index"))  # never started: NotReady
    convo = Conversation()
    list(web_chat.ask(loading, convo, "where?", NO_FILTERS, "it"))
    assert "still loading" in convo.messages[-1]["content"]


def test_a_too_long_question_is_refused_before_the_engine(tmp_path):
    engine = FakeEngine()
    convo = Conversation()
    list(web_chat.ask(services(tmp_path, engine), convo, "x" * 5000, NO_FILTERS, "it"))
    assert "troppo lunga" in convo.messages[-1]["content"] and engine.calls == []


def test_a_rating_and_its_comment_are_stored_with_the_answer(tmp_path):
    s = services(tmp_path, FakeEngine())
    convo = Conversation()
    list(web_chat.ask(s, convo, "where?", NO_FILTERS, "en"))
    assert rate(s, convo, 0, True) is None and convo.rated is None  # the question: not rated
    assert rate(s, convo, 1, "Dislike") is None and convo.rated is not None
    answered, rating = convo.rated
    assert web_chat.store(s, answered, rating, None, "wrong place") is None
    rows = list(s.feedback.rows())  # type: ignore[attr-defined]
    assert [(r["rating"], r["comment"]) for r in rows] == [("down", "wrong place")]
    assert rows[0]["question"] == "where?" and rows[0]["answer"] == "Deir Ezzor [1]."
    assert rows[0]["citations"][0]["link"] == "/articles/seed-1?start=100&end=180#passage"
    assert rows[0]["turn_id"] and rows[0]["mode"] == "extractive"
    assert rate(s, convo, 1, "Like") is None  # a changed mind: the same row, comment kept
    [row] = list(s.feedback.rows())  # type: ignore[attr-defined]
    assert (row["id"], row["rating"], row["comment"]) == (rows[0]["id"], "up", "wrong place")
    assert rate(s, convo, 1, "") is None and convo.rated is None  # a rating taken back
    assert len(list(s.feedback.rows())) == 1  # type: ignore[attr-defined]


def test_the_page_builds(tmp_path):
    import gradio as gr

    demo = web_chat.build_chat(services(tmp_path, FakeEngine()))
    assert isinstance(demo, gr.Blocks)
    assert web_chat.MOUNT_OPTIONS["css"] == web_chat.CSS


def test_the_chat_page_shares_the_api_rate_limit(tmp_path):
    from types import SimpleNamespace

    from app.ratelimit import RateLimiter

    engine = FakeEngine()
    s = services(tmp_path, engine)
    s.limiter = RateLimiter(1)  # type: ignore[attr-defined]
    request = SimpleNamespace(headers={}, client=SimpleNamespace(host="10.0.0.1"))
    convo = Conversation()
    for _ in range(2):
        list(web_chat.ask(s, convo, "where?", NO_FILTERS, "en", request))  # type: ignore[arg-type]
    assert len(engine.calls) == 1
    assert "Too many questions" in convo.messages[-1]["content"]
