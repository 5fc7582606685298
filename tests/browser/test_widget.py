"""The widget on intranet pages of other origins: widget.js, the framed chat, frame-ancestors."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import HOSTILE_QUESTION, HOSTILE_TITLE, SSO, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_host(page: Page, origin: str) -> None:
    page.goto(origin + "/")
    expect(page.locator("newsrag-widget button.launcher")).to_be_visible()


def ask(page: Page, question: str) -> None:
    """Types into the widget (focus must already be in its input), waits for the answer."""
    chat = page.frame_locator("newsrag-widget iframe")
    done = chat.locator(".sources, .msg.error")
    before = done.count()
    page.keyboard.type(question)
    page.keyboard.press("Enter")
    expect(done).to_have_count(before + 1)


def test_the_widget_opens_by_keyboard_and_streams_a_cited_answer(server, host, new_page):
    page = new_page()
    streams = []
    page.on("response", lambda r: streams.append(r) if r.url.endswith("/api/ask/stream") else 0)
    open_host(page, host.origin)
    launcher = page.locator("newsrag-widget button.launcher")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    expect(launcher).to_have_attribute("aria-label", "Open the news assistant")
    # the page's `button {background: red !important}` does not reach into the widget
    assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(11, 110, 79)"
    assert page.evaluate("Object.keys(window).filter(k => /newsrag/i.test(k))") == ["NewsragWidget"]

    page.keyboard.press("Tab")
    assert launcher.evaluate("b => b.getRootNode().activeElement === b")
    page.keyboard.press("Enter")
    expect(launcher).to_have_attribute("aria-expanded", "true")
    chat = page.frame_locator("newsrag-widget iframe")
    expect(chat.locator("#question")).to_be_focused()
    # query-string values are shown as text, never as markup
    expect(chat.locator("#title")).to_have_text("Ask the <b>archive</b>")
    expect(chat.locator(".greeting")).to_have_text("Hello <img src=x onerror=window.__pwned=1>")

    ask(page, "where is Isis still active in Syria?")
    cite = chat.locator(".answer a.cite").first
    expect(cite).to_have_text("[1]")
    card = chat.locator(".card").first
    expect(card).to_contain_text("Syria, Isis implodes at Deir Ezzor")
    expect(card.locator("mark")).to_contain_text("Isis in Syria by now is relegated to Deir Ezz")
    link = card.locator("a")
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in (link.get_attribute("rel") or "")
    assert (link.get_attribute("href") or "").startswith("/articles/file%3A")
    assert streams and streams[0].status == 200
    assert streams[0].headers["content-type"].startswith("text/event-stream")

    cite.click()
    expect(card).to_have_class("card targeted")
    expect(card).to_be_focused()
    shot(page, "widget-answer")

    # a follow-up keeps the conversation; Escape inside the chat closes the panel
    chat.locator("#question").focus()
    ask(page, "and who attacked the base at Acharan?")
    expect(chat.locator(".msg.user")).to_have_count(2)
    page.keyboard.press("Escape")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert launcher.evaluate("b => b.getRootNode().activeElement === b")
    assert not page.errors


def test_a_hostile_article_in_the_widget_is_text(server, host, new_page):
    page = new_page()
    open_host(page, host.origin)
    page.locator("newsrag-widget button.launcher").click()
    chat = page.frame_locator("newsrag-widget iframe")
    expect(chat.locator("#question")).to_be_focused()
    ask(page, HOSTILE_QUESTION)
    page.wait_for_timeout(500)  # an injected <img onerror> would have fired by now

    frame = page.frames[1]
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert frame.evaluate("typeof window.__pwned") == "undefined"
    expect(chat.get_by_text("<script>window.__pwned=1</script>").first).to_be_visible()
    expect(chat.locator(".card a")).to_have_text(HOSTILE_TITLE)
    assert chat.locator("#log script, #log img, #log [onerror]").count() == 0
    href = chat.locator(".card a").get_attribute("href")
    assert href == "/articles/hostile-palmyra?start=0&end=280#passage"
    shot(page, "widget-hostile")


def test_on_a_phone_the_panel_fills_the_screen(server, host, new_page):
    page = new_page(width=390, height=780)
    open_host(page, host.origin)
    page.locator("newsrag-widget button.launcher").click()
    expect(page.frame_locator("newsrag-widget iframe").locator("#question")).to_be_focused()
    box = page.locator("newsrag-widget .panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 390, "height": 780}
    shot(page, "widget-phone")


def test_an_origin_not_allowed_cannot_frame_the_chat(server, host, stranger, new_page):
    for path in ("/widget", "/"):
        csp = httpx.get(server.url + path, headers=SSO).headers["content-security-policy"]
        assert f"frame-ancestors 'self' {host.origin}" in csp and stranger.origin not in csp

    page = new_page()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    open_host(page, stranger.origin)
    page.locator("newsrag-widget button.launcher").click()
    expect(page.locator("newsrag-widget iframe")).to_be_attached()
    for _ in range(50):  # chromium reports the blocked frame on the host page's console
        if any("frame-ancestors" in m for m in messages):
            break
        page.wait_for_timeout(200)
    assert any("frame-ancestors" in m for m in messages), messages
    (frame,) = page.frames[1:]  # chromium's error page, not the chat
    assert not frame.url.startswith(server.url)
    assert frame.locator("#question").count() == 0
    shot(page, "widget-forbidden")
