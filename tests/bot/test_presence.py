"""Agent presence (bot/presence.py) and the queue that respects it, on real databases (each test runs on SQLite and
on PostgreSQL): signing in and out, the roster and its load, capacity by skill and language, the concurrency limit
(also under racing claims), routing `next` by the agent's skills, away agents, and the honest wait estimate."""

from __future__ import annotations

import threading

import pytest

from bot.persistence import Database
from bot.presence import Presence, PresenceError
from bot.queue import AtCapacity, Queue, QueueError
from tests.bot.test_queue import Clock, _package


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(db_url: str):
    db = Database(db_url)
    yield db
    db.close()


@pytest.fixture
def presence(db, policies, clock) -> Presence:
    return Presence(db, clock, policy=policies.handoff)


@pytest.fixture
def queue(db, policies, clock, presence) -> Queue:
    return Queue(db, policies.handoff, clock, presence=presence)


def _fill(queue: Queue, *cids: str, skill: str = "general", language: str = "en") -> None:
    for cid in cids:
        queue.put(_package(cid, skill=skill, language=language))


# -- the table ---------------------------------------------------------------------------------------------------------
def test_sign_in_away_and_out_with_the_roster(presence, clock):
    assert presence.roster() == [] and presence.room("sam") is None and presence.get("sam") is None
    me = presence.sign_in("sam", ["orders", "billing"], ["en", "DE"], 2)
    assert (me.status, me.skills, me.languages, me.max_concurrent, me.load) == \
        ("online", ("orders", "billing"), ("en", "de"), 2, 0)
    assert me.updated_at == clock.now and presence.room("sam") == 2
    presence.sign_in("kim")  # defaults: any skill, English, 3
    clock.now += 60
    assert presence.set_status("sam", "away").status == "away"
    presence.sign_in("lee", ["accounts"])
    assert presence.sign_out("lee") is True
    assert [(a.agent, a.status) for a in presence.roster()] == [("kim", "online"), ("sam", "away"), ("lee", "offline")]
    assert presence.get("lee").skills == ("accounts",)  # kept for the next sign-in
    assert presence.roster()[0].as_json() == {"agent": "kim", "status": "online", "skills": [], "languages": ["en"],
                                              "max_concurrent": 3, "load": 0, "room": 3, "updated_at": 1_000_000.0}
    again = presence.sign_in("sam", ["general"], ["es"], 5)  # signing in again replaces what was declared
    assert (again.status, again.skills, again.languages, again.max_concurrent) == ("online", ("general",), ("es",), 5)
    assert presence.sign_out("nobody") is False and presence.get("nobody") is None  # no row is made for them


@pytest.mark.parametrize("call, fragment", [
    (lambda p: p.sign_in("sam", ["ordrs"]), "unknown skill 'ordrs'; the skills of guardrails/handoff.yaml are "
                                            "accounts, billing, escalations, general, orders"),
    (lambda p: p.sign_in("sam", languages=["english"]), "a 2-letter ISO 639-1 code such as en or de, got 'english'"),
    (lambda p: p.sign_in("sam", languages=[]), "at least one language"),
    (lambda p: p.sign_in("sam", max_concurrent=0), "from 1 to 50, got 0"),
    (lambda p: p.sign_in("sam", max_concurrent=51), "from 1 to 50, got 51"),
    (lambda p: p.sign_in("sam", max_concurrent=True), "from 1 to 50, got True"),
    (lambda p: p.sign_in("two words"), "an agent name is 1 to 64 characters without spaces"),
    (lambda p: p.set_status("ghost", "away"), "agent ghost has not signed in yet: sign in first"),
    (lambda p: p.set_status("sam", "busy"), "online or away (sign out to go offline), got 'busy'"),
])
def test_bad_input_is_one_clear_sentence_and_changes_nothing(presence, call, fragment):
    presence.sign_in("sam", ["orders"])
    with pytest.raises(PresenceError) as caught:
        call(presence)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)
    me = presence.get("sam")
    assert (me.status, me.skills, me.languages, me.max_concurrent) == ("online", ("orders",), ("en",), 3)


