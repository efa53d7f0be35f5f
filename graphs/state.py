"""The one typed state every node reads and updates.

Plain JSON-able values only (dicts, lists, str, numbers): the checkpointer serialises the state after every turn and
other processes (the agent desk, QA tools) read it back, so no live objects live here. Fields marked *per turn* are
reset by the `receive` node; the rest accumulate over the conversation.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

Role = Literal["customer", "bot", "agent", "system"]
Action = Literal["answer", "act", "clarify", "escalate", "queue", "reject", "confirm"]


class Customer(TypedDict, total=False):
    id: str | None  # None for a guest
    name: str | None
    email: str | None
    tier: str  # standard | gold | vip
    language: str  # ISO 639-1, as detected or configured
    known: bool  # found in the store


class Understanding(TypedDict, total=False):
    intent: str
    confidence: float
    out_of_scope: bool
    sentiment: float
    entities: dict[str, list[str]]
    language: str
    language_confidence: float
    failure_signal: bool  # the customer says the last answer did not help
    top: list[tuple[str, float]]  # classifier's best guesses
    source: str  # classifier | classifier+llm | carried (follow-up to a pending question)


class Decision(TypedDict, total=False):
    action: Action
    tool: str | None
    args: dict[str, Any]
    template: str | None  # key in guardrails/messages.yaml when the reply is canned
    reason: str | None  # handoff reason when action == "escalate"
    evidence: str | None  # why the trigger fired (quoted from the conversation or the policy)
    pending: dict[str, Any] | None  # what the bot waits for next turn (an order id, a yes/no)


class Turn(TypedDict, total=False):
    role: Role
    text: str
    ts: float
    turn: int  # customer turn number this belongs to
    intent: str | None
    sentiment: float | None
    confidence: float | None  # bot turns: the intent's confidence (monitoring's low-confidence rate)
    stt_confidence: float  # voice: how sure speech recognition was of this customer turn (0..1)


class ConversationState(TypedDict, total=False):
    # identity
    conversation_id: str
    channel: str
    customer: Customer
    mode: Literal["ai", "human", "closed"]
    # the current turn (per turn)
    message: str
    turn: int
    understanding: Understanding
    decision: Decision
    tool_results: list[dict[str, Any]]
    context: list[dict[str, str]]  # retrieved KB passages for this turn
    reply: str
    reply_source: str  # template | llm | llm+facts | facts
    streamed: str  # the part of `reply` already sent to the customer while it was generated
    blocked: bool
    rail_flags: dict[str, Any]  # signals from the input rails for the triggers, e.g. {"abusive": True}
    check_events: list[dict[str, Any]]
    # accumulated
    transcript: Annotated[list[Turn], operator.add]
    actions_taken: Annotated[list[dict[str, Any]], operator.add]
    events: Annotated[list[dict[str, Any]], operator.add]  # rail, trigger and system events (audit)
    sentiment_trail: Annotated[list[float], operator.add]
    intents: Annotated[list[str], operator.add]  # one per customer turn
    facts: dict[str, Any]  # order ids, emails, verified email, products, amounts
    pending: dict[str, Any] | None  # carried across turns: what the bot asked for
    failures: int  # "that didn't help" count
    low_confidence_streak: int
    unheard_streak: int  # voice: utterances in a row recognised too poorly to act on
    handoff: dict[str, Any] | None  # reason, evidence, turn, priority, package id
    agent_note: str | None  # set when an agent hands the conversation back
    handbacks: int  # times an agent returned the conversation to the AI (loop protection)
    llm_history: list[dict[str, str]]  # earlier prompts and replies exactly as sent (prompt-cache friendly)
    llm_failures: int  # replies in a row the LLM failed to write
    rail_blocks: int  # customer messages the input rails blocked in this conversation
    human_event: str | None  # the last event while waiting: customer | agent_reply | agent_tool | resolve | hand_back
    agent_request: dict[str, Any] | None  # the tool an agent asked the AI to run (AI assist)
    # operating modes (guardrails/modes.yaml)
    cohort: dict[str, Any]  # {name, mode: ai_first | human_led | hybrid, draw}: fixed when the conversation starts
    deferred: list[dict[str, Any]]  # per turn: hybrid's soft triggers, counted as complexity instead of handing off
    orchestration: dict[str, Any] | None  # per turn (hybrid): the complexity score, its points and who acts
    delegation: dict[str, Any] | None  # a task an agent gave the AI: {task, collect, then, agent, turn}
    csat: dict[str, Any] | None  # {asked: turn, after: goodbye | resolve, score, source: customer | proxy}


def new_conversation(conversation_id: str, customer: Customer, channel: str = "chat",
                     cohort: dict[str, Any] | None = None) -> ConversationState:
    """The state a conversation starts from (its first checkpoint)."""
    return ConversationState(
        conversation_id=conversation_id,
        channel=channel,
        customer=customer,
        cohort=cohort or {"name": "default", "mode": "ai_first", "draw": None},
        mode="ai",
        turn=0,
        facts={},
        pending=None,
        failures=0,
        low_confidence_streak=0,
        handoff=None,
        agent_note=None,
        handbacks=0,
    )
