"""Voice over the web: one WebSocket per call, the caller's microphone in (16-bit PCM) and the bot's speech out.

The call is `bot voice`'s own :class:`voice.session.VoiceSession` — segmenter, recognizer, barge-in, the holding
phrase, short spoken replies, a person after unclear speech — with two adapters: the socket's binary frames become
a byte stream for :class:`voice.sources.PcmSource`, and a sink sends each synthesised sentence back as PCM while
keeping the clock of what the caller is hearing (so speech over the bot is barge-in, as on a phone).

Protocol. The client's first message is JSON `{"token": "<conversation token>", "rate": 16000}` (the token is not in
the URL, where logs and history would keep it); then binary frames of mono little-endian int16 samples at `rate`.
The server sends JSON: `ready` (with `audio_rate` of its speech), `partial` (words so far), `turn` (the utterance's
transcript, reply, intent, handoff — `bot voice --json`'s object), `agent` (an agent's message, also spoken), `stop`
(barge-in: drop queued speech), `error`; and binary frames of its speech at `audio_rate`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from bot.logs import log_context
from bot.web.security import TooManyRequests, client_address
from voice.audio import Audio
from voice.sinks import VirtualSpeaker

log = logging.getLogger(__name__)
router = APIRouter()
HELLO_TIMEOUT_S = 10
MAX_FRAME_BYTES = 64_000  # 2 s of 16 kHz audio; browsers send ~20-100 ms per frame


class _Inbox:
    """The socket's audio as a blocking byte stream (`read(n)`), for PcmSource in the call's thread."""

    def __init__(self) -> None:
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=500)  # ~50 s of audio, then back-pressure
        self._pending = b""

    def put(self, data: bytes | None) -> None:
        self._chunks.put(data)

    def read(self, n: int) -> bytes:
        while len(self._pending) < n:
            chunk = self._chunks.get()
            if chunk is None:
                self._chunks.put(None)  # stays ended for later reads
                break
            self._pending += chunk
        data, self._pending = self._pending[:n], self._pending[n:]
        return data


class SocketSpeaker(VirtualSpeaker):
    """Sends speech to the browser and keeps the time it takes to play there (`playing`, `stop` for barge-in)."""

    def __init__(self, send: Any) -> None:
        super().__init__()
        self._send = send

    def play(self, audio: Audio) -> None:
        super().play(audio)
        self._send(audio.to_bytes())

    def stop(self) -> float:
        cut = super().stop()
        if cut > 0:
            self._send({"type": "stop"})
        return cut


@router.websocket("/api/conversations/{conversation_id}/voice")
async def voice_call(websocket: WebSocket, conversation_id: str) -> None:
    ctx = websocket.app.state.web
    await websocket.accept()
    try:
        ctx.limiter.hit(f"voice:{client_address(websocket, ctx.policy.trusted_proxies)}", 10, 60, "voice calls")
    except TooManyRequests as exc:
        return await _refuse(websocket, str(exc))
    try:
        hello = json.loads(await asyncio.wait_for(websocket.receive_text(), HELLO_TIMEOUT_S))
        token, rate = str(hello.get("token") or ""), int(hello.get("rate") or 16000)
    except (asyncio.TimeoutError, ValueError, TypeError, AttributeError, KeyError, WebSocketDisconnect):
        return await _refuse(websocket, "start with {\"token\": …, \"rate\": 16000} as a text message")
    if len(conversation_id) > 64 or not ctx.sessions.conversation_token_ok(conversation_id, token):
        return await _refuse(websocket, "no such conversation for this token")
    if not 8000 <= rate <= 48000:
        return await _refuse(websocket, f"rate {rate} Hz: send 8,000 to 48,000 Hz")
    if (ctx.engine.db.conversation(conversation_id) or {}).get("status") == "closed":
        return await _refuse(websocket, "this conversation has ended; start a new one")
    try:
        call = await run_in_threadpool(_open, ctx, conversation_id, websocket, asyncio.get_running_loop(), rate)
    except Exception as exc:  # no recognizer or no espeak-ng on the server: say so, do not hang
        with log_context(conversation_id=conversation_id):
            log.exception("voice call could not start")
        return await _refuse(websocket, f"voice is not available on this server: {exc}")
    await websocket.send_json({"type": "ready", "audio_rate": call.tts.rate, "stt": call.stt.name})
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            if data:
                if len(data) > MAX_FRAME_BYTES:
                    await _refuse(websocket, f"audio frames are at most {MAX_FRAME_BYTES} bytes")
                    break
                await run_in_threadpool(call.inbox.put, data)
            elif message.get("text") == "bye":
                break
    except WebSocketDisconnect:
        pass
    finally:
        call.inbox.put(None)
        await run_in_threadpool(call.finish)


class _Call:
    def __init__(self, ctx: Any, conversation_id: str, send: Any, rate: int) -> None:
        from bot.chat import AgentWatcher
        from voice.session import VoiceSession
        from voice.sources import PcmSource
        from voice.stt import open_stt
        from voice.tts import Pyttsx3TTS

        engine, policies = ctx.engine, ctx.engine.deps.policies
        self.stt = open_stt("auto")
        self.tts = Pyttsx3TTS(words_per_minute=policies.voice.words_per_minute)
        self.conversation_id = conversation_id
        self.inbox = _Inbox()
        self.sink = SocketSpeaker(send)
        phrases = {k.placeholder: k.spoken_as for k in policies.rails.pii.kinds.values()}
        self.session = VoiceSession(
            engine, conversation_id, self.stt, self.tts, self.sink, policies.voice, policies.messages,
            on_turn=lambda turn: send(dict(turn.contract(), type="turn")),
            on_partial=lambda text: send({"type": "partial", "text": text}), placeholders=phrases)

        def agent_says(text: str) -> None:  # after a handoff the agent's messages are also read to the caller
            send({"type": "agent", "text": text})
            self.session.say(text)

        self.watcher = AgentWatcher(engine, conversation_id, agent_says)
        self.thread = threading.Thread(target=self._run, args=(PcmSource(self.inbox, rate=rate),), daemon=True,
                                       name="web-voice-call")

    def _run(self, source: Any) -> None:
        with log_context(conversation_id=self.conversation_id):  # a new thread starts with an empty context
            try:
                self.session.run(source.frames(), realtime=True)
            except Exception:
                log.exception("voice call failed")

    def start(self) -> "_Call":
        self.watcher.start()
        self.thread.start()
        return self

    def finish(self) -> None:
        self.thread.join(timeout=120)  # the last turn finishes (its reply is in the conversation)
        self.watcher.stop.set()
        self.sink.close()


def _open(ctx: Any, conversation_id: str, websocket: WebSocket, loop: asyncio.AbstractEventLoop, rate: int) -> _Call:
    def send(item: bytes | dict[str, Any]) -> None:
        """From the call's threads: queue the frame on the event loop (never blocks the recognizer)."""
        coroutine = websocket.send_bytes(item) if isinstance(item, bytes) else websocket.send_json(item)
        future = asyncio.run_coroutine_threadsafe(_quietly(coroutine), loop)
        future.add_done_callback(lambda f: f.exception())

    return _Call(ctx, conversation_id, send, rate).start()


async def _quietly(coroutine: Any) -> None:
    try:
        await coroutine
    except Exception:  # the caller hung up: nothing to send to
        pass


async def _refuse(websocket: WebSocket, message: str) -> None:
    try:
        await websocket.send_json({"type": "error", "error": message})
        await websocket.close(code=1008)
    except Exception:
        pass
