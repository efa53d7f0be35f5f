"""Every prompt the graph sends, in one place.

The system prompt is a fixed string (no dates, names or ids in it): llama.cpp reuses its cached prefix across turns
and conversations, which is what keeps the warm time-to-first-token low. Everything that changes per turn goes into
the last user message as a short list of facts.
"""

from __future__ import annotations

from typing import Any

SYSTEM = """You are the customer support assistant of {store}, an online shop for home goods, electronics and clothing.
Rules:
- Answer in 1 to 3 short sentences, in plain text, no lists, no markdown.
- Use only the FACTS given with the customer's message. Never invent order numbers, dates, prices, amounts or tracking numbers.
- If the facts do not answer the question, say you don't have that information and offer to connect a person.
- A message without FACTS is small talk (hello, thanks, goodbye): reply in one short friendly sentence.
- Never ask for passwords or full card numbers. Never promise refunds, discounts or compensation that the facts do not state.
- Be friendly and calm, even if the customer is upset."""

INTENT_HELP = {
    "order_status": "where an order or package is, delivery status, tracking",
    "cancel_order": "cancel an order that was placed",
    "return_refund": "return an item or get money back",
    "damaged_item": "an item arrived broken, damaged, defective or wrong",
    "billing": "payments, charges, invoices, promo codes",
    "password_reset": "cannot log in, forgot or reset password",
    "account_update": "change address, email, phone or account details",
    "shipping_info": "shipping options, costs, times, countries (not one specific order)",
    "product_question": "questions about a product: features, sizes, colours, stock",
    "complaint": "unhappy with the service or a product, wants to complain",
    "human_request": "wants to talk to a human agent",
    "greeting": "says hello",
    "goodbye": "ends the conversation",
    "thanks": "says thank you",
    "out_of_scope": "anything not about this shop (weather, banking, trivia, coding, ...)",
}

VOTE_SYSTEM = "You classify customer messages sent to an online shop's support chat. Reply with JSON only."


def system_prompt(store: str) -> str:
    return SYSTEM.format(store=store)


def vote_messages(text: str, candidates: list[str]) -> list[dict[str, str]]:
    options = "\n".join(f"- {name}: {INTENT_HELP[name]}" for name in candidates)
    return [
        {"role": "system", "content": VOTE_SYSTEM},
        {"role": "user", "content": f"Message: {text}\n\nWhich one fits best?\n{options}"},
    ]


def reask_messages(messages: list[dict[str, str]], reason: str) -> list[dict[str, str]]:
    """The same prompt once more, told why the last reply was refused (the output rails' re-ask)."""
    note = (f"Your last reply was not sent because of this problem: {reason}. Write a new reply without it. "
            "Follow the rules.")
    last = dict(messages[-1])
    last["content"] = f"{last['content']}\nNOTE: {note}"
    return messages[:-1] + [last]


VOICE_TASK = "(This is a phone call: answer in one or two short spoken sentences, no lists, no links.)"


def user_content(text: str, facts: list[str], task: str | None) -> str:
    """The last user message: the customer's words, after the facts and the task when there are any."""
    if not facts and task is None:
        return text
    block = "FACTS: " + " ".join(" ".join(f.split()) for f in facts) if facts else "FACTS: none."
    return f"{block}\nCUSTOMER: {text}\nTASK: {task or 'reply'}"


def answer_messages(
    store: str, history: list[dict[str, str]], text: str, facts: list[str], task: str | None
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The chat messages for one reply, and the user message to keep in the LLM history.

    `history` holds earlier user/assistant messages exactly as they were sent, so that the prompt of this turn
    starts with the prompt of the last one and llama.cpp only evaluates the new message.
    """
    user = {"role": "user", "content": user_content(text, facts, task)}
    return [{"role": "system", "content": system_prompt(store)}, *history, user], user


def trim_history(history: list[dict[str, Any]], max_chars: int = 2400) -> list[dict[str, Any]]:
    """Drop the oldest exchanges once the history is long; dropping half at once keeps most turns cache-friendly."""
    total = sum(len(m.get("content", "")) for m in history)
    if total <= max_chars:
        return history
    kept = list(history)
    while kept and sum(len(m.get("content", "")) for m in kept) > max_chars // 2:
        kept = kept[2:]
    return kept


LANGUAGES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "pl": "Polish", "sv": "Swedish", "tr": "Turkish", "ru": "Russian", "zh": "Chinese",
    "ja": "Japanese", "ko": "Korean", "ar": "Arabic", "hi": "Hindi",
}


def language_name(code: str) -> str:
    return LANGUAGES.get(code, code)
