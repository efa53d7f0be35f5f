"""The long tail: what customers ask that the bot reads as out of scope, grouped into topics, new ones flagged.

The guide: "plan for the long tail ... and continuously add new intents as patterns emerge". A pattern is many
customers asking about one thing the bot has no intent for. So the out-of-scope messages of the current window and of
the baseline are grouped together by their words: TF-IDF (scikit-learn) with the word weights of the baseline (a word
common in ordinary out-of-scope traffic weighs little, and a burst cannot weaken its own words), then average-linkage
clustering on cosine distance (scipy), cut where messages are on average less than `similarity` alike — it does not
chain unrelated messages through one bridging message, as single linkage or DBSCAN would. A group with at least
`min_conversations` conversations of the current window is an intent candidate; it is *new* when its share of the
window's conversations is at least `new_ratio` times the share of the baseline's conversations in the same group.
Grouping both windows together measures a topic the same way in both: a topic found in the current window alone and
then looked for in the baseline would always look rarer there (it was cut to fit the current messages).

Texts are stored redacted (placeholders such as `[EMAIL-3f9a]`) and stay so: placeholders are dropped for grouping,
and the examples shown are the stored texts. Pure functions over (conversation id, text) pairs: the SQL is in
`evals/drift.py`.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from bot.monitor_policy import Topics
from bot.rails.placeholders import PLACEHOLDER
from evals.drift_stats import poisson_p

WORD = re.compile(r"[^\W\d_]{2,}")
EXAMPLE_CHARS = 160


@dataclass
class Topic:
    terms: list[str]
    conversations: int  # distinct conversations with a message of the topic, current window
    messages: int
    examples: list[str]
    baseline_conversations: int
    share: float  # conversations / the window's conversations
    baseline_share: float
    new: bool
    p_value: float | None  # of "more frequent than in the baseline" (evals/drift_stats.poisson_p)
    alert: bool = False  # new, and not chance at the run's significance level (set by evals/drift.py)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        return " ".join(self.terms[:3])


def analyze(text: str) -> list[str]:
    """Words of a stored message for grouping: no placeholders, digits or English stop words; a plural `s` dropped
    ("wallets" and "wallet" are one word), and each pair of neighbouring words ("crypto wallet") as a term of its
    own. Crude on purpose: it only has to make alike messages look alike."""
    words = []
    for word in WORD.findall(PLACEHOLDER.sub(" ", text).lower()):
        if word in ENGLISH_STOP_WORDS:
            continue
        words.append(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


def find_topics(current: Sequence[tuple[str, str]], baseline: Sequence[tuple[str, str]], conversations: int,
                baseline_conversations: int, policy: Topics) -> list[Topic]:
    """Topics of the current window's out-of-scope messages ((conversation id, text) pairs), most frequent first.

    `conversations` and `baseline_conversations` are the windows' conversation counts (the shares' denominators).
    Beyond `policy.max_messages` a window is sampled (fixed seed) and its denominator scaled to the sample."""
    import numpy as np
    import scipy.sparse

    current, n_cur = _sample(current, conversations, policy.max_messages)
    baseline, n_base = _sample(baseline, baseline_conversations, policy.max_messages)
    if len({cid for cid, _ in current}) < policy.min_conversations:
        return []
    vectors = _vectors([text for _, text in current], [text for _, text in baseline])
    if vectors is None:
        return []
    ours, theirs, terms = vectors
    labels = _clusters(scipy.sparse.vstack([ours, theirs]).tocsr(), 1.0 - policy.similarity)
    mine, theirs_labels = labels[: len(current)], labels[len(current):]
    topics = []
    for label in set(mine.tolist()):
        members = np.flatnonzero(mine == label)
        now = {current[i][0] for i in members}
        if len(now) < policy.min_conversations:
            continue
        before = {baseline[i][0] for i in np.flatnonzero(theirs_labels == label)}
        centroid = np.asarray(ours[members].mean(axis=0)).ravel()
        closest = members[np.argsort(-np.asarray(ours[members] @ centroid).ravel(), kind="stable")]
        share, base_share = len(now) / max(1.0, n_cur), len(before) / max(1.0, n_base)
        topics.append(Topic(
            terms=_top_terms([str(terms[i]) for i in np.argsort(-centroid, kind="stable") if centroid[i] > 0],
                             policy.top_terms),
            conversations=len(now), messages=len(members),
            examples=list(dict.fromkeys(_clip(current[i][1]) for i in closest))[: policy.examples],
            baseline_conversations=len(before), share=round(share, 4), baseline_share=round(base_share, 4),
            new=share >= policy.new_ratio * base_share,
            p_value=poisson_p(len(now), max(1, round(n_cur)), len(before), round(n_base)) if n_base >= 1 else None,
        ))
    return sorted(topics, key=lambda t: (-t.conversations, t.terms))


def _clusters(rows: Any, distance: float, block: int = 256) -> Any:
    """Average-linkage clusters of the rows (unit TF-IDF vectors) cut at cosine `distance` (scipy's linkage over the
    condensed distance matrix, filled a block of rows at a time: n² / 2 doubles, 36 MB for 3,000 messages)."""
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage

    n = rows.shape[0]
    condensed = np.empty(n * (n - 1) // 2)
    at = 0
    for start in range(0, n, block):
        similar = (rows[start:start + block] @ rows.T).toarray()
        for offset, line in enumerate(similar):
            i = start + offset
            tail = 1.0 - line[i + 1:]
            condensed[at:at + len(tail)] = np.clip(tail, 0.0, 2.0)
            at += len(tail)
    return fcluster(linkage(condensed, method="average"), t=distance, criterion="distance")


def _vectors(current: list[str], baseline: list[str]) -> tuple[Any, Any, Any] | None:
    """TF-IDF rows of both windows, with word weights from the baseline: a word common in ordinary out-of-scope
    traffic ("pay", "tell") weighs little, one the baseline never saw weighs most (weights from both windows would
    let a burst weaken its own words and split into pieces). None when no message has a word left."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    vectorizer = CountVectorizer(analyzer=analyze, dtype=np.float32)
    try:
        counts = vectorizer.fit_transform(current + baseline)
    except ValueError:  # not one word left (all stop words, placeholders or digits)
        return None
    weights = TfidfTransformer(sublinear_tf=True).fit(counts[len(current):] if baseline else counts)
    matrix = weights.transform(counts)
    return matrix[: len(current)], matrix[len(current):], vectorizer.get_feature_names_out()


def _top_terms(ranked: list[str], limit: int) -> list[str]:
    """The topic's heaviest terms, a word pair standing in for its words ("crypto wallet", not also "crypto")."""
    chosen: list[str] = []
    for term in ranked:
        words = set(term.split())
        if any(words <= set(c.split()) for c in chosen):
            continue
        chosen = [c for c in chosen if not set(c.split()) < words] + [term]
        if len(chosen) == limit:
            break
    return chosen


def _sample(pairs: Sequence[tuple[str, str]], conversations: int, limit: int) -> tuple[list[tuple[str, str]], float]:
    pairs = list(pairs)
    if len(pairs) <= limit:
        return pairs, float(conversations)
    return random.Random(0).sample(pairs, limit), conversations * limit / len(pairs)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"
