"""One phone call: audio frames in, the bot's graph in the middle, speech out. Data flows one way:

    source ─frames→ segmenter ─utterance→ recognizer ─transcript→ engine.turn ─sentences→ for_speech → TTS → sink

The graph is the same one that serves chat; what differs lives here: the transcript carries its recognition
confidence into the turn (`heard`, so the graph can ask the caller to repeat and then hand off), order numbers
heard are confirmed aloud at once, replies are made speakable and short, each sentence is spoken as soon as it
passes the output checks (the first one plays while the LLM still writes the rest), and customer speech while the
bot talks stops the bot (barge-in) and becomes the next turn.

CSAT: the rating question that ends a goodbye (or an agent's resolve notice) is part of the reply and is spoken in
full, outside the short-answer budget; the caller's spoken answer ("four stars", "I'd say four"; mishearings such as
"for" or "floor" count too) is an ordinary turn that the graph reads as the rating — a lone "four" heard too unsure
is asked again like any unclear speech. `end()` — the call is over — records the proxy when the caller did not rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.engine import Engine, TurnResult
from bot.nlu.entities import extract
from bot.policy import Messages, VoicePolicy
from bot.rails.placeholders import spoken
from voice.segment import Segmenter, SegmenterConfig
from voice.sinks import Sink
from voice.speakable import for_speech, sentences, spoken_digits
from voice.stt import Stream, STTEngine, Transcript
from voice.tts import TTS


@dataclass
class VoiceTurn:
    """One customer utterance and the bot's answer to it."""

    conversation_id: str
    transcript: Transcript
    result: TurnResult | None
    spoken: list[str] = field(default_factory=list)  # sentences synthesised, in order
    start_s: float = 0.0  # where the utterance lies in the input (seconds)
    end_s: float = 0.0
    first_audio_s: float | None = None  # end of turn detected → first synthesised audio ready (a filler counts)
    first_answer_s: float | None = None  # ... → first audio of the answer itself
    barged_in: bool = False  # the caller spoke over this turn's reply and cut it off
    silenced: bool = False  # set by barge-in: nothing more of this turn is said
    ended_at: float = 0.0  # session clock when the end of the utterance was detected (what latency counts from)

    def contract(self) -> dict[str, Any]:
        """CONTRACTS §1 `bot voice --json`, plus the call's own measurements."""
        r = self.result
        return {
            "transcript": self.transcript.text,
            "reply": r.reply if r else "",
            "intent": r.intent if r else None,
            "handoff": bool(r and r.handoff),
            "handoff_reason": r.handoff_reason if r else None,
            "stt_engine": self.transcript.engine,
            "conversation_id": self.conversation_id,
            "stt_confidence": self.transcript.confidence,
            "spoken": " ".join(self.spoken),
            "start_s": round(self.start_s, 2),
            "end_s": round(self.end_s, 2),
            "first_audio_s": None if self.first_audio_s is None else round(self.first_audio_s, 3),
            "first_answer_s": None if self.first_answer_s is None else round(self.first_answer_s, 3),
            "barged_in": self.barged_in,
        }


