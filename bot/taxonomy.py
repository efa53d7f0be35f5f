"""Names fixed by ../shared/CONTRACTS.md §3. Datasets and other tools depend on them: extend, never rename."""

from typing import Literal, get_args

Intent = Literal[
    "order_status",
    "cancel_order",
    "return_refund",
    "damaged_item",
    "billing",
    "password_reset",
    "account_update",
    "shipping_info",
    "product_question",
    "complaint",
    "human_request",
    "greeting",
    "goodbye",
    "thanks",
    "out_of_scope",
]
INTENTS: tuple[str, ...] = get_args(Intent)

HandoffReason = Literal[
    "customer_request",
    "negative_sentiment",
    "repeated_failure",
    "high_stakes",
    "vip_customer",
    "low_confidence",
    "guardrail",
    "system_error",
    # extensions (guardrails/modes.yaml): the human-led mode sends every conversation to a person; the hybrid
    # orchestrator hands over when the conversation's complexity reaches its threshold
    "human_led",
    "complexity",
]
HANDOFF_REASONS: tuple[str, ...] = get_args(HandoffReason)

Tier = Literal["standard", "gold", "vip"]
TIERS: tuple[str, ...] = get_args(Tier)


def only_known(names: object, known: tuple[str, ...], what: str) -> None:
    """Raise ValueError naming the `what`s among `names` that are not in `known` (policy validators share this)."""
    unknown = sorted(set(names) - set(known))  # type: ignore[call-overload]
    if unknown:
        raise ValueError(f"unknown {what}(s) {unknown}; known: {sorted(known)}")
