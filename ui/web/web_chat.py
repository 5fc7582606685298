"""The full-page web chat (Gradio), mounted at ``/`` by ui/web/server.py.

Answers stream into a ``gr.Chatbot`` whose messages are HTML built here: markdown rendering is
off, so nothing an article or an LLM writes is ever interpreted. Every untrusted string (the
answer, titles, quotes, sources, error messages) goes through ``html.escape`` before it is put
in a tag, links are http(s) or our own ``/articles/…`` page (ui.web.present.article_link), and
Gradio's own sanitizer runs on top as a second fence. Each answer carries its sources panel:
numbered cards, the supporting sentence highlighted, and every ``[n]`` links to its card.

The handlers are plain functions over ``Services`` (tests call them without a browser); the
conversation lives in a ``gr.State`` per browser session.
"""

from __future__ import annotations

import html
import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import gradio as gr

from app.services import Services
from rag.answer.messages import format_date
from rag.chat import Done, Token
from rag.errors import NewsragError
from rag.types import Citation, Filters, Message, Passage, Turn

from .i18n import EXAMPLES, LANGS, language_name, pick_lang, t
from .present import article_link, citation_json
from .security import client_key

log = logging.getLogger(__name__)

CITE = re.compile(r"\[(\d{1,3})\]")
ANY = "any"
# the answerer's and the archive's lines are drawn again this often, so a page left open shows
# what a background sync brought (they are also drawn on load and after every answer)
STATUS_EVERY_S = 60.0

CSS = """
.nr-header h1 { margin: 0 0 4px; font-size: 1.5rem; }
.nr-header p { margin: 0; color: var(--body-text-color-subdued); }
.nr-mode { font-size: .9rem; color: var(--body-text-color-subdued); }
.nr-answer { line-height: 1.5; }
.nr-answer .nr-cite { font-weight: 600; color: var(--color-accent); text-decoration: none; }
.nr-answer .nr-cite:hover { text-decoration: underline; }
.nr-pending { font-style: italic; color: var(--body-text-color-subdued); }
.nr-error { padding: 8px 10px; border-radius: 6px; background: #fdecea; color: #7a1c12;
  border: 1px solid #f5c2bb; }
.nr-sources { margin-top: 12px; }
.nr-sources h4 { margin: 0 0 6px; font-size: .95rem; }
.nr-cards { list-style: none; margin: 0; padding: 0; display: grid; gap: 8px; }
.nr-card { padding: 8px 10px; border: 1px solid var(--border-color-primary);
  border-left: 4px solid var(--color-accent); border-radius: 6px; scroll-margin-top: 16px; }
.nr-card:target { outline: 3px solid var(--color-accent); background: var(--color-accent-soft); }
.nr-card-head { display: flex; gap: 6px; align-items: baseline; font-weight: 600; }
.nr-n { flex: none; white-space: nowrap; }
.nr-meta { font-size: .85rem; color: var(--body-text-color-subdued); margin-top: 2px; }
.nr-quote { margin: 6px 0 0; padding-left: 8px; border-left: 2px solid
  var(--border-color-primary); white-space: pre-wrap; }
.nr-quote mark { background: #fff2a8; color: #1b1b1b; padding: 0 1px; }
.nr-closest { margin: 6px 0 0; }
"""
# what ui/web/server.py passes to gr.mount_gradio_app (Gradio 6 takes css at mount time); no run
# history: questions are not kept in the browser's storage
MOUNT_OPTIONS: dict[str, Any] = {"css": CSS, "footer_links": [], "run_history": False}


# --- HTML rendering (pure functions: tests/unit/test_web_chat.py) ----------------------------
def esc(value: object) -> str:
    """Text made inert for HTML, attribute values included."""
    return html.escape(str(value), quote=True)


def text_html(value: str) -> str:
    """Escaped text with its line breaks kept."""
    return esc(value).replace("\n", "<br>")