class VoiceSession:
    def __init__(self, engine: Engine, conversation_id: str, stt: STTEngine, tts: TTS, sink: Sink,
                 policy: VoicePolicy, messages: Messages, *, on_turn: Callable[[VoiceTurn], None] | None = None,
                 on_partial: Callable[[str], None] | None = None, placeholders: dict[str, str] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.engine, self.conversation_id = engine, conversation_id
        self.stt, self.tts, self.sink = stt, tts, sink
        self.policy, self.messages = policy, messages
        self.on_turn, self.on_partial, self.clock = on_turn, on_partial, clock
        self.placeholders = placeholders or {}  # "[EMAIL-3f9a]" is said as "the email address you gave"
        self.segmenter = Segmenter(SegmenterConfig(start_ms=policy.barge_in_ms,
                                                   end_silence_ms=policy.end_of_turn_silence_ms,
                                                   max_utterance_s=policy.max_utterance_s))
        self.turns: list[VoiceTurn] = []
        self._voice = threading.Lock()  # one sentence at a time reaches the sink, in order
        self._speaking: VoiceTurn | None = None

    # -- speaking -------------------------------------------------------------------------------------------------
    def say(self, text: str, turn: VoiceTurn | None = None, budget: list[int] | None = None,
            answer: bool = True) -> None:
        """Speak written text: made speakable, split into sentences, each synthesised and queued at once.

        `turn` is the customer turn this answers (None for the greeting or an agent's message read out)."""
        for sentence in sentences(for_speech(spoken(text, self.placeholders))):
            with self._voice:
                if turn is not None and turn.silenced:
                    return
                if budget is not None:  # [sentences left, characters left]: spoken replies stay short
                    if budget[0] <= 0 or (budget[1] < len(sentence) and budget[0] < self.policy.max_spoken_sentences):
                        return
                    budget[0] -= 1
                    budget[1] -= len(sentence)
                audio = self.tts.synthesize(sentence)
                if turn is not None and turn.silenced:
                    return
                self.sink.play(audio)
                if turn is not None:
                    self._spoke(turn, sentence, answer)

    def _spoke(self, turn: VoiceTurn, sentence: str, answer: bool) -> None:
        turn.spoken.append(sentence)
        elapsed = self.clock() - turn.ended_at
        if turn.first_audio_s is None:
            turn.first_audio_s = elapsed
        if answer and turn.first_answer_s is None:
            turn.first_answer_s = elapsed

    def _filler(self, turn: VoiceTurn) -> None:
        """Nothing said yet while the LLM thinks: a short holding phrase, so the line is never silent for long."""
        with self._voice:
            if turn.spoken or turn.silenced:
                return
            text = self.messages.get("voice.filler")
            self.sink.play(self.tts.synthesize(text))
            self._spoke(turn, text, answer=False)

    def greet(self) -> None:
        self.say(self.messages.get("voice.greeting"))
        self._end_of_reply()

    def _end_of_reply(self) -> None:
        end_turn = getattr(self.sink, "end_turn", None)
        if end_turn:
            end_turn()

    # -- turns ----------------------------------------------------------------------------------------------------
    def respond(self, transcript: Transcript, start_s: float = 0.0, end_s: float = 0.0,
                ended_at: float | None = None) -> VoiceTurn:
        """One recognised utterance → one turn of the conversation, spoken as it is produced."""
        turn = VoiceTurn(self.conversation_id, transcript, None, start_s=start_s, end_s=end_s,
                         ended_at=ended_at if ended_at is not None else self.clock())
        self._speaking = turn
        text = spoken_digits(transcript.text)
        heard = {"confidence": transcript.confidence, "engine": transcript.engine}
        order_ids = extract(text).get("order_ids") or []
        if order_ids and transcript.confidence >= self.policy.min_stt_confidence:
            self.say(self.messages.get("voice.order_heard", order_id=order_ids[-1]), turn)
        budget = [self.policy.max_spoken_sentences, self.policy.max_spoken_chars]
        filler = None
        if self.policy.filler_after_ms:
            filler = threading.Timer(self.policy.filler_after_ms / 1000, self._filler, args=(turn,))
            filler.daemon = True
            filler.start()
        try:
            turn.result = self.engine.turn(self.conversation_id, text,
                                           on_text=lambda chunk: self._say_reply(chunk, turn, budget), heard=heard)
        finally:
            if filler is not None:
                filler.cancel()
        self._end_of_reply()
        self.turns.append(turn)
        if self.on_turn:
            self.on_turn(turn)
        return turn

    def _say_reply(self, chunk: str, turn: VoiceTurn, budget: list[int]) -> None:
        """A piece of the reply, within the budget — except the CSAT question, which is always said whole: a caller
        who never hears it cannot answer it."""
        question = self.messages.get("csat.ask")
        head, found, _ = chunk.rpartition(question)
        if not found:
            return self.say(chunk, turn, budget)
        if head.strip():
            self.say(head, turn, budget)
        self.say(question, turn)

    def end(self) -> float | None:
        """The call is over (the recording ended, the caller hung up): the CSAT proxy is recorded unless the caller
        gave a rating. Returns the proxy stored, or None."""
        return self.engine.end(self.conversation_id)

    def barge_in(self) -> None:
        """The caller started speaking over the bot: stop the voice now, say nothing more of this reply."""
        turn = self._speaking
        if turn is not None:
            turn.silenced = True
        cut = self.sink.stop()
        if turn is not None and cut > 0:
            turn.barged_in = True

    def run(self, frames: Any, realtime: bool = False) -> list[VoiceTurn]:
        """Frames until the source ends; one turn per utterance.

        Files (`realtime=False`) run each turn inline, in order. Live audio runs the turn in a worker thread so that
        frames keep flowing: speech that starts while the bot is busy or talking is barge-in.
        """
        stream: Stream | None = None
        worker: threading.Thread | None = None
        for frame in frames:
            opened = False
            for event in self.segmenter.feed(frame):
                if event.kind == "start":
                    if realtime and (self.sink.playing or (worker is not None and worker.is_alive())):
                        self.barge_in()
                    stream = self.stt.stream()
                    self._partial(stream.accept(event.utterance.samples))  # type: ignore[union-attr]
                    opened = True
                elif event.kind == "end" and stream is not None and event.utterance is not None:
                    worker = self._finish(stream, event.utterance, realtime, worker)
                    stream = None
            if stream is not None and not opened and self.segmenter.in_speech:
                self._partial(stream.accept(frame))
        for event in self.segmenter.flush():
            if stream is not None and event.utterance is not None:
                worker = self._finish(stream, event.utterance, realtime, worker)
        if worker is not None:
            worker.join()
        return self.turns

    def _finish(self, stream: Stream, utterance: Any, realtime: bool,
                worker: threading.Thread | None) -> threading.Thread | None:
        ended_at = self.clock()
        transcript = stream.finish()
        if not realtime:
            self.respond(transcript, utterance.start_s, utterance.end_s, ended_at)
            return None
        if worker is not None:
            worker.join()  # turns of one call run in order
        thread = threading.Thread(target=self.respond, name="voice-turn", daemon=True,
                                  args=(transcript, utterance.start_s, utterance.end_s, ended_at))
        thread.start()
        return thread

    def _partial(self, text: str) -> None:
        if self.on_partial and text:
            self.on_partial(text)
