"use strict";
// Customer web chat (page `/`), talking to /api/conversations as described in the web API spec.
// Server and user text only ever reaches the page through textContent (XSS-safe; the CSP forbids inline code).

const STORAGE_KEY = "bot.conversation";
const NETWORK_ERROR = "Network error, please try again";
const POLL_WAIT_S = 20;
const MAX_LENGTH = 2000;
const ROLES = new Set(["customer", "bot", "agent", "system"]);
const STATUSES = new Set(["ai", "human", "closed"]);

const $ = (id) => document.getElementById(id);
const el = {
  messages: $("messages"), input: $("message"), send: $("send"), form: $("composer"), typing: $("typing"),
  banner: $("human-banner"), error: $("error"), newConversation: $("new-conversation"),
  closedActions: $("closed-actions"), startNew: $("start-new"), count: $("message-count"), endChat: $("end-chat"),
};

// conv: {conversation_id, token}; seen: seqs on screen; liveAgent: a person wrote while this page was open (old
// agent messages in the history don't count); generation: bumped per conversation so stale loops/streams stop.
// serverState: the opaque `state` of the last answer; sent back so a long poll also returns when a person claims.
// ended: the customer pressed "End chat" (the page stops here; the server only recorded the CSAT proxy).
const state = { conv: null, status: "ai", handoff: null, liveAgent: null, seen: new Set(), lastSeq: -1, sending: false,
  polling: false, generation: 0, pollController: null, sendController: null, serverState: null, pendingMessage: null,
  ended: false };
const isClosed = () => state.status === "closed" || state.ended;

// Errors carry the HTTP status (0 = network) so callers can tell "conversation gone" from "try again".
const apiError = (message, status, retryAfter = null) => Object.assign(new Error(message), { status, retryAfter });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const isAbort = (err) => Boolean(err && err.name === "AbortError");
const convPath = (suffix = "") => `/api/conversations/${encodeURIComponent(state.conv.conversation_id)}${suffix}`;