def anchor(turn_key: str, n: int) -> str:
    """The id of a turn's card ``n``: unique on the page since ``turn_key`` is."""
    return f"nr-src-{turn_key}-{n}"


def link_html(href: str | None, label: str) -> str:
    """A link opening in a new tab when ``href`` is http(s) or one of our paths, else text."""
    if href and (href.startswith(("http://", "https://")) or re.match(r"/(?![/\\])", href)):
        return f'<a href="{esc(href)}" target="_blank" rel="noopener noreferrer">{esc(label)}</a>'
    return f"<span>{esc(label)}</span>"


def answer_html(answer: str, citations: Sequence[Citation], turn_key: str) -> str:
    """The answer, escaped, each ``[n]`` that has a card turned into a link to it."""
    known = {c.n for c in citations}

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in known:
            return match.group(0)
        return f'<a class="nr-cite" href="#{anchor(turn_key, n)}">[{n}]</a>'

    return CITE.sub(link, text_html(answer))


def quote_html(quote: str, highlight: tuple[int, int] | None) -> str:
    """The quoted passage with the supporting sentence (``highlight``) marked."""
    if highlight is None:
        return esc(quote)
    a, b = highlight
    if not 0 <= a < b <= len(quote):
        return esc(quote)
    return f"{esc(quote[:a])}<mark>{esc(quote[a:b])}</mark>{esc(quote[b:])}"


def card_html(c: Citation, turn_key: str, ui_lang: str) -> str:
    title = c.title.strip() or t(ui_lang, "untitled")
    meta = [format_date(c.date, ui_lang), language_name(ui_lang, c.lang)]
    if c.source:
        meta.append(c.source)
    if c.also_in:
        names = ", ".join(language_name(ui_lang, code) for code in c.also_in)
        meta.append(f"{t(ui_lang, 'also_in')} {names}")
    link = link_html(article_link(c.article_id, c.url, c.start, c.end), title)
    return (
        f'<li class="nr-card" id="{anchor(turn_key, c.n)}">'
        f'<div class="nr-card-head"><span class="nr-n">[{c.n}]</span> {link}</div>'
        f'<div class="nr-meta">{esc(" · ".join(meta))}</div>'
        f'<blockquote class="nr-quote">{quote_html(c.quote, c.highlight)}</blockquote></li>'
    )


def sources_html(citations: Sequence[Citation], turn_key: str, ui_lang: str) -> str:
    if not citations:
        return ""
    label = esc(t(ui_lang, "sources"))
    cards = "".join(card_html(c, turn_key, ui_lang) for c in citations)
    return (
        f'<section class="nr-sources" aria-label="{label}"><h4>{label}</h4>'
        f'<ol class="nr-cards">{cards}</ol></section>'
    )


def closest_html(passages: Sequence[Passage], ui_lang: str) -> str:
    items = []
    for p in passages[:3]:
        label = f"{p.title.strip() or p.article_id} ({format_date(p.date, ui_lang)})"
        items.append(
            f"<li>{link_html(article_link(p.article_id, p.url, p.start, p.end), label)}</li>"
        )
    return f'<ul class="nr-closest">{"".join(items)}</ul>' if items else ""


def turn_html(turn: Turn, turn_key: str, ui_lang: str) -> str:
    """A finished answer: the text with its [n] links and the sources panel under it."""
    if turn.refused:  # the fixed message, then the closest articles as links
        lines = [line for line in turn.answer.split("\n") if not line.startswith("- ")]
        body = "<br>".join(esc(line) for line in lines)
        return (
            f'<div class="nr-answer nr-refusal">{body}{closest_html(turn.passages, ui_lang)}</div>'
        )
    answer = answer_html(turn.answer, turn.citations, turn_key)
    return f'<div class="nr-answer">{answer}</div>{sources_html(turn.citations, turn_key, ui_lang)}'


