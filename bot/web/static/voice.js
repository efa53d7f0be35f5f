"use strict";
// Voice in the web chat: the Talk button opens a call in the current conversation over a WebSocket
// (bot/web/voice.py). The microphone is captured at 16 kHz (an AudioWorklet hands blocks to this page, which
// sends them as 16-bit PCM); the bot's speech arrives as 16-bit PCM and is scheduled gap-free; a "stop" message
// (the caller spoke over the bot) drops what is still queued. What was heard and answered appears in the chat.

(() => {
  const RATE = 16000;
  const button = document.getElementById("voice-toggle");
  const status = document.getElementById("voice-status");
  if (!button || !status) return;
  let call = null;

  function say(text) { status.hidden = !text; status.textContent = text || ""; }

  function toPcm16(floats) {
    const out = new Int16Array(floats.length);
    for (let i = 0; i < floats.length; i += 1) {
      const v = Math.max(-1, Math.min(1, floats[i]));
      out[i] = v < 0 ? v * 0x8000 : v * 0x7fff;
    }
    return out.buffer;
  }

  // Speech out: chunks queued back to back on one clock; `flush` stops everything not yet heard.
  function player(context, rate) {
    let next = 0;
    const playing = new Set();
    return {
      play(buffer) {
        const ints = new Int16Array(buffer);
        const audio = context.createBuffer(1, ints.length, rate);
        const data = audio.getChannelData(0);
        for (let i = 0; i < ints.length; i += 1) data[i] = ints[i] / 0x8000;
        const source = context.createBufferSource();
        source.buffer = audio;
        source.connect(context.destination);
        next = Math.max(next, context.currentTime + 0.05);
        source.start(next);
        next += audio.duration;
        playing.add(source);
        source.onended = () => playing.delete(source);
        call.received += ints.length;
        button.dataset.received = String(call.received); // samples of speech received (tests read it)
      },
      flush() {
        for (const source of playing) { try { source.stop(); } catch (_) { /* already ended */ } }
        playing.clear();
        next = 0;
      },
    };
  }

  async function start() {
    const conv = window.botChat && window.botChat.conversation();
    if (!conv) return say("The chat is not ready yet; try again in a moment.");
    if (!navigator.mediaDevices || !window.AudioWorkletNode) return say("This browser cannot capture the microphone.");
    call = { socket: null, context: null, stream: null, out: null, speaker: null, received: 0, sent: 0 };
    button.setAttribute("aria-pressed", "true");
    button.textContent = "Hang up";
    say("Connecting…");
    try {
      // Echo cancellation keeps the bot's own voice out of the microphone; noise suppression and gain control are
      // off: they help human listeners but blur the sounds a speech recognizer relies on.
      call.stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true,
        noiseSuppression: false, autoGainControl: false } });
      call.context = new AudioContext({ sampleRate: RATE });
      call.out = new AudioContext();
      await call.context.audioWorklet.addModule("/static/voice-worklet.js");
    } catch (err) {
      stop();
      return say(`No microphone: ${err.message || err}`);
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/conversations/${encodeURIComponent(conv.conversation_id)}/voice`);
    socket.binaryType = "arraybuffer";
    call.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ token: conv.token, rate: RATE }));
    socket.onmessage = (event) => onMessage(event.data);
    socket.onclose = () => { if (call && call.socket === socket) { stop(); } };
    socket.onerror = () => say("The call was interrupted.");
  }

  function onMessage(data) {
    if (!call) return;
    if (data instanceof ArrayBuffer) { if (call.speaker) call.speaker.play(data); return; }
    let message;
    try { message = JSON.parse(data); } catch (_) { return; }
    if (message.type === "ready") {
      call.speaker = player(call.out, message.audio_rate);
      const input = call.context.createMediaStreamSource(call.stream);
      const capture = new AudioWorkletNode(call.context, "capture");
      capture.port.onmessage = (event) => {
        if (call && call.socket.readyState === WebSocket.OPEN) { call.socket.send(toPcm16(event.data)); call.sent += 1; }
      };
      input.connect(capture);
      say("Listening… speak now.");
    } else if (message.type === "partial") {
      say(`Heard: ${message.text}…`);
    } else if (message.type === "turn") {
      say(message.transcript ? `Heard: “${message.transcript}”` : "Sorry, that was not clear.");
      if (window.botChat) window.botChat.refresh();
    } else if (message.type === "agent") {
      if (window.botChat) window.botChat.refresh();
    } else if (message.type === "stop") {
      if (call.speaker) call.speaker.flush();
    } else if (message.type === "error") {
      say(message.error || "The call could not continue.");
    }
  }

  function stop() {
    if (!call) return;
    const ending = call;
    call = null;
    try { if (ending.socket && ending.socket.readyState === WebSocket.OPEN) ending.socket.send("bye"); } catch (_) { /* gone */ }
    try { if (ending.socket) ending.socket.close(); } catch (_) { /* gone */ }
    if (ending.stream) ending.stream.getTracks().forEach((track) => track.stop());
    if (ending.context) ending.context.close().catch(() => {});
    if (ending.out) setTimeout(() => ending.out.close().catch(() => {}), 15000); // let the last words finish
    button.setAttribute("aria-pressed", "false");
    button.textContent = "Talk";
    if (status.textContent === "Connecting…" || status.textContent.startsWith("Listening")) say("");
  }

  button.addEventListener("click", () => (call ? stop() : start()));
})();