function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---------- HTTP ----------
async function request(path, { method = "GET", body, signal, accept = "application/json", auth = true,
  token = null } = {}) {
  const headers = { Accept: accept };
  if (token) headers.Authorization = `Bearer ${token}`;
  else if (auth && state.conv) headers.Authorization = `Bearer ${state.conv.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, signal, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw apiError(NETWORK_ERROR, 0);
  }
  if (res.ok) return res;
  // Failures come as {"error": "..."}; fall back to a generic sentence when the body is not JSON.
  let message = "";
  try {
    const data = await res.json();
    if (data && typeof data.error === "string") message = data.error;
  } catch (_) { /* not JSON */ }
  const retry = Number.parseFloat(res.headers.get("Retry-After") || "");
  throw apiError(message || `Something went wrong (error ${res.status}). Please try again.`, res.status,
    Number.isFinite(retry) ? retry : null);
}

async function getJson(path, options) {
  const res = await request(path, options);
  try { return await res.json(); } catch (_) { throw apiError(NETWORK_ERROR, 0); }
}

// sessionStorage may be unavailable (some privacy modes): the chat then simply doesn't survive a reload.
function loadStored() {
  try {
    const value = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    return value && typeof value.conversation_id === "string" && typeof value.token === "string" ? value : null;
  } catch (_) { return null; }
}
function saveStored(conv) {
  try {
    if (conv) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(conv));
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch (_) { /* ignore */ }
}

// ---------- Rendering ----------
function showError(message) { if (el.error.textContent !== message) el.error.textContent = message; }
function clearError() { el.error.textContent = ""; }
function nearBottom() { return el.messages.scrollHeight - el.messages.scrollTop - el.messages.clientHeight < 80; }
function scrollToEnd() { el.messages.scrollTop = el.messages.scrollHeight; }
// Follow new messages unless the customer scrolled up to read; also when the log shrinks (banner, notices appear).
let stick = true;
el.messages.addEventListener("scroll", () => { stick = nearBottom(); }, { passive: true });
if (window.ResizeObserver) new ResizeObserver(() => { if (stick) scrollToEnd(); }).observe(el.messages);
const textOf = (node) => node.querySelector(".msg-text").textContent;

function buildMessage(role, text, { seq = null, agent = null, pending = null } = {}) {
  const safeRole = ROLES.has(role) ? role : "system";
  const node = h("div", `msg msg-${safeRole}`);
  node.dataset.role = safeRole;
  if (seq !== null) node.dataset.seq = String(seq);
  if (pending) node.dataset.pending = pending;
  if (safeRole !== "system") {
    const meta = h("div", "msg-meta");
    const name = { customer: "You", bot: "Assistant", agent: agent || "Support team" }[safeRole];
    meta.append(h("span", safeRole === "customer" ? "msg-author visually-hidden" : "msg-author", name));
    if (safeRole === "agent") meta.append(" ", h("span", "badge badge-person", "Person"));
    node.append(meta);
  }
  node.append(h("div", "msg-text", text));
  return node;
}

// Keep server order: a message goes before the first one with a higher seq, or before this turn's
// not-yet-confirmed bubbles (those are the newest thing on screen).
function insertMessage(node, seq = null) {
  hideRating(); // a new message answers (or passes over) the rating question; the server says if it still stands
  let before = null;
  if (seq !== null) {
    before = [...el.messages.children].find((child) => child.dataset.pending === "turn"
      || (child.dataset.seq !== undefined && Number(child.dataset.seq) > seq)) || null;
  }
  el.messages.insertBefore(node, before);
  if (stick || node.dataset.role === "customer") scrollToEnd();
}

// Bubbles this page drew itself (greeting, the customer's text, the streamed reply) wait for their seq: a server
// message with the same role and text confirms one of them instead of being drawn twice.
function findPending(role, text) {
  return [...el.messages.querySelectorAll(".msg[data-pending]")]
    .find((node) => node.dataset.role === role && textOf(node).trim() === text.trim()) || null;
}

function applyMessages(list, live) {
  if (!Array.isArray(list)) return;
  const sorted = list.filter((m) => m && Number.isFinite(Number(m.seq))).sort((a, b) => a.seq - b.seq);
  for (const m of sorted) {
    const seq = Number(m.seq);
    if (state.seen.has(seq)) continue;
    state.seen.add(seq);
    state.lastSeq = Math.max(state.lastSeq, seq);
    const text = typeof m.text === "string" ? m.text : "";
    const agent = typeof m.agent === "string" && m.agent ? m.agent : null;
    if (live && m.role === "agent" && state.status === "human") state.liveAgent = agent || state.liveAgent || "";
    const mine = findPending(m.role, text);
    if (mine) {
      mine.dataset.seq = String(seq);
      delete mine.dataset.pending;
    } else if (text.trim()) {
      insertMessage(buildMessage(m.role, text, { seq, agent }), seq);
    }
  }
  updateBanner();
}

function bannerText() {
  if (state.ended) return "You ended this conversation. Thank you for contacting us.";
  if (state.status === "closed") return "This conversation has ended.";
  if (state.status !== "human") return "";
  const handoff = state.handoff || {};
  if (handoff.status === "claimed" || state.liveAgent !== null) {
    const name = handoff.agent || state.liveAgent;
    return name ? `You are now talking to ${name}, a person from our team.`
      : "You are now talking to a person from our team.";
  }
  const minutes = handoff.wait_minutes === null ? NaN : Number(handoff.wait_minutes);
  return Number.isFinite(minutes)
    ? `You're being connected to a person. Expected wait: about ${Math.max(1, Math.round(minutes))} min.`
    : "You're being connected to a person.";
}

function updateBanner() {
  const text = bannerText();
  el.banner.hidden = !text;
  if (el.banner.textContent !== text) el.banner.textContent = text; // a live region: only touch it on change
  el.banner.classList.toggle("banner-closed", isClosed());
}