def test_capacity_counts_online_agents_by_skill_and_language_and_free_ones_by_their_claims(presence, queue):
    assert presence.capacity("orders", "en") == {"online": 0, "free": 0, "slots": 0}  # nobody known: nobody free
    presence.sign_in("sam", ["orders"], ["en"], 1)
    presence.sign_in("kim", [], ["en", "de"], 2)  # any skill
    presence.sign_in("lee", ["orders"], ["en"])
    presence.set_status("lee", "away")
    assert presence.capacity("orders", "en") == {"online": 2, "free": 2, "slots": 3}
    assert presence.capacity("billing", "en") == {"online": 1, "free": 1, "slots": 2}  # only kim takes any skill
    assert presence.capacity("orders", "DE") == {"online": 1, "free": 1, "slots": 2}
    assert presence.capacity("orders", "fr") == {"online": 0, "free": 0, "slots": 0}
    assert presence.capacity("no-such-skill", "en") == {"online": 1, "free": 1, "slots": 2}  # a read never raises
    _fill(queue, "c-1", "c-2", "c-3")
    queue.claim("c-1", "sam")
    assert presence.capacity("orders", "en") == {"online": 2, "free": 1, "slots": 2}
    assert presence.get("sam").load == 1 and presence.room("sam") == 0
    queue.claim("c-2", "kim")
    queue.claim("c-3", "kim")
    assert presence.capacity("orders", "en") == {"online": 2, "free": 0, "slots": 0}
    queue.close("c-2", "kim", "resolved")  # a resolved handoff no longer counts
    assert presence.capacity("orders", "en") == {"online": 2, "free": 1, "slots": 1}
    assert [a.load for a in presence.roster()] == [1, 1, 0]  # kim, sam (online), lee (away)


# -- the queue with presence -------------------------------------------------------------------------------------------
def test_claiming_beyond_max_concurrent_is_refused(presence, queue):
    presence.sign_in("sam", max_concurrent=2)
    _fill(queue, "c-1", "c-2", "c-3", "c-4")
    queue.claim("c-1", "sam")
    queue.claim("c-2", "sam")
    assert queue.claim("c-2", "sam").claimed_by == "sam"  # claiming one held again is harmless
    with pytest.raises(AtCapacity, match=r"^agent sam is at capacity \(2 of 2 conversations\)"):
        queue.claim("c-3", "sam")
    with pytest.raises(AtCapacity, match="at capacity"):
        queue.claim_next("sam")
    with pytest.raises(QueueError, match="at capacity"):
        queue.require_holder("c-3", "sam")  # replying to a waiting handoff claims it: refused too
    assert queue.get("c-3").status == "waiting"
    queue.release("c-1", "sam")
    assert queue.claim_next("sam").claimed_by == "sam"  # room again
    _fill(queue, "c-5", "c-6", "c-7", "c-8")
    for cid in ("c-5", "c-6", "c-7", "c-8"):  # an agent who never signed in keeps the old behaviour: no limit
        queue.claim(cid, "kim")