def streaming_html(partial: str, ui_lang: str) -> str:
    if not partial:
        return f'<div class="nr-answer nr-pending">{esc(t(ui_lang, "thinking"))}</div>'
    return f'<div class="nr-answer">{text_html(partial)}</div>'


def error_html(message: str) -> str:
    return f'<div class="nr-error" role="alert">{text_html(message)}</div>'


def header_html(ui_lang: str) -> str:
    return (
        f'<div class="nr-header"><h1>{esc(t(ui_lang, "title"))}</h1>'
        f"<p>{esc(t(ui_lang, 'intro'))}</p></div>"
    )


def mode_html(services: Services, ui_lang: str) -> str:
    try:
        engine = services.engine()
        mode = engine.mode
    except NewsragError:
        return f'<p class="nr-mode" id="nr-mode">{esc(t(ui_lang, "answerer_loading"))}</p>'
    name = t(ui_lang, "llm", name=mode[4:]) if mode.startswith("llm:") else t(ui_lang, mode)
    line = t(ui_lang, "answerer", mode=name)
    if engine.judge_state[0] == "unavailable":
        line += " " + t(ui_lang, "without_judge")
    return f'<p class="nr-mode" id="nr-mode">{esc(line)}</p>' + archive_html(services, ui_lang)


def archive_html(services: Services, ui_lang: str) -> str:
    """ "Archive updated 1 December 2026, 1,234 articles": small, under the answerer's line."""
    try:
        status = services.status()
    except NewsragError:  # still loading: the answerer's line says so
        return ""
    except Exception:  # a line of decoration never stops the page
        log.debug("no archive status for the page", exc_info=True)
        return ""
    if status.last_updated is None:
        return ""
    day = datetime.fromtimestamp(status.last_updated).date().isoformat()
    n = f"{status.articles:,}".replace(",", "." if ui_lang == "it" else ",")
    line = t(ui_lang, "archive_status", date=format_date(day, ui_lang), n=n)
    return f'<p class="nr-mode" id="nr-archive">{esc(line)}</p>'


# --- the conversation -----------------------------------------------------------------------
@dataclass
class Answered:
    """What feedback on one answer records."""

    turn_id: str
    question: str
    answer: str
    citations: list[dict[str, Any]]
    mode: str


@dataclass
class Conversation:
    """One browser session's chat: what the Chatbot shows and what the engine is given."""

    messages: list[dict[str, str]] = field(default_factory=list)
    history: list[Message] = field(default_factory=list)
    answered: dict[int, Answered] = field(default_factory=dict)  # message index -> answer
    turns: int = 0  # never reset: anchor ids stay unique on the page
    rated: tuple[Answered, str] | None = None  # the last rating, for its optional comment


def check_filters(
    lang: str | None, date_from: str | None, date_to: str | None, source: str | None, ui_lang: str
) -> Filters:
    """The filters as given in the form; a readable ValueError when a date is not ISO."""
    dates: list[str | None] = []
    for value in (date_from, date_to):
        value = (value or "").strip()
        if value:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ValueError(t(ui_lang, "bad_date", value=value)) from None
        dates.append(value or None)
    if dates[0] and dates[1] and dates[0] > dates[1]:
        raise ValueError(t(ui_lang, "bad_range"))
    return Filters(
        lang=lang if lang and lang != ANY else None,
        date_from=dates[0],
        date_to=dates[1],
        source=(source or "").strip() or None,
    )


def header(request: gr.Request | None, name: str | None) -> str | None:
    if request is None or not name:
        return None
    value = request.headers.get(name.lower())
    return str(value) if value else None


def over_limit(services: Services, request: gr.Request | None) -> int | None:
    """Seconds to wait when this person asked too often (the API's limiter), else None."""
    limiter = getattr(services, "limiter", None)
    if limiter is None or request is None:
        return None
    host = request.client.host if request.client else None
    wait: int | None = limiter.check(client_key(services.settings, request.headers, host))
    return wait