function updateComposer() {
  const closed = isClosed();
  el.input.disabled = closed;
  el.send.disabled = closed || state.sending;
  el.closedActions.hidden = !closed;
  el.endChat.hidden = !state.conv || state.ended;
  el.form.setAttribute("aria-busy", String(state.sending));
  for (const button of el.messages.querySelectorAll(".csat button")) button.disabled = state.sending;
}

function showTyping(on) {
  el.typing.hidden = !on;
  if (on && stick) scrollToEnd();
}

function updateCount() {
  const left = MAX_LENGTH - el.input.value.length;
  el.count.textContent = left <= 200 ? `${left} characters left` : "";
}

// ---------- Rating the conversation (CSAT) ----------
// The server flags a reply that ends with "how would you rate this conversation, from 1 (poor) to 5 (excellent)?"
// (`csat_asked`): five buttons under it send the digit as an ordinary message, so the rating goes through the same
// path as a typed "4" and stays in the transcript. Any other message, or the answer, takes them away.
const RATING_WORDS = { 1: "poor", 5: "excellent" };

function showRating() {
  if (el.messages.querySelector(".csat") || state.ended || !state.conv) return;
  const box = h("div", "csat");
  box.setAttribute("role", "group");
  box.setAttribute("aria-labelledby", "csat-label");
  const label = h("p", "csat-label", "Rate this conversation: 1 is poor, 5 is excellent. Or just keep writing.");
  label.id = "csat-label";
  const row = h("div", "csat-buttons");
  for (let score = 1; score <= 5; score += 1) {
    const button = h("button", "btn btn-secondary csat-button", String(score));
    button.type = "button";
    button.dataset.score = String(score);
    const word = RATING_WORDS[score] ? ` (${RATING_WORDS[score]})` : "";
    button.setAttribute("aria-label", `Rate ${score} out of 5${word}`);
    button.disabled = state.sending;
    button.addEventListener("click", () => rate(score));
    row.append(button);
  }
  box.append(label, row);
  el.messages.append(box);
  if (stick) scrollToEnd();
}

function hideRating() {
  const box = el.messages.querySelector(".csat");
  if (!box) return;
  const focused = box.contains(document.activeElement);
  box.remove();
  if (focused && !el.input.disabled) el.input.focus(); // keyboard users are not left on a removed button
}

// `asked` from a done event, the conversation or a poll: true shows the buttons, false removes them.
function applyRating(asked) {
  if (asked === true) showRating();
  else if (asked === false) hideRating();
}

function rate(score) {
  if (state.sending || state.ended) return;
  send(String(score), { rating: true });
}

// ---------- Conversation state ----------
// The done event's handoff_info is loosely specified: keep what matches the poll's handoff shape.
function normalizeHandoff(info) {
  if (!info || typeof info !== "object") return undefined;
  return { reason: info.reason ?? null, status: info.status || "waiting", agent: info.agent ?? null,
    wait_minutes: info.wait_minutes ?? info.waiting_minutes ?? null };
}

function applyStatus(status, handoff, serverState) {
  if (typeof serverState === "string") state.serverState = serverState;
  if (!STATUSES.has(status)) return;
  const previous = state.status;
  state.status = status;
  if (handoff !== undefined) state.handoff = handoff && typeof handoff === "object" ? handoff : null;
  if (status !== "human") state.liveAgent = null;
  if (previous === "human" && status === "ai") insertMessage(buildMessage("system", "You're back with the assistant."));
  updateBanner();
  updateComposer();
  if (status === "human") startPolling();
}

// Forget the current conversation: stops its polling loop and any reply still streaming.
function resetConversation() {
  state.generation += 1;
  if (state.pollController) state.pollController.abort();
  if (state.sendController) state.sendController.abort();
  Object.assign(state, { conv: null, status: "ai", handoff: null, liveAgent: null, seen: new Set(), lastSeq: -1,
    sending: false, polling: false, pollController: null, sendController: null, serverState: null, ended: false });
  saveStored(null);
  el.messages.replaceChildren();
  el.messages.removeAttribute("aria-busy");
  stick = true;
  showTyping(false);
  updateBanner();
  updateComposer();
}

