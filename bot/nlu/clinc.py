"""CLINC150 utterances mapped onto this project's intent taxonomy (../shared/CONTRACTS.md §3).

CLINC150 (Larson et al., EMNLP 2019, CC BY 3.0) is a corpus of real-world assistant queries that nobody on this project
wrote. For a retail customer-service bot almost all of it is out of scope, which makes it the bulk of our
`out_of_scope` training data and an independent test of out-of-scope recall.

Mapping
-------
* ``order_status`` -> ``order_status``, ``greeting`` -> ``greeting``, ``goodbye`` -> ``goodbye``,
  ``thank_you`` -> ``thanks``.
* Every other intent, and the ``oos`` label of the ``oos_*`` splits -> ``out_of_scope``, except:

Excluded intents (dropped from training *and* from the evaluation sets built with :func:`load_clinc`), because a
store bot could legitimately handle them, or because they are conversational glue whose meaning depends on the
previous bot turn (labelling them out_of_scope would teach the classifier to derail an ordinary dialogue):

=====================  ===================================================================================
``cancel``             "never mind, cancel that" - glue; also collides with ``cancel_order`` ("cancel it").
``order``              "order me more lysol" - a purchase request a store bot may well handle.
``shopping_list``      "what's on my shopping list" - close to a store wishlist / cart.
``shopping_list_update``  "add eggs to my list" - same: cart / wishlist operations.
``report_fraud``       "there's a fraudulent charge on my account" - on a store account that is ``billing`` (and
                       a high-stakes handoff), not out of scope.
``card_declined``      "why was my card declined" - at our checkout that is ``billing``.
``transactions``       "what are my recent transactions/charges" - ``billing`` for a store account.
``damaged_card``       "my card is damaged/unusable" - shares wording with ``damaged_item``; bank-specific meaning.
``account_blocked``    "why am I locked out of my account" - for a store account that is ``password_reset``.
``freeze_account``     "freeze/block my account immediately" - for a store account: account compromise
                       (``password_reset`` / ``account_update`` and a high-stakes handoff).
``what_can_i_ask_you`` "what can you help me with" - the bot should answer it (capabilities), not fall back.
``are_you_a_bot``      "am I talking to a real person" - borders ``human_request``; the bot should answer it.
``user_name``          "what name do you have saved for me" - account data; glue.
``change_user_name``   "my name is brad", "call me carrie" - customers introduce themselves; borders
                       ``account_update`` ("change my name").
``change_language``    "speak spanish from now on" - glue handled by the language layer, not out of scope.
``yes`` / ``no`` / ``maybe``  answers to the bot's own questions - glue.
``repeat``             "say that again" - glue.
=====================  ===================================================================================

Kept as out_of_scope on purpose (near misses that teach the boundary): banking and credit-card intents (``pay_bill``,
``bill_balance``, ``balance``, ``pin_change``, ``new_card``, ``replacement_card_duration``, ``rewards_balance``, ...),
``cancel_reservation``, ``lost_luggage``, ``flight_status``, ``plug_type``, ``reset_settings``, the voice-assistant
controls (``change_volume``, ``change_speed``, ``whisper_mode``, ``change_accent``) and small talk
(``what_is_your_name``, ``who_do_you_work_for``, ``tell_joke``, ...): the store cannot act on any of them.

Splits: only ``train`` and ``oos_train`` may be used for training. ``val`` and ``oos_val`` are reserved for the QA
out-of-scope evaluation set; use them to measure, never to fit.
"""

from __future__ import annotations

import json
import logging
import os
from functools import lru_cache
from pathlib import Path

from bot.config import PROJECT_ROOT

log = logging.getLogger(__name__)

#: CLINC intent -> our intent, for the CLINC intents that are store intents.
MAPPED: dict[str, str] = {
    "order_status": "order_status",
    "greeting": "greeting",
    "goodbye": "goodbye",
    "thank_you": "thanks",
}

#: CLINC intents dropped entirely (see the module docstring for the reason of each).
EXCLUDED: frozenset[str] = frozenset(
    {
        "cancel",
        "order",
        "shopping_list",
        "shopping_list_update",
        "report_fraud",
        "card_declined",
        "transactions",
        "damaged_card",
        "account_blocked",
        "freeze_account",
        "what_can_i_ask_you",
        "are_you_a_bot",
        "user_name",
        "change_user_name",
        "change_language",
        "yes",
        "no",
        "maybe",
        "repeat",
    }
)

SPLITS = ("train", "val", "oos_train", "oos_val")
#: Splits that may be used to fit a model. `val`/`oos_val` are held out for evaluation.
TRAINING_SPLITS = ("train", "oos_train")

OUT_OF_SCOPE = "out_of_scope"


_RELATIVE = Path("shared") / "data" / "clinc150" / "clinc150_train_val.json"


def clinc_path() -> Path:
    """Where the CLINC150 file is: ``$BOT_CLINC_PATH``, else ``shared/data/clinc150/...`` beside the checkout.

    "Beside" is looked for from the checkout's parent upwards, so a clone one level deeper than the usual
    ``<workspace>/<repo>`` (a CI runner's work directory, say) still finds the workspace's shared data.
    """
    env = os.environ.get("BOT_CLINC_PATH", "").strip()
    if env:
        return Path(env).expanduser()
    for folder in PROJECT_ROOT.parents:
        candidate = folder / _RELATIVE
        if candidate.is_file():
            return candidate
    return PROJECT_ROOT.parent / _RELATIVE


#: Resolved once at import; call :func:`clinc_path` to re-read the environment.
CLINC_PATH: Path = clinc_path()


def map_intent(clinc_intent: str) -> str | None:
    """Our intent for a CLINC intent, or None when the CLINC intent is excluded."""
    if clinc_intent in EXCLUDED:
        return None
    if clinc_intent == "oos":
        return OUT_OF_SCOPE
    return MAPPED.get(clinc_intent, OUT_OF_SCOPE)


@lru_cache(maxsize=4)
def _read(path: str, mtime_ns: int) -> dict[str, list[list[str]]]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def load_raw(split: str, path: Path | None = None) -> list[tuple[str, str]]:
    """(text, clinc_intent) of one split, unmapped. Raises FileNotFoundError when the file is absent."""
    if split not in SPLITS:
        raise ValueError(f"unknown CLINC split {split!r}; expected one of {SPLITS}")
    p = Path(path) if path is not None else clinc_path()
    data = _read(str(p), p.stat().st_mtime_ns)
    return [(str(text), str(intent)) for text, intent in data[split]]


def load_clinc(split: str, path: Path | None = None) -> list[tuple[str, str]]:
    """(text, our_intent) pairs of a CLINC split with the excluded intents removed.

    `split` is one of ``train``, ``val``, ``oos_train``, ``oos_val``. Raises FileNotFoundError when the file is
    missing (callers that can do without it, like training, catch that and log a warning).
    """
    out: list[tuple[str, str]] = []
    for text, intent in load_raw(split, path):
        ours = map_intent(intent)
        if ours is not None:
            out.append((text, ours))
    return out


def available(path: Path | None = None) -> bool:
    """True when the CLINC file exists and is readable."""
    p = Path(path) if path is not None else clinc_path()
    return p.is_file()