def test_racing_claims_by_one_agent_never_pass_the_limit(db_url, policies):
    setup = Database(db_url)
    Presence(setup, policy=policies.handoff).sign_in("sam", max_concurrent=2)
    _fill(Queue(setup, policies.handoff), *(f"c-{i}" for i in range(6)))
    won, refused = [], []
    start = threading.Barrier(6)

    def claim(cid: str) -> None:
        db = Database(db_url)  # one connection each, like six browser tabs of one agent
        queue = Queue(db, policies.handoff, presence=Presence(db, policy=policies.handoff))
        start.wait()
        try:
            queue.claim(cid, "sam")
            won.append(cid)
        except AtCapacity:
            refused.append(cid)
        finally:
            db.close()

    threads = [threading.Thread(target=claim, args=(f"c-{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 2 and len(refused) == 4
    assert Presence(setup, policy=policies.handoff).get("sam").load == 2
    setup.close()


def test_claim_next_uses_the_agents_presence_skills_and_languages(presence, queue):
    queue.put(_package("c-orders-en", "urgent", skill="orders"))
    queue.put(_package("c-billing-de", skill="billing", language="de"))
    queue.put(_package("c-billing-en", skill="billing"))
    presence.sign_in("sam", ["billing"], ["de"])
    assert queue.claim_next("sam").package["conversation_id"] == "c-billing-de"  # not the urgent orders one
    assert queue.claim_next("sam") is None  # nothing else in German for billing
    assert queue.claim_next("sam", languages=("en",)).package["conversation_id"] == "c-billing-en"  # explicit wins
    presence.sign_in("kim", [], ["en"])  # any skill
    assert queue.claim_next("kim").package["conversation_id"] == "c-orders-en"


def test_an_away_or_offline_agent_takes_no_new_work_through_next(presence, queue):
    _fill(queue, "c-1", "c-2")
    presence.sign_in("sam")
    presence.set_status("sam", "away")
    with pytest.raises(QueueError, match="^agent sam is away: sign in"):
        queue.claim_next("sam")
    presence.sign_out("sam")
    with pytest.raises(QueueError, match="^agent sam is offline: sign in"):
        queue.claim_next("sam")
    assert [e.status for e in queue.entries(("waiting", "claimed"))] == ["waiting", "waiting"]
    assert queue.claim("c-2", "sam").claimed_by == "sam"  # picking one conversation by hand is still allowed
    presence.sign_in("sam")
    assert queue.claim_next("sam").package["conversation_id"] == "c-1"


def test_wait_estimate_follows_who_is_online_for_the_skill_and_language(presence, queue, clock):
    queue.put(_package("c-ahead", skill="orders"))
    for cid, waited_s in (("c-a", 60), ("c-b", 180), ("c-c", 300)):  # history: median 3 minutes, claimed by sam
        queue.put(_package(cid))
        clock.now += waited_s
        queue.claim(cid, "sam")
    new = {"conversation_id": "c-new", "priority": "normal", "skill": "orders", "language": "en"}
    # no presence rows: as before (one agent claimed recently; c-ahead is ahead: 2 places × 3 min)
    assert queue.wait_minutes(new) == pytest.approx(6.0)
    presence.sign_in("kim", ["billing"])
    presence.sign_in("lee", ["orders"], ["de"])
    assert queue.wait_minutes(new) is None  # agents are known, but nobody online takes orders in English
    presence.sign_in("sam", ["orders"], max_concurrent=5)
    presence.set_status("sam", "away")
    assert queue.wait_minutes(new) is None  # the one who could is away
    presence.set_status("sam", "online")
    assert queue.wait_minutes(new) == pytest.approx(6.0)  # one online agent for it
    presence.sign_in("ann", [], ["en"])
    assert queue.wait_minutes(new) == pytest.approx(3.0)  # two online: the queue ahead is shared
    # a package that does not say its skill and language: the estimate from recent claimers, as before
    assert queue.wait_minutes({"conversation_id": "c-new", "priority": "normal"}) == pytest.approx(6.0)
    for name in ("sam", "ann"):
        presence.sign_out(name)
    assert queue.wait_minutes(new) is None  # the shift ended: no promise


def test_the_engine_wires_presence_into_the_queue_and_the_graphs_capacity(engine):
    assert engine.queue.presence is engine.presence
    assert engine.deps.capacity("orders", "en") == {"online": 0, "free": 0, "slots": 0}
    engine.presence.sign_in("sam", ["orders"], ["en"], 1)
    assert engine.deps.capacity("orders", "en") == {"online": 1, "free": 1, "slots": 1}
    engine.queue.put(_package("c-1", skill="orders"))
    engine.queue.put(_package("c-2", skill="orders"))
    engine.queue.claim_next("sam")
    assert engine.deps.capacity("orders", "en") == {"online": 1, "free": 0, "slots": 0}
    with pytest.raises(AtCapacity):
        engine.queue.claim_next("sam")