async function startConversation() {
  const gen = state.generation;
  const data = await getJson("/api/conversations", { method: "POST", body: {}, auth: false });
  if (gen !== state.generation) return;
  if (!data || typeof data.conversation_id !== "string" || typeof data.token !== "string") {
    throw apiError("The chat could not be started. Please try again.", 0);
  }
  state.conv = { conversation_id: data.conversation_id, token: data.token };
  saveStored(state.conv);
  if (typeof data.greeting === "string" && data.greeting) {
    insertMessage(buildMessage("bot", data.greeting, { pending: "loose" }));
  }
  applyStatus(STATUSES.has(data.status) ? data.status : "ai", null);
}

// A 401/404 for the stored conversation: it expired or the token is bad, so start over.
async function replaceLostConversation(message) {
  resetConversation();
  showError(message || "Your previous conversation is no longer available, so we started a new one.");
  try { await startConversation(); } catch (err) { showError(err.message); }
}

// Redraw from the server's list (after a reload, after each turn): fills in seqs and anything we missed.
async function syncHistory(live) {
  const gen = state.generation;
  const data = await getJson(convPath());
  if (gen !== state.generation) return;
  applyMessages(data.messages, live);
  applyStatus(data.status, data.handoff ?? null, data.state);
  applyRating(data.csat_asked);
}

// ---------- Long polling while a person is involved ----------
function startPolling() {
  if (state.polling || !state.conv) return;
  state.polling = true;
  pollLoop(state.generation);
}

async function pollLoop(gen) {
  const controller = new AbortController();
  state.pollController = controller;
  let delay = 1000;
  let failures = 0;
  try {
    do { // runs at least once: a done event with handoff=true starts it before the status says "human"
      const started = Date.now();
      try {
        const known = state.serverState === null ? "" : `&state=${encodeURIComponent(state.serverState)}`;
        const data = await getJson(convPath(`/messages?after=${state.lastSeq}&wait=${POLL_WAIT_S}${known}`),
          { signal: controller.signal });
        if (gen !== state.generation) return;
        if (failures >= 3) clearError();
        delay = 1000;
        failures = 0;
        applyMessages(data.messages, true);
        applyStatus(data.status, data.handoff ?? null, data.state);
        applyRating(data.csat_asked); // an agent resolved: the notice ends with the rating question
        const empty = !Array.isArray(data.messages) || data.messages.length === 0;
        if (empty && Date.now() - started < 500) await sleep(1000); // never spin if the server answers at once
      } catch (err) {
        if (gen !== state.generation || isAbort(err)) return;
        if (err.status === 401 || err.status === 404) return void (await replaceLostConversation());
        failures += 1;
        if (failures === 3) showError("Connection lost, trying to reconnect…");
        await sleep(err.retryAfter ? Math.min(err.retryAfter, 60) * 1000 : delay); // 1 s, 2 s, 4 s … max 10 s
        delay = Math.min(delay * 2, 10000);
      }
    } while (gen === state.generation && state.status === "human");
  } finally {
    if (gen === state.generation) Object.assign(state, { polling: false, pollController: null });
  }
}

// ---------- Sending a message and reading the SSE stream ----------
// Chunks may be split anywhere (even inside "\r\n"): buffer until a blank line, then read event:/data: lines.
function createSseParser(onEvent) {
  let buffer = "";
  const dispatch = (block) => {
    let event = "message";
    const data = [];
    for (const line of block.split(/\r\n|\r|\n/)) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    let payload;
    try { payload = JSON.parse(data.join("\n")); } catch (_) { return; } // skip a malformed event, keep the rest
    onEvent(event, payload);
  };
  return {
    push(chunk) {
      buffer += chunk;
      for (let m = /\r\n\r\n|\n\n|\r\r/.exec(buffer); m; m = /\r\n\r\n|\n\n|\r\r/.exec(buffer)) {
        const block = buffer.slice(0, m.index);
        buffer = buffer.slice(m.index + m[0].length);
        dispatch(block);
      }
    },
    end() {
      if (buffer.trim()) dispatch(buffer);
      buffer = "";
    },
  };
}

