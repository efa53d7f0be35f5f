"""The two pages in a real browser (Debian's chromium, driven by Playwright), against the real app served by uvicorn
on loopback, over an engine with the fake LLM: a customer chats and asks for a person, an agent logs in from a second
browser context, reads the package, replies, and the customer sees the reply arrive live.

Set BOT_SCREENSHOT_DIR to keep the screenshots (the README's pictures come from this test).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.web.conftest import ARGS, CHROMIUM, PASSWORD


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def shoot(page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("BOT_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=False)


def test_customer_to_agent_and_back_live(server, browser, fake_llm, tmp_path):
    fake_llm.reply = "Refunds go back to your original payment method within 5 to 10 business days."
    customer = browser.new_context(viewport={"width": 800, "height": 900}).new_page()
    errors: list[str] = []
    customer.on("pageerror", lambda exc: errors.append(str(exc)))
    customer.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    customer.goto(server + "/")
    customer.wait_for_selector("#messages .msg[data-role=bot]")  # the greeting

    box = customer.get_by_label("Your message")
    box.fill("how long do refunds take?")
    box.press("Enter")
    customer.wait_for_selector("#messages .msg[data-role=bot] >> text=5 to 10 business days")
    assert customer.locator("#typing").is_hidden()
    box.fill("I want to talk to a human")
    customer.click("#send")
    banner = customer.locator("#human-banner")
    banner.wait_for(state="visible")
    assert "person" in banner.inner_text().lower()
    conversation = customer.evaluate("JSON.parse(sessionStorage.getItem('bot.conversation')).conversation_id")

    # The agent, in another browser context (no shared cookies or storage).
    agent = browser.new_context(viewport={"width": 1280, "height": 1180}).new_page()
    agent.on("pageerror", lambda exc: errors.append(str(exc)))
    agent.goto(server + "/agent")
    agent.locator("#login-form").wait_for(state="visible")
    assert agent.locator("#console").is_hidden()
    agent.get_by_label("Name").fill("dana")
    agent.get_by_label("Password").fill(PASSWORD)
    agent.click("#login-submit")
    agent.locator("#console").wait_for(state="visible")
    assert agent.locator("#agent-name").inner_text().strip() == "dana"
    item = agent.locator(f".queue-item[data-conversation='{conversation}']")
    item.wait_for()
    assert "customer_request" in item.inner_text().replace(" ", "_").lower() or "request" in item.inner_text().lower()
    item.click()
    agent.wait_for_selector("#summary:not(:empty)")
    assert "needs a person" in agent.locator("#summary").inner_text()  # the fake LLM's summary, checked
    assert agent.locator("#suggested-actions li").count() >= 1
    agent.wait_for_selector("#transcript .line[data-role=customer] >> text=I want to talk to a human")
    assert agent.locator("#reply").input_value().strip()  # the suggested reply is there to edit
    shoot(agent, "agent-console", tmp_path)

    agent.get_by_label("Reply to the customer").fill("Hi, this is Dana. I can help with your refund.")
    agent.click("#send-reply")
    agent.wait_for_selector("#transcript .line[data-role=agent] >> text=I can help with your refund")

    # The customer sees it arrive without doing anything.
    customer.wait_for_selector("#messages .msg[data-role=agent] >> text=I can help with your refund", timeout=15000)
    customer.wait_for_function("document.querySelector('#human-banner').innerText.includes('dana')", timeout=15000)
    shoot(customer, "web-chat", tmp_path)
    assert not errors, errors


def test_the_console_refuses_visitors_and_a_customer_cannot_read_another_conversation(server, browser, client):
    from tests.web.conftest import handed_off

    other, _ = handed_off(client)  # someone else's conversation, with its own token
    visitor = browser.new_context().new_page()
    visitor.goto(server + "/agent")
    visitor.locator("#login-form").wait_for(state="visible")
    assert visitor.locator("#console").is_hidden()
    status = visitor.evaluate("fetch('/api/agent/queue').then(r => r.status)")
    assert status == 401
    visitor.get_by_label("Name").fill("dana")
    visitor.get_by_label("Password").fill("not the password")
    visitor.click("#login-submit")
    visitor.wait_for_selector("#agent-error >> text=wrong name or password")
    assert visitor.locator("#console").is_hidden()

    customer = browser.new_context().new_page()
    customer.goto(server + "/")
    customer.wait_for_selector("#messages .msg[data-role=bot]")
    status = customer.evaluate(
        """async (id) => {
             const mine = JSON.parse(sessionStorage.getItem('bot.conversation'));
             const r = await fetch('/api/conversations/' + id, {headers: {Authorization: 'Bearer ' + mine.token}});
             return r.status;
           }""", other)
    assert status == 404