def ask(
    services: Services,
    convo: Conversation,
    question: str,
    filters: tuple[str | None, str | None, str | None, str | None],
    ui_lang: str,
    request: gr.Request | None = None,
) -> Iterator[Conversation]:
    """Appends the question and streams the answer into ``convo``; yields after each change."""
    question = (question or "").strip()
    if not question:
        return
    convo.messages.append({"role": "user", "content": text_html(question)})
    convo.messages.append({"role": "assistant", "content": streaming_html("", ui_lang)})
    index = len(convo.messages) - 1
    yield convo

    def fail(message: str) -> Conversation:
        convo.messages[index]["content"] = error_html(message)
        return convo

    settings = services.settings
    if len(question) > settings.max_question_chars:
        yield fail(t(ui_lang, "too_long", n=settings.max_question_chars))
        return
    try:
        wanted = check_filters(*filters, ui_lang=ui_lang)
    except ValueError as err:
        yield fail(str(err))
        return
    wait = over_limit(services, request)
    if wait is not None:
        yield fail(t(ui_lang, "rate_limited", n=wait))
        return
    convo.turns += 1
    turn_key = str(convo.turns)
    streamed = ""
    try:
        engine = services.engine()
        events = engine.ask_stream(question, history=convo.history, filters=wanted, lang=ui_lang)
        for event in events:
            if isinstance(event, Token):
                streamed += event.text
                convo.messages[index]["content"] = streaming_html(streamed, ui_lang)
                yield convo
            elif isinstance(event, Done):
                turn = event.turn
                convo.messages[index]["content"] = turn_html(turn, turn_key, ui_lang)
                convo.history += [Message("user", question), Message("assistant", turn.answer)]
                convo.answered[index] = Answered(
                    turn_id=str(uuid.uuid4()),
                    question=question,
                    answer=turn.answer,
                    citations=[citation_json(c) for c in turn.citations],
                    mode=turn.mode,
                )
                yield convo
    except NewsragError as err:  # not ready, no index, LLM unreachable…: the message says why
        yield fail(str(err))
    except Exception:
        log.exception("answering %r failed", question)
        yield fail(t(ui_lang, "failed"))


def rate(
    services: Services,
    convo: Conversation,
    index: int,
    liked: bool | str,
    request: gr.Request | None = None,
    comment: str | None = None,
) -> str | None:
    """Stores a thumbs up/down on the answer at message ``index``; an error message or None.

    The rating is stored at once, so it is kept even if no comment follows; a comment that
    follows updates the same row (the store keeps one row per answer and user).
    """
    answered = convo.answered.get(index)
    if answered is None or liked not in (True, False, "Like", "Dislike"):
        convo.rated = None
        return None  # an error message, or a rating taken back
    rating = "up" if liked in (True, "Like") else "down"
    convo.rated = (answered, rating)
    return store(services, answered, rating, request, comment)


def store(
    services: Services,
    answered: Answered,
    rating: str,
    request: gr.Request | None,
    comment: str | None = None,
) -> str | None:
    feedback = getattr(services, "feedback", None)
    if feedback is None:
        return "feedback storage is not configured"
    try:
        feedback.add(
            rating=rating,
            question=answered.question,
            answer=answered.answer,
            citations=answered.citations,
            comment=(comment or "").strip() or None,
            mode=answered.mode,
            user=header(request, services.settings.trusted_user_header),
            origin=header(request, "origin"),
            turn_id=answered.turn_id,
        )
    except (NewsragError, OSError) as err:
        log.warning("feedback not stored: %s", err)
        return str(err)
    return None