async function streamTurn(text, gen) {
  const controller = new AbortController();
  state.sendController = controller;
  const customer = buildMessage("customer", text, { pending: "turn" });
  let bot = null;
  let done = null;
  let streamError = null; // {message, status}
  const discard = () => { customer.remove(); if (bot) bot.remove(); };
  insertMessage(customer);
  const onEvent = (event, data) => {
    if (gen !== state.generation) return;
    if (event === "text" && data && typeof data.text === "string" && data.text) {
      showTyping(false);
      if (!bot) insertMessage(bot = buildMessage("bot", "", { pending: "turn" }));
      el.messages.setAttribute("aria-busy", "true"); // screen readers read the reply once, not chunk by chunk
      bot.querySelector(".msg-text").textContent += data.text;
      if (stick) scrollToEnd();
    } else if (event === "done") {
      done = data && typeof data === "object" ? data : {};
    } else if (event === "error") {
      streamError = { message: (data && typeof data.error === "string" && data.error) || NETWORK_ERROR,
        status: data && Number.isInteger(data.status) ? data.status : 0 }; // 401/404 here: the conversation is gone
    }
  };
  try {
    const res = await request(convPath("/messages"),
      { method: "POST", body: { text, message_id: messageId(text) }, accept: "text/event-stream",
        signal: controller.signal });
    const parser = createSseParser(onEvent);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    while (!done && !streamError) {
      const chunk = await reader.read();
      if (chunk.done) break;
      parser.push(decoder.decode(chunk.value, { stream: true }));
    }
    parser.push(decoder.decode());
    parser.end();
    reader.cancel().catch(() => {});
  } catch (err) {
    discard();
    throw isAbort(err) || err.status !== undefined ? err : apiError(NETWORK_ERROR, 0);
  } finally {
    if (state.sendController === controller) state.sendController = null;
  }
  if (gen !== state.generation) return;
  if (!done) {
    discard();
    throw streamError ? apiError(streamError.message, streamError.status) : apiError(NETWORK_ERROR, 0);
  }
  // `reply` is the whole, final reply: it wins over the streamed chunks, and "" means show nothing.
  const reply = typeof done.reply === "string" ? done.reply : "";
  if (bot && !reply) bot.remove();
  else if (bot) bot.querySelector(".msg-text").textContent = reply;
  else if (reply) insertMessage(buildMessage("bot", reply, { pending: "turn" }));
  showTyping(false);
  state.pendingMessage = null;
  if (el.input.value === text) { // the text is only cleared once the server has the message
    el.input.value = "";
    updateCount();
  }
  applyStatus(STATUSES.has(done.status) ? done.status : state.status, normalizeHandoff(done.handoff_info), done.state);
  applyRating(done.csat_asked === true);
  try { await syncHistory(true); } catch (_) { /* the next poll or turn fills in the seqs */ }
  for (const node of el.messages.querySelectorAll('.msg[data-pending="turn"]')) node.dataset.pending = "loose";
  if (done.handoff === true && gen === state.generation && state.status !== "closed") startPolling();
}

// The id of the message in the box: pressing Send again after a failure re-sends the same id, so the server answers
// it once even if the first attempt did reach it (a lost answer, a restarted worker). A new text gets a new id.
function messageId(text) {
  if (!state.pendingMessage || state.pendingMessage.text !== text) {
    const bytes = crypto.getRandomValues(new Uint8Array(16)); // works on plain http too, unlike randomUUID
    state.pendingMessage = { text, id: Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("") };
  }
  return state.pendingMessage.id;
}

