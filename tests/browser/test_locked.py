"""The chat page and the widget on a locked server (API keys set), in chromium.

Neither has a key: each gets in with the session its page was given (ui/web/session.py), the chat
page as an HttpOnly cookie, the widget (framed by an intranet page of another site, where a
cookie would be third-party) as a token in its page. A client without either gets 401.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Request, Route, expect

from tests.browser.conftest import SSO, shot
from tests.browser.test_chat_page import ask as ask_on_page
from tests.browser.test_chat_page import open_chat
from tests.browser.test_widget import ask as ask_in_widget
from tests.browser.test_widget import open_host
from ui.web.session import COOKIE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUESTION = "where is Isis still active in Syria?"
DEIR_EZZOR = "Syria, Isis implodes at Deir Ezzor"
MAX_BODY = 64 * 1024  # NEWSRAG_MAX_BODY_KB's default, which now covers Gradio's routes


def test_the_chat_page_answers_through_its_session_cookie(locked_server, new_page):
    url = locked_server.url
    refused = httpx.post(url + "/gradio_api/call/respond", json={"data": [QUESTION]}, headers=SSO)
    assert refused.status_code == 401  # no key, no session

    page = new_page()
    posted: list[tuple[str, int]] = []

    def record(request: Request) -> None:
        if request.method == "POST":
            posted.append((request.url, len(request.post_data_buffer or b"")))

    page.on("request", record)
    open_chat(page, url)
    ask_on_page(page, QUESTION)
    expect(page.locator("#nr-chat .nr-card").first).to_contain_text(DEIR_EZZOR)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert COOKIE not in page.evaluate("document.cookie")  # no script on the page can read it

    # a thumbs up carries the rated answer: the page's largest message, well within the limit
    page.locator("#nr-chat button[aria-label='Like']").last.click()
    expect(page.locator("#nr-comment textarea")).to_be_visible()
    gradio = [size for where, size in posted if "/gradio_api/" in where]
    assert gradio and max(gradio) < MAX_BODY / 4, gradio
    assert not page.errors
    shot(page, "locked-chat-answer")


def test_the_widget_answers_through_its_session_and_renews_an_expired_one(
    locked_server, locked_host, new_page
):
    page = new_page()
    sent: list[str | None] = []

    def record(request: Request) -> None:
        if request.url.endswith("/api/ask/stream"):
            sent.append(request.headers.get("x-newsrag-session"))

    page.on("request", record)
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/api/ask/" in r.url else None)
    served = 0

    def forge_first(route: Route) -> None:
        """The widget's first page carries a session the server never signed (as an expired
        one would be refused); the page fetched again is the server's own."""
        nonlocal served
        served += 1
        response = route.fetch()
        body = response.text()
        marker = 'name="newsrag-session" content="'
        if served == 1 and marker in body:
            head, rest = body.split(marker, 1)
            forged = "v1.9999999999.0011223344556677.forged"
            body = head + marker + forged + rest[rest.index('"') :]
        route.fulfill(response=response, body=body)

    page.route(f"{locked_server.url}/widget?*", forge_first)
    open_host(page, locked_host.origin)
    page.locator("newsrag-widget button.launcher").click()
    chat = page.frame_locator("newsrag-widget iframe")
    expect(chat.locator("#question")).to_be_focused()
    ask_in_widget(page, QUESTION)
    expect(chat.locator(".card").first).to_contain_text(DEIR_EZZOR)
    assert statuses == [401, 200] and served == 2  # refused, fetched a new session, answered
    assert sent[0] is not None and sent[0].endswith(".forged")
    assert sent[1] is not None and sent[1] != sent[0]

    chat.locator("#question").focus()
    ask_in_widget(page, "and who attacked the base at Acharan?")
    expect(chat.locator(".msg.user")).to_have_count(2)
    assert statuses[-1] == 200 and sent[-1] == sent[1]  # the same session, not yet half-used
    assert not page.errors
    shot(page, "locked-widget-answer")