# --- the page -------------------------------------------------------------------------------
def build_chat(services: Services) -> gr.Blocks:
    """The chat page; ``services.engine()`` may still be loading when it is built."""
    lang0 = "en"
    with gr.Blocks(title="newsrag", fill_width=False) as demo:
        convo_state = gr.State(Conversation())
        lang_state = gr.State(lang0)
        with gr.Row(equal_height=False):
            with gr.Column(scale=4):
                top = gr.HTML(header_html(lang0))
                chatbot = gr.Chatbot(
                    label=t(lang0, "chat"),
                    elem_id="nr-chat",
                    height="62vh",
                    render_markdown=False,
                    sanitize_html=True,
                    allow_tags=False,
                    latex_delimiters=[],
                    group_consecutive_messages=False,
                    feedback_options=("Like", "Dislike"),
                    buttons=[],  # the copy buttons would copy our HTML, not the text
                )
                with gr.Row(equal_height=True):
                    question = gr.Textbox(
                        label=t(lang0, "question"),
                        placeholder=t(lang0, "placeholder"),
                        elem_id="nr-question",
                        lines=1,
                        max_lines=4,
                        scale=6,
                        autofocus=True,
                    )
                    send = gr.Button(
                        t(lang0, "send"), variant="primary", elem_id="nr-send", scale=1
                    )
                with gr.Group(visible=False, elem_id="nr-feedback") as feedback_box:
                    feedback_title = gr.Markdown(t(lang0, "feedback_title"))
                    comment = gr.Textbox(label=t(lang0, "comment"), lines=2, elem_id="nr-comment")
                    send_comment = gr.Button(t(lang0, "send_comment"), elem_id="nr-send-comment")
                feedback_note = gr.Markdown("", elem_id="nr-feedback-note")
            with gr.Column(scale=1, min_width=240):
                ui_lang = gr.Radio(
                    choices=[("Italiano", "it"), ("English", "en")],
                    value=lang0,
                    label=t(lang0, "ui_lang"),
                    elem_id="nr-ui-lang",
                )
                new = gr.Button(t(lang0, "new"), elem_id="nr-new")
                mode = gr.HTML(mode_html(services, lang0))
                examples_title = gr.Markdown(f"**{t(lang0, 'examples')}**")
                examples = [
                    gr.Button(text, size="sm", elem_classes=["nr-example"])
                    for text in EXAMPLES[lang0]
                ]
                with gr.Accordion(t(lang0, "filters"), open=False, elem_id="nr-filters") as box:
                    lang_filter = gr.Dropdown(
                        choices=lang_choices(lang0), value=ANY, label=t(lang0, "lang_filter")
                    )
                    date_from = gr.Textbox(label=t(lang0, "date_from"), placeholder="2017-01-01")
                    date_to = gr.Textbox(label=t(lang0, "date_to"), placeholder="2024-12-31")
                    source = gr.Textbox(
                        label=t(lang0, "source"), placeholder=t(lang0, "source_any")
                    )

        labelled = [top, chatbot, question, send, feedback_title, comment, send_comment, ui_lang,
                    new, mode, examples_title, *examples, box, lang_filter, date_from, date_to,
                    source]  # fmt: skip

        def relabel(lang: str) -> list[Any]:
            lang = lang if lang in LANGS else "en"
            return [
                lang,
                gr.update(value=header_html(lang)),
                gr.update(label=t(lang, "chat")),
                gr.update(label=t(lang, "question"), placeholder=t(lang, "placeholder")),
                gr.update(value=t(lang, "send")),
                gr.update(value=t(lang, "feedback_title")),
                gr.update(label=t(lang, "comment")),
                gr.update(value=t(lang, "send_comment")),
                gr.update(value=lang, label=t(lang, "ui_lang")),
                gr.update(value=t(lang, "new")),
                gr.update(value=mode_html(services, lang)),
                gr.update(value=f"**{t(lang, 'examples')}**"),
                *[gr.update(value=text) for text in EXAMPLES[lang]],
                gr.update(label=t(lang, "filters")),
                gr.update(choices=lang_choices(lang), label=t(lang, "lang_filter")),
                gr.update(label=t(lang, "date_from")),
                gr.update(label=t(lang, "date_to")),
                gr.update(label=t(lang, "source"), placeholder=t(lang, "source_any")),
            ]

        def on_load(request: gr.Request) -> list[Any]:
            return relabel(pick_lang(request.headers.get("accept-language")))

        demo.load(on_load, outputs=[lang_state, *labelled], queue=False)
        gr.Timer(STATUS_EVERY_S).tick(
            lambda lang: mode_html(services, lang), inputs=lang_state, outputs=mode,
            queue=False, show_progress="hidden",
        )  # fmt: skip
        ui_lang.input(relabel, inputs=ui_lang, outputs=[lang_state, *labelled], queue=False)

        filter_inputs = [lang_filter, date_from, date_to, source]

        def respond(
            text: str,
            convo: Conversation,
            lang: str,
            lang_f: str | None,
            d_from: str | None,
            d_to: str | None,
            src: str | None,
            request: gr.Request,
        ) -> Iterator[tuple[Any, ...]]:
            same = gr.update()
            yield "", convo.messages, convo, gr.update(visible=False), "", same
            for current in ask(services, convo, text, (lang_f, d_from, d_to, src), lang, request):
                yield same, current.messages, current, same, same, same
            yield same, convo.messages, convo, same, same, mode_html(services, lang)

        # answers run in worker threads, a few at once (the API answers in parallel too), in
        # one queue for the three ways of asking
        outputs = [question, chatbot, convo_state, feedback_box, feedback_note, mode]
        asking: list[tuple[Any, gr.components.Component]] = [
            (question.submit, question),
            (send.click, question),
            *[(button.click, button) for button in examples],
        ]
        for trigger, text in asking:
            trigger(
                respond,
                inputs=[text, convo_state, lang_state, *filter_inputs],
                outputs=outputs,
                show_progress="hidden",
                concurrency_id="answer",
                concurrency_limit=4,
            )

        def reset(convo: Conversation) -> tuple[Any, ...]:
            fresh = Conversation(turns=convo.turns)
            return [], fresh, "", gr.update(visible=False), ""

        reset_outputs = [chatbot, convo_state, question, feedback_box, feedback_note]
        new.click(reset, inputs=convo_state, outputs=reset_outputs, queue=False)
        chatbot.clear(reset, inputs=convo_state, outputs=reset_outputs, queue=False)

        def on_like(
            convo: Conversation, lang: str, data: gr.LikeData, request: gr.Request
        ) -> tuple[Any, ...]:
            index = data.index if isinstance(data.index, int) else data.index[0]
            problem = rate(services, convo, index, data.liked, request)
            if problem:
                note = t(lang, "feedback_off", why=problem)
                return convo, gr.update(visible=False), note, ""
            return convo, gr.update(visible=convo.rated is not None), "", ""

        chatbot.like(
            on_like,
            inputs=[convo_state, lang_state],
            outputs=[convo_state, feedback_box, feedback_note, comment],
            queue=False,
        )

        def on_comment(
            convo: Conversation, lang: str, text: str, request: gr.Request
        ) -> tuple[Any, ...]:
            if convo.rated is None or not (text or "").strip():
                return convo, gr.update(visible=False), "", ""
            answered, rating = convo.rated
            problem = store(services, answered, rating, request, text)
            convo.rated = None
            note = t(lang, "feedback_off", why=problem) if problem else t(lang, "thanks")
            return convo, gr.update(visible=False), note, ""

        for trigger in (send_comment.click, comment.submit):
            trigger(
                on_comment,
                inputs=[convo_state, lang_state, comment],
                outputs=[convo_state, feedback_box, feedback_note, comment],
                queue=False,
            )
    return demo


def lang_choices(ui_lang: str) -> list[tuple[str, str]]:
    return [
        (t(ui_lang, "any"), ANY),
        (language_name(ui_lang, "it"), "it"),
        (language_name(ui_lang, "en"), "en"),
    ]