// `text`: the message box, or a rating button's digit (`rating`: a conversation an agent closed still takes it).
async function send(text = el.input.value, { rating = false } = {}) {
  const closed = () => state.ended || (state.status === "closed" && !rating);
  if (state.sending || closed()) return;
  if (!text.trim()) return void el.input.focus();
  clearError();
  const hadRating = Boolean(el.messages.querySelector(".csat"));
  state.sending = true; // the send button stays disabled while a message is in flight
  updateComposer();
  let gen = state.generation;
  try {
    if (!state.conv) await startConversation();
    gen = state.generation;
    if (!state.conv || closed()) return; // "New conversation" was pressed meanwhile, or it ended
    showTyping(state.status !== "human");
    await streamTurn(text, gen);
  } catch (err) {
    if (isAbort(err) || gen !== state.generation) return;
    const retryable = err.status === 0 || err.status === 429 || err.status >= 500;
    if (hadRating && retryable) showRating(); // not sent, and sending again may work: the question stands
    if (state.conv && (err.status === 401 || err.status === 404)) {
      await replaceLostConversation("Your previous conversation is no longer available, so we started a new one. "
        + "Your message is still in the box: press Send to try again.");
    } else {
      showError(err.message || NETWORK_ERROR);
    }
  } finally {
    if (gen === state.generation) {
      el.messages.removeAttribute("aria-busy");
      state.sending = false;
      showTyping(false);
      updateComposer();
    }
  }
}

// ---------- Start-up and events ----------
// The customer leaves the current conversation (End chat, or a new one): the server records the CSAT proxy unless they
// rated. Only on these explicit actions; closing the tab says nothing (unload events are not reliable).
async function endOnServer(conv) {
  const res = await request(`/api/conversations/${encodeURIComponent(conv.conversation_id)}/end`,
    { method: "POST", body: {}, token: conv.token });
  try { return await res.json(); } catch (_) { return {}; }
}

async function endChat() {
  if (!state.conv || state.ended) return;
  const conv = state.conv;
  clearError();
  try {
    await endOnServer(conv);
  } catch (err) {
    if (err.status !== 401 && err.status !== 404) return void showError(err.message || NETWORK_ERROR);
  }
  if (state.conv !== conv) return; // "New conversation" meanwhile
  state.generation += 1; // stops the long poll and any reply still streaming
  if (state.pollController) state.pollController.abort();
  if (state.sendController) state.sendController.abort();
  Object.assign(state, { ended: true, polling: false, pollController: null, sendController: null, sending: false });
  saveStored(null); // a reload starts afresh
  hideRating();
  showTyping(false);
  updateBanner();
  updateComposer();
  el.startNew.focus();
}

async function newConversation(focus) {
  if (state.conv && !state.ended) endOnServer(state.conv).catch(() => {}); // leaving it: best effort
  resetConversation();
  clearError();
  if (focus) el.input.focus(); // not on page load: a focus jump would disorient screen-reader users
  try { await startConversation(); } catch (err) { showError(err.message); }
}

async function init() {
  updateComposer();
  const stored = loadStored();
  if (!stored) return newConversation(false);
  state.conv = stored;
  // Redraw the history; retry with backoff while the network is down, start over when the conversation is gone.
  for (let delay = 1000, gen = state.generation; gen === state.generation; delay = Math.min(delay * 2, 10000)) {
    try {
      await syncHistory(false);
      scrollToEnd();
      return clearError();
    } catch (err) {
      if (gen !== state.generation) return;
      if (err.status === 401 || err.status === 404) return replaceLostConversation();
      showError(err.message || NETWORK_ERROR);
      await sleep(delay);
    }
  }
}

el.form.addEventListener("submit", (event) => { event.preventDefault(); send(); });
el.input.addEventListener("keydown", (event) => {
  // Enter sends, Shift+Enter is a newline; never send in the middle of an IME composition.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    send();
  }
});
el.input.addEventListener("input", updateCount);
el.newConversation.addEventListener("click", () => newConversation(true));
el.startNew.addEventListener("click", () => newConversation(true));
el.endChat.addEventListener("click", endChat);

init();

// For voice.js (a call in the same conversation): the current conversation, and a redraw after each spoken turn.
window.botChat = { conversation: () => state.conv, refresh: () => syncHistory(true).catch(() => {}) };
