"""The full-page chat at ``/``, as a person sees it in chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.feedback import FeedbackStore
from tests.browser.conftest import HOSTILE_QUESTION, HOSTILE_TITLE, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def open_chat(page: Page, url: str) -> None:
    page.goto(url + "/")  # never wait for networkidle: Gradio's stream keeps the page busy
    expect(page.locator("#nr-question textarea")).to_be_visible()


def ask(page: Page, question: str) -> None:
    """Asks and waits until the answer is finished (its sources, a refusal or an error)."""
    before = page.locator("#nr-chat .nr-sources, #nr-chat .nr-refusal, #nr-chat .nr-error").count()
    box = page.locator("#nr-question textarea")
    box.fill(question)
    box.press("Enter")
    expect(
        page.locator("#nr-chat .nr-sources, #nr-chat .nr-refusal, #nr-chat .nr-error")
    ).to_have_count(before + 1)


def test_an_answer_cites_the_deir_ezzor_passage_and_its_marker_targets_the_card(server, new_page):
    page = new_page()
    open_chat(page, server.url)
    expect(page.locator("#nr-mode")).to_contain_text("extractive")
    # and, discreetly, how current the archive is (GET /api/status says the same)
    expect(page.locator("#nr-archive")).to_contain_text(
        re.compile(r"Archive updated .*, \d+ articles")
    )
    ask(page, "where is Isis still active in Syria?")

    cite = page.locator("#nr-chat a.nr-cite").first
    expect(cite).to_have_text("[1]")
    card_id = (cite.get_attribute("href") or "").removeprefix("#")
    card = page.locator(f"[id='{card_id}']")
    expect(card).to_contain_text("Syria, Isis implodes at Deir Ezzor")
    expect(card.locator("mark")).to_contain_text("Isis in Syria by now is relegated to Deir Ezz")
    expect(card).to_contain_text("English")
    expect(card).to_contain_text("also in Italian")
    link = card.locator("a")  # the seed has no URL: our article page, at the passage
    href = link.get_attribute("href") or ""
    assert href.startswith("/articles/file%3A") and "000_6473641cabe65d09" in href
    assert "?start=" in href and href.endswith("#passage")
    assert link.get_attribute("target") == "_blank"

    cite.click()
    assert page.evaluate("location.hash") == f"#{card_id}"
    assert card.evaluate("card => card.matches(':target')")
    assert not page.errors
    shot(page, "chat-answer")


def test_a_hostile_article_shows_its_markup_as_text_and_runs_nothing(server, new_page):
    page = new_page()
    open_chat(page, server.url)
    ask(page, HOSTILE_QUESTION)
    page.wait_for_timeout(500)  # an injected <img onerror> would have fired by now

    assert page.evaluate("typeof window.__pwned") == "undefined"
    chat = page.locator("#nr-chat")
    expect(chat.get_by_text("<script>window.__pwned=1</script>").first).to_be_visible()
    expect(chat.locator(".nr-card a")).to_have_text(HOSTILE_TITLE)
    assert chat.locator("script, img[src='x'], [onerror]").count() == 0
    href = chat.locator(".nr-card a").get_attribute("href")
    assert href == "/articles/hostile-palmyra?start=0&end=280#passage"  # not the javascript: url
    expect(chat.locator(".nr-meta")).to_contain_text("<b>agency</b>")
    shot(page, "chat-hostile")


def test_the_italian_interface_answers_in_italian_and_can_switch_to_english(server, new_page):
    page = new_page(locale="it-IT")
    open_chat(page, server.url)
    expect(page.locator(".nr-header h1")).to_have_text("Archivio notizie: chiedi")
    expect(page.locator("#nr-send")).to_have_text("Chiedi")
    ask(page, "chi ha attaccato la base di Acharan?")

    answer = page.locator("#nr-chat .nr-answer").last
    expect(answer).to_contain_text("JNIM")
    expect(answer).to_contain_text("Fonti:")
    card = page.locator("#nr-chat .nr-card").first
    expect(card).to_contain_text("Acharan")
    expect(card.locator(".nr-meta")).to_contain_text("italiano")
    expect(page.locator("#nr-chat .nr-sources h4").last).to_have_text("Fonti")
    shot(page, "chat-italian")

    page.locator("#nr-ui-lang").get_by_text("English").click()
    expect(page.locator(".nr-header h1")).to_have_text("News archive: ask")
    expect(page.locator("#nr-send")).to_have_text("Ask")


def test_a_thumbs_up_with_a_comment_is_stored_with_the_sso_user(server, new_page):
    page = new_page()
    page.context.set_extra_http_headers({"X-Forwarded-User": "alice"})
    open_chat(page, server.url)
    ask(page, "where is Isis still active in Syria?")
    page.locator("#nr-chat button[aria-label='Like']").last.click()
    comment = page.locator("#nr-comment textarea")
    expect(comment).to_be_visible()
    comment.fill("Clear and well sourced")
    page.locator("#nr-send-comment").click()
    expect(page.locator("#nr-feedback-note")).to_contain_text("Thanks")

    rows = [r for r in FeedbackStore.for_index(server.index_dir).rows() if r["user"] == "alice"]
    # the thumb is stored at once; the comment that follows updates the same row
    assert [(r["rating"], r["comment"]) for r in rows] == [("up", "Clear and well sourced")]
    assert rows[0]["question"] == "where is Isis still active in Syria?"
    assert "[1]" in rows[0]["answer"] and rows[0]["citations"][0]["n"] == 1


def test_a_bad_date_filter_a_new_conversation_and_an_example(server, new_page):
    page = new_page()
    open_chat(page, server.url)
    page.locator("#nr-filters").get_by_text("Filters").click()
    page.get_by_label("From (YYYY-MM-DD)").fill("20-10-2017")
    ask(page, "where is Isis still active in Syria?")
    expect(page.locator("#nr-chat .nr-error")).to_contain_text("is not valid: write it as YYYY")
    page.get_by_label("From (YYYY-MM-DD)").fill("")
    page.locator("#nr-new").click()
    expect(page.locator("#nr-chat .nr-error")).to_have_count(0)
    page.locator(".nr-example").get_by_text("Who attacked the base at Acharan?").click()
    expect(page.locator("#nr-chat .nr-card")).to_contain_text("Acharan")
