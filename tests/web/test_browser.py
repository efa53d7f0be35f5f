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

    # Dana gives the AI a task: it asks the customer for the order number; she takes the conversation back.
    assert "Mode: AI first (cohort default)" in agent.locator("#package-operating").inner_text()
    task = agent.get_by_label("Give the AI a task")
    assert task.locator("option").count() == 3
    task.select_option("order_details")
    agent.get_by_role("button", name="Give task").click()
    agent.wait_for_selector("#ai-task-status >> text=The AI is collecting: order id")
    assert agent.locator("#delegate-field").is_hidden()
    agent.locator("#assist-title").scroll_into_view_if_needed()
    shoot(agent, "agent-delegation", tmp_path)
    customer.wait_for_selector("#messages .msg >> text=Could you give me your order number?", timeout=15000)
    agent.get_by_role("button", name="Take back").click()
    agent.locator("#take-back").wait_for(state="hidden")
    agent.wait_for_function("document.querySelector('#ai-task-status').textContent === ''")
    assert agent.locator("#delegate-field").is_visible()

    # Again, and this time the customer answers: the AI looks the order up and gives the conversation back to her.
    task.select_option("order_details")
    agent.get_by_role("button", name="Give task").click()
    agent.wait_for_selector("#ai-task-status >> text=The AI is collecting: order id")
    box.fill("it's A10038")
    box.press("Enter")
    customer.wait_for_selector("#messages .msg >> text=email address", timeout=15000)  # a guest: the order's e-mail
    customer.wait_for_selector("#composer[aria-busy=false]", timeout=15000)  # the first answer is complete
    box.fill("jordan.lee@example.net")
    box.press("Enter")
    agent.wait_for_selector("#ai-task-status >> text=The AI finished its task", timeout=15000)
    agent.wait_for_selector("#actions-taken >> text=get_order")
    assert agent.locator("#take-back").is_hidden() and agent.locator("#delegate-field").is_visible()

    # The knowledge base, looked up from the console.
    agent.get_by_label("Look up the knowledge base").fill("how long do refunds take?")
    agent.get_by_role("button", name="Look up").click()
    agent.wait_for_selector("#kb-results .kb-passage .kb-title")
    assert "refund" in agent.locator("#kb-results").inner_text().lower()
    assert "found for" in agent.locator("#kb-status").inner_text()
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


def _stored(engine, conversation):
    record = engine.db.conversation(conversation)
    return record["csat"], record["csat_source"]


def _send(page, text):
    """Type a message and send it; returns once its turn is over (the page takes one message at a time)."""
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")  # send() marks the form busy before its first await
    page.wait_for_selector("#composer[aria-busy=false]")


def _wait_for(check, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_rating_buttons_after_goodbye_and_after_an_agent_resolves(server, browser, engine, fake_llm, tmp_path):
    from bot.desk import Desk

    fake_llm.reply = "Glad I could help."
    errors: list[str] = []
    customer = browser.new_context(viewport={"width": 800, "height": 900}).new_page()
    customer.on("pageerror", lambda exc: errors.append(str(exc)))
    customer.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    customer.goto(server + "/")
    customer.wait_for_selector("#messages .msg[data-role=bot]")
    _send(customer, "thanks, that's all, bye")

    group = customer.get_by_role("group", name="Rate this conversation")
    group.wait_for()
    buttons = group.get_by_role("button")
    assert buttons.count() == 5 and buttons.all_inner_texts() == ["1", "2", "3", "4", "5"]
    assert buttons.first.get_attribute("aria-label") == "Rate 1 out of 5 (poor)"
    assert buttons.last.get_attribute("aria-label") == "Rate 5 out of 5 (excellent)"
    last_reply = customer.locator("#messages .msg[data-role=bot]").last.inner_text()
    assert "how would you rate this conversation" in last_reply  # the buttons sit under the question
    shoot(customer, "web-chat-rating", tmp_path)
    conversation = customer.evaluate("JSON.parse(sessionStorage.getItem('bot.conversation')).conversation_id")
    assert _stored(engine, conversation) == (None, None)

    customer.get_by_role("button", name="Rate 4 out of 5").click()
    customer.wait_for_selector("#messages .msg[data-role=bot] >> text=Thank you for your rating of 4!")
    assert customer.locator(".csat").count() == 0  # answered: the buttons are gone
    assert customer.locator("#messages .msg[data-role=customer]").last.inner_text().strip().endswith("4")
    assert _stored(engine, conversation) == (4.0, "customer")

    # A person resolves the next conversation: the question arrives by long polling, answered from the keyboard.
    customer.click("#new-conversation")
    current = "JSON.parse(sessionStorage.getItem('bot.conversation') || 'null')?.conversation_id"
    _wait_for(lambda: customer.evaluate(current) not in (None, conversation))  # (wait_for_function: the CSP says no)
    _send(customer, "I want to talk to a human")
    customer.locator("#human-banner").wait_for(state="visible")
    second = customer.evaluate("JSON.parse(sessionStorage.getItem('bot.conversation')).conversation_id")
    desk = Desk(engine)
    _wait_for(lambda: engine.queue.get(second) is not None and engine.waiting_for_human(second))
    desk.claim(second, "dana")
    desk.resolve(second, "dana")
    group.wait_for(timeout=15000)
    assert customer.locator("#message").is_disabled()  # closed: only the rating can still be sent
    five = customer.get_by_role("button", name="Rate 5 out of 5 (excellent)")
    five.focus()
    customer.keyboard.press("Enter")
    customer.wait_for_selector("#messages .msg[data-role=bot] >> text=Thank you for your rating of 5!")
    assert customer.locator(".csat").count() == 0
    assert _stored(engine, second) == (5.0, "customer") and engine.state(second)["mode"] == "closed"
    assert "ended" in customer.locator("#human-banner").inner_text()
    assert not errors, errors


def test_end_chat_records_the_proxy_and_other_messages_take_the_buttons_away(server, browser, engine, fake_llm):
    fake_llm.reply = "Glad I could help."
    customer = browser.new_context().new_page()
    errors: list[str] = []
    customer.on("pageerror", lambda exc: errors.append(str(exc)))
    customer.goto(server + "/")
    customer.wait_for_selector("#messages .msg[data-role=bot]")
    _send(customer, "how long do refunds take?")
    _send(customer, "bye")
    customer.locator(".csat").wait_for()
    _send(customer, "one more thing, can I change my delivery address?")
    assert customer.locator("#messages .msg[data-role=bot]").count() == 4
    assert customer.locator(".csat").count() == 0  # another message: no buttons
    conversation = customer.evaluate("JSON.parse(sessionStorage.getItem('bot.conversation')).conversation_id")

    customer.get_by_role("button", name="End chat").click()
    customer.wait_for_selector("#human-banner >> text=You ended this conversation")
    assert customer.locator("#message").is_disabled() and customer.locator("#end-chat").is_hidden()
    assert customer.locator("#closed-actions").is_visible()
    score, source = _stored(engine, conversation)
    assert source == "proxy" and 1 <= score <= 5
    assert customer.evaluate("sessionStorage.getItem('bot.conversation')") is None  # a reload starts afresh
    assert not errors, errors
