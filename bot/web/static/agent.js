"use strict";
// Agent console (page `/agent`): queue on the left, the handoff package and reply tools on the right; a second view,
// Review, lists recent conversations (handed off or not) to read turn by turn and flag the bot's mistakes.
// Everything from the server is rendered with textContent (never innerHTML); the CSP forbids inline code.

const NETWORK_ERROR = "Network error, please try again";
const REFRESH_MS = 2000;
const PRIORITIES = { urgent: "Urgent", high: "High", normal: "Normal" };
const ROLE_LABELS = { customer: "Customer", bot: "Assistant", agent: "Agent", system: "System" };
const PRESENCE_EVERY = 5; // queue refreshes per presence refresh (about every 10 s; a change shows at once)
const PRESENCE_SAID = {
  online: "You are online: new conversations can come to you.",
  away: "You are away: you keep your conversations and take no new ones.",
  offline: "You are offline: you take no new conversations.",
};

const $ = (id) => document.getElementById(id);
const el = Object.fromEntries([
  "agent-error", "agent-status", "login", "login-form", "login-name", "login-password", "login-submit", "console",
  "agent-bar", "agent-name", "logout", "queue", "queue-count", "queue-empty", "package-empty",
  "package-body", "package-title", "package-returning", "package-meta", "summary", "suggested-actions", "facts",
  "actions-taken", "transcript", "reply", "send-reply", "claim", "release", "draft", "draft-instruction", "resolve",
  "resolve-note", "hand-back", "hand-back-note", "presence-status", "presence-details", "package-operating",
  "ai-task-status", "delegate-field", "delegate-task", "delegate", "take-back", "kb-form", "kb-query", "kb-search",
  "kb-status", "kb-results", "tab-handoffs", "tab-review", "view-handoffs", "view-review", "review-list",
  "review-count", "review-empty", "review-filter", "review-refresh", "review-none", "review-body", "review-title",
  "review-meta", "review-routing", "review-flag-routing", "review-routing-form", "review-transcript", "review-flags",
  "package-flag-turn", "package-flag-open", "package-flag-form", "package-flags",
].map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), $(id)]));

// generation: bumped on login/logout so stale timers and answers are ignored; openToken: same for the open package.
const state = { agent: null, csrf: null, generation: 0, queueTimer: null, queueDelay: REFRESH_MS, queueFailing: false,
  openId: null, openToken: 0, pkg: null, pkgTimer: null, busy: false, rendered: {}, prefilled: false,
  presence: "offline", polls: 0, tasks: [], taskStopped: false, kbBusy: false,
  // the Review view: the open conversation and its answer (reviewToken: ignore stale answers); the package's flags
  view: "handoffs", reviewId: null, reviewToken: 0, review: null, listToken: 0, pkgReview: null, pkgFlagToken: 0,
  choices: { intents: [], handoff_reasons: [] } };
const MODES = { ai_first: "AI first", human_led: "Human led", hybrid: "Hybrid" };
const ACTS = { ai: "the AI goes on", human: "a person takes over", hold: "the AI holds until a person is free" };
const queueSigs = new WeakMap(); // button -> JSON of the entry it shows (rebuild its content only on change)

const apiError = (message, status) => Object.assign(new Error(message), { status });
const enc = encodeURIComponent;
const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// ---------- HTTP ----------
async function api(path, { method = "GET", body, retry = true } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = state.csrf || "";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (_) {
    throw apiError(NETWORK_ERROR, 0);
  }
  // A 403 on a write may be a stale CSRF token (e.g. after a server restart): fetch a fresh one and retry once.
  if (res.status === 403 && method !== "GET" && retry && state.agent) {
    const me = await api("/api/agent/me").catch(() => null);
    if (me && me.csrf_token && me.csrf_token !== state.csrf) {
      state.csrf = me.csrf_token;
      return api(path, { method, body, retry: false });
    }
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch (_) { /* empty or not JSON */ }
  if (!res.ok) {
    const message = data && typeof data.error === "string" ? data.error : `Something went wrong (error ${res.status}).`;
    throw apiError(message, res.status);
  }
  return data;
}

// ---------- Messages to the agent ----------
function showError(message) { if (el.agentError.textContent !== message) el.agentError.textContent = message; }
function clearError() { el.agentError.textContent = ""; el.agentStatus.textContent = ""; }
function announce(message) { el.agentStatus.textContent = message; }

function handleError(err) {
  if (err.status === 401 && state.agent) return showLogin("Your session has ended. Please log in again.");
  showError(err.message || NETWORK_ERROR);
}

// ---------- Formatting (defensive: values may be strings, numbers, lists or objects) ----------
const humanize = (key) => String(key).replace(/_/g, " ").replace(/^\w/, (c) => c.toUpperCase());
const isBlank = (v) => v === null || v === undefined || v === "" || (Array.isArray(v) && !v.length)
  || (typeof v === "object" && !Array.isArray(v) && !Object.keys(v).length);
const minutes = (n) => (Number.isFinite(Number(n)) && n !== null ? `${Math.max(0, Math.round(Number(n)))} min` : "—");

function sentimentText(value) {
  const n = Number(value);
  if (value === null || value === undefined || value === "" || !Number.isFinite(n)) return value ? String(value) : "—";
  const word = n <= -0.5 ? "very negative" : n < -0.1 ? "negative" : n <= 0.1 ? "neutral" : "positive";
  return `${n > 0 ? "+" : ""}${n.toFixed(2)} (${word})`;
}

function priorityBadge(priority) {
  const key = has(PRIORITIES, priority) ? priority : "normal";
  return h("span", `prio prio-${key}`, PRIORITIES[priority] || humanize(priority || "normal"));
}

function renderValue(value, depth = 0) {
  if (isBlank(value)) return h("span", "muted", "—");
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== "object" || v === null)) return document.createTextNode(value.join(", "));
    const list = h("ul", "value-list");
    for (const item of value) list.appendChild(h("li")).append(renderValue(item, depth + 1));
    return list;
  }
  if (typeof value === "object") {
    if (depth > 3) return document.createTextNode(JSON.stringify(value));
    return keyValues(Object.entries(value), depth);
  }
  return document.createTextNode(String(value));
}

function keyValues(entries, depth = 0) {
  const dl = h("dl", "kv");
  for (const [key, value] of entries) {
    const dd = h("dd");
    dd.append(value instanceof Node ? value : renderValue(value, depth + 1));
    const row = h("div"); // <div> groups a dt/dd pair (valid HTML) so each pair lays out as one unit
    row.append(h("dt", null, humanize(key)), dd);
    dl.append(row);
  }
  return dl;
}

// Re-render a part of the package only when its data changed: no flicker, no lost scroll or selection.
function renderPart(node, key, data, build) {
  const sig = JSON.stringify(data ?? null);
  if (state.rendered[key] === sig) return false;
  state.rendered[key] = sig;
  node.replaceChildren(...[build(data)].flat().filter(Boolean));
  return true;
}

// ---------- Queue ----------
function fillQueueItem(button, entry) {
  const customer = entry.customer && typeof entry.customer === "object" ? entry.customer : {};
  const top = h("span", "qi-top");
  top.append(priorityBadge(entry.priority), h("span", "qi-name", customer.name || customer.id || "Guest"));
  if (customer.tier) top.append(h("span", "tier", humanize(customer.tier)));
  const who = entry.status === "claimed"
    ? `Claimed by ${entry.claimed_by === state.agent ? "you" : entry.claimed_by || "an agent"}` : "Waiting";
  button.replaceChildren(top,
    h("span", "qi-reason", `Reason: ${humanize(entry.reason || "unknown")}${entry.intent ? ` · ${humanize(entry.intent)}` : ""}`),
    h("span", "qi-meta", `${who} · ${minutes(entry.waiting_minutes)}`));
}

function renderQueue(entries) {
  const list = Array.isArray(entries) ? entries.filter((e) => e && typeof e.conversation_id === "string") : [];
  const active = document.activeElement;
  const focusedId = el.queue.contains(active) ? active.dataset.conversation : null;
  const existing = new Map([...el.queue.querySelectorAll(".queue-item")].map((b) => [b.dataset.conversation, b]));
  const buttons = list.map((entry) => {
    let button = existing.get(entry.conversation_id);
    if (!button) {
      button = h("button", "queue-item");
      button.type = "button";
      button.dataset.conversation = entry.conversation_id;
      button.addEventListener("click", () => openPackage(entry.conversation_id));
    }
    const sig = JSON.stringify(entry);
    if (queueSigs.get(button) !== sig) {
      fillQueueItem(button, entry);
      queueSigs.set(button, sig);
    }
    button.classList.toggle("is-claimed", entry.status === "claimed");
    return button;
  });
  const current = [...el.queue.children].map((li) => li.firstChild);
  if (buttons.length !== current.length || buttons.some((b, i) => b !== current[i])) {
    // Order changed: rebuild the list, then give focus back to the item that had it (moving a node blurs it).
    el.queue.replaceChildren(...buttons.map((b) => { const li = h("li"); li.append(b); return li; }));
    const again = buttons.find((b) => b.dataset.conversation === focusedId);
    if (again) again.focus();
  }
  markOpenInQueue();
  el.queueEmpty.hidden = buttons.length > 0;
  el.queueCount.textContent = buttons.length ? `(${buttons.length})` : "";
}

function markOpenInQueue() {
  for (const b of el.queue.querySelectorAll(".queue-item")) {
    if (b.dataset.conversation === state.openId) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
  }
}

async function pollQueue(gen) {
  try {
    const data = await api("/api/agent/queue");
    if (gen !== state.generation) return;
    renderQueue(data && data.handoffs);
    if (++state.polls % PRESENCE_EVERY === 0) refreshPresence(gen);
    if (state.queueFailing) showError("");
    Object.assign(state, { queueFailing: false, queueDelay: REFRESH_MS });
  } catch (err) {
    if (gen !== state.generation) return;
    if (err.status === 401) return handleError(err);
    showError(`Could not refresh the queue: ${err.message}`);
    // Back off while the server is unreachable or busy (2 s, 4 s, 8 s, max 10 s).
    Object.assign(state, { queueFailing: true, queueDelay: Math.min(state.queueDelay * 2, 10000) });
  }
  clearTimeout(state.queueTimer);
  state.queueTimer = setTimeout(() => pollQueue(gen), state.queueDelay);
}

// ---------- Package ----------
function renderHeader(pkg) {
  const customer = pkg.customer && typeof pkg.customer === "object" ? pkg.customer : {};
  el.packageTitle.textContent = `${customer.name || "Guest"}${customer.id ? ` (${customer.id})` : ""}`;
  const claimed = pkg.claimed_by ? `Claimed by ${pkg.claimed_by === state.agent ? "you" : pkg.claimed_by}` : "";
  const trail = (Array.isArray(pkg.sentiment_trail) ? pkg.sentiment_trail : [])
    .filter((t) => t && t.sentiment !== null && t.sentiment !== undefined)
    .map((t) => `${t.turn !== null && t.turn !== undefined ? `t${t.turn} ` : ""}${sentimentText(t.sentiment)}`);
  renderPart(el.packageMeta, "meta", [pkg, state.agent], () => [...keyValues([
    ["priority", priorityBadge(pkg.priority)],
    ["tier", customer.tier ? humanize(customer.tier) : null],
    ["language", customer.language],
    ["reason", pkg.reason ? humanize(pkg.reason) : null],
    ["intent", pkg.intent ? humanize(pkg.intent) : null],
    ["sentiment", sentimentText(pkg.sentiment)],
    ["sentiment_trail", trail.length ? trail.join(" → ") : null],
    ["status", [humanize(pkg.status || "unknown"), claimed].filter(Boolean).join(" · ")],
    ["waiting", minutes(pkg.waiting_minutes)],
    ["channel", pkg.channel],
  ].filter(([, v]) => v instanceof Node || !isBlank(v))).childNodes]);
  renderOperating(pkg);
  const back = pkg.returning && typeof pkg.returning === "object" ? pkg.returning : null;
  el.packageReturning.hidden = !back;
  el.packageReturning.textContent = back ? `Returned after ${back.handbacks ?? "a"} hand-back(s)`
    + `${back.last_agent ? ` by ${back.last_agent}` : ""}${back.note ? `: ${back.note}` : ""}` : "";
}

// Who acts: the operating mode and cohort, the orchestrator's last reasoning, the AI holding the customer.
function renderOperating(pkg) {
  const mode = typeof pkg.operating_mode === "string" ? pkg.operating_mode : "";
  const o = pkg.orchestration && typeof pkg.orchestration === "object" ? pkg.orchestration : null;
  const parts = [];
  if (mode) parts.push(`Mode: ${MODES[mode] || humanize(mode)}${pkg.cohort ? ` (cohort ${pkg.cohort})` : ""}`);
  if (o && o.why) {
    const score = Number.isFinite(Number(o.score)) && o.score !== null && o.threshold !== undefined
      ? `, score ${o.score} of ${o.threshold}` : "";
    parts.push(`Orchestrator${o.acts ? ` (${ACTS[o.acts] || o.acts}${score})` : ""}: ${o.why}`);
  }
  if (pkg.holding) parts.push("The AI is keeping the customer company until someone takes this conversation.");
  const text = parts.join(" · ");
  if (el.packageOperating.textContent !== text) el.packageOperating.textContent = text;
  el.packageOperating.hidden = !text;
}

function actionTaken(a) {
  if (!a || typeof a !== "object" || !a.tool) return renderValue(a);
  const args = isBlank(a.args) ? "" : ` ${JSON.stringify(a.args)}`;
  const result = a.result === undefined ? "" : ` → ${typeof a.result === "string" ? a.result : JSON.stringify(a.result)}`;
  return document.createTextNode(`${a.ok === false ? "✗ failed:" : "✓"} ${a.tool}${args}${result}${a.by ? ` (by ${a.by})` : ""}`);
}

function transcriptLine(line) {
  const item = h("li", "line");
  const role = line && has(ROLE_LABELS, line.role) ? line.role : "system";
  item.dataset.role = role;
  const label = role === "agent" && line.agent ? `Agent ${line.agent}` : ROLE_LABELS[role];
  item.append(h("span", "line-role", `${label}:`), " ", h("span", "line-text", line && line.text !== undefined
    ? (typeof line.text === "string" ? line.text : JSON.stringify(line.text)) : ""));
  return item;
}

function renderPackage(pkg) {
  state.pkg = pkg;
  renderHeader(pkg);
  renderPart(el.summary, "summary", pkg.summary, (s) => {
    const node = h("p", "summary-text");
    node.append(renderValue(s));
    return pkg.summary_source === "llm" ? [node, h("p", "source-note", "Written by the AI and checked against the transcript.")] : node;
  });
  renderPart(el.suggestedActions, "suggested", pkg.suggested_actions, (list) => {
    const items = Array.isArray(list) ? list : isBlank(list) ? [] : [list];
    if (!items.length) return h("li", "muted", "No suggestions.");
    return items.map((a) => { const li = h("li"); li.append(renderValue(a)); return li; });
  });
  renderPart(el.facts, "facts", pkg.facts, (facts) => {
    if (!facts || typeof facts !== "object" || Array.isArray(facts)) return renderValue(facts);
    const entries = Object.entries(facts).filter(([, v]) => !isBlank(v));
    return entries.length ? keyValues(entries) : h("p", "muted", "No facts recorded.");
  });
  renderPart(el.actionsTaken, "actions", pkg.actions_taken, (list) => {
    if (!Array.isArray(list) || !list.length) return h("p", "muted", "None yet.");
    const ul = h("ul", "value-list");
    for (const a of list) ul.appendChild(h("li")).append(actionTaken(a));
    return ul;
  });
  const box = el.transcript;
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const changed = renderPart(box, "transcript", pkg.transcript, (lines) => (Array.isArray(lines) && lines.length
    ? lines.map(transcriptLine) : h("li", "line muted", "No messages yet.")));
  if (changed && atBottom) box.scrollTop = box.scrollHeight; // follow new messages unless the agent scrolled up
  if (changed) loadPackageFlags(state.openId); // new customer turns to flag
  renderTask(pkg);
  updateButtons();
}

// The status line of the AI's task (a live region: written only when it changes, so it is read out once).
function renderTask(pkg) {
  const task = pkg.delegation && typeof pkg.delegation === "object" ? pkg.delegation : null;
  let text = el.aiTaskStatus.textContent;
  if (task) {
    const items = typeof task.collecting === "string" && task.collecting ? task.collecting
      : (Array.isArray(task.collect) ? task.collect.map(humanize).join(", ") : "");
    text = `The AI is collecting: ${items}`;
  } else if (pkg.last_task_event && pkg.last_task_event.action === "delegation_done" && !state.taskStopped) {
    // told by the conversation itself (a poll that missed the task's last moments, a reload, still know)
    text = "The AI finished its task and gave the conversation back to you: see Actions taken.";
  } else {
    text = "";
  }
  if (el.aiTaskStatus.textContent !== text) el.aiTaskStatus.textContent = text;
}

function renderTasks(tasks) {
  state.tasks = Array.isArray(tasks) ? tasks.filter((t) => t && typeof t.name === "string") : [];
  const chosen = el.delegateTask.value;
  el.delegateTask.replaceChildren(...state.tasks.map((t) => {
    const option = h("option", null, `${humanize(t.name)}${t.collects ? ` (collects ${t.collects})` : ""}`);
    option.value = t.name;
    return option;
  }));
  if (state.tasks.some((t) => t.name === chosen)) el.delegateTask.value = chosen;
  updateButtons();
}

async function loadTasks(gen) {
  try {
    const data = await api("/api/agent/delegation-tasks");
    if (gen === state.generation) renderTasks(data && data.tasks);
  } catch (err) {
    if (err.status === 401 && gen === state.generation) handleError(err); // otherwise the control stays as it was
  }
}

function renderPassages(passages, query) {
  const list = Array.isArray(passages) ? passages.filter((p) => p && typeof p === "object") : [];
  el.kbResults.replaceChildren(...list.map((p) => {
    const item = h("li", "kb-passage");
    const score = Number.isFinite(Number(p.score)) ? ` · score ${Number(p.score).toFixed(2)}` : "";
    item.append(h("p", "kb-title", p.title || "Untitled"), h("p", "kb-text", p.text || ""),
      h("p", "kb-source", `${p.source ? `Source: ${p.source}` : ""}${score}`));
    return item;
  }));
  const about = query ? `for “${query}”` : "for the customer's last message";
  el.kbStatus.textContent = list.length
    ? `${list.length} passage${list.length === 1 ? "" : "s"} found ${about}.`
    : `Nothing in the knowledge base above the threshold ${about}.`;
}

function updateButtons() {
  const pkg = state.pkg || {};
  const closed = pkg.mode === "closed" || pkg.status === "resolved" || pkg.status === "returned";
  const mine = Boolean(pkg.claimed_by) && pkg.claimed_by === state.agent;
  const other = Boolean(pkg.claimed_by) && !mine;
  const off = state.busy || closed || !state.pkg;
  el.claim.disabled = off || pkg.status !== "waiting";
  const task = pkg.delegation && typeof pkg.delegation === "object" ? pkg.delegation : null;
  el.delegateField.hidden = !mine || closed || Boolean(task);
  el.delegate.disabled = off || !el.delegateTask.options.length;
  el.takeBack.hidden = !task || !mine || closed;
  el.takeBack.disabled = off;
  el.kbSearch.disabled = state.kbBusy || !state.pkg;
  el.packageFlagOpen.disabled = !state.pkgReview || !el.packageFlagTurn.options.length;
  el.claim.textContent = mine ? "Claimed by you" : "Claim";
  el.release.hidden = !mine;
  el.release.disabled = off;
  for (const b of [el.sendReply, el.draft, el.resolve, el.handBack]) b.disabled = off || other;
}

async function openPackage(id) {
  if (state.openId !== id) {
    Object.assign(state, { openId: id, pkg: null, rendered: {}, prefilled: false, taskStopped: false });
    for (const input of [el.reply, el.draftInstruction, el.resolveNote, el.handBackNote, el.kbQuery]) input.value = "";
    clearAssist();
    clearPackageFlags();
  }
  loadTasks(state.generation); // guardrails/modes.yaml may have changed since the last package
  state.openToken += 1;
  clearError();
  markOpenInQueue();
  const ok = await refreshPackage(state.openToken, true);
  if (ok) el.packageTitle.focus(); // keyboard and screen-reader users land on what they opened
}

async function refreshPackage(token, first = false) {
  clearTimeout(state.pkgTimer);
  const id = state.openId;
  let ok = false;
  try {
    const pkg = await api(`/api/agent/handoffs/${enc(id)}`);
    if (token !== state.openToken || id !== state.openId) return false;
    if (!pkg || typeof pkg !== "object") throw apiError("The package could not be read.", 0);
    el.packageEmpty.hidden = true;
    el.packageBody.hidden = false;
    renderPackage(pkg);
    // Pre-fill the reply box with the suggested reply once, when the package is first shown.
    if (!state.prefilled && !el.reply.value && typeof pkg.suggested_reply === "string") el.reply.value = pkg.suggested_reply;
    state.prefilled = true;
    ok = true;
  } catch (err) {
    if (token !== state.openToken || id !== state.openId) return false;
    if (err.status === 404) {
      closePackage("This conversation is no longer in the queue.");
      return false;
    }
    if (first || err.status === 401) handleError(err);
    if (err.status === 401) return false;
  }
  clearTimeout(state.pkgTimer); // a manual refresh may have overlapped the timer's: keep a single chain
  state.pkgTimer = setTimeout(() => refreshPackage(token), REFRESH_MS); // new customer messages appear
  return ok;
}

function closePackage(message) {
  clearTimeout(state.pkgTimer);
  Object.assign(state, { openId: null, pkg: null, rendered: {}, openToken: state.openToken + 1 });
  el.packageBody.hidden = true;
  el.packageEmpty.hidden = false;
  for (const input of [el.reply, el.draftInstruction, el.resolveNote, el.handBackNote, el.kbQuery]) input.value = "";
  clearAssist();
  clearPackageFlags();
  markOpenInQueue();
  if (message) announce(message);
}

function clearAssist() {
  el.aiTaskStatus.textContent = "";
  el.kbStatus.textContent = "";
  el.kbResults.replaceChildren();
}

// One action at a time: buttons are disabled while it runs; on failure the typed text stays where it was.
async function act(path, body, onOk) {
  if (state.busy || !state.openId) return;
  const id = state.openId;
  clearError();
  state.busy = true;
  updateButtons();
  try {
    const data = await api(`/api/agent/handoffs/${enc(id)}/${path}`, { method: "POST", body });
    if (id === state.openId) await onOk(data);
    pollQueueNow();
    refreshPresence(state.generation); // a claim or a resolve changes the load shown by the status
  } catch (err) {
    handleError(err);
  } finally {
    state.busy = false;
    updateButtons();
  }
}

function pollQueueNow() {
  clearTimeout(state.queueTimer);
  pollQueue(state.generation);
}

const refreshNow = () => refreshPackage(state.openToken);

// ---------- Presence (the status beside the agent's name) ----------
function presenceText(me) {
  if (!me || typeof me !== "object") return "Not taking new conversations.";
  const skills = Array.isArray(me.skills) && me.skills.length ? me.skills.join(", ") : "any";
  const languages = Array.isArray(me.languages) && me.languages.length ? me.languages.join(", ") : "—";
  return `Skills: ${skills} · Languages: ${languages} · ${me.load ?? 0} of ${me.max_concurrent ?? "?"} conversations`;
}

// `force`: set the select even while it has focus (after the agent's own change); a timed refresh leaves it alone.
function renderPresence(me, force = false) {
  const status = me && has(PRESENCE_SAID, me.status) ? me.status : "offline";
  state.presence = status;
  if (force || document.activeElement !== el.presenceStatus) el.presenceStatus.value = status;
  const text = presenceText(me);
  if (el.presenceDetails.textContent !== text) el.presenceDetails.textContent = text;
}

async function refreshPresence(gen) {
  try {
    const data = await api("/api/agent/presence");
    if (gen === state.generation) renderPresence(data && data.me);
  } catch (err) {
    if (err.status === 401 && gen === state.generation) handleError(err); // otherwise the queue reports it
  }
}

el.presenceStatus.addEventListener("change", async () => {
  const status = el.presenceStatus.value;
  const gen = state.generation;
  clearError();
  try {
    const data = await api("/api/agent/presence", { method: "POST", body: { status } });
    if (gen !== state.generation) return;
    renderPresence(data && data.me, true);
    announce(PRESENCE_SAID[state.presence]);
  } catch (err) {
    if (gen !== state.generation) return;
    el.presenceStatus.value = state.presence; // the status did not change: show the one that holds
    handleError(err);
  }
});

// ---------- Review and flags (any stored conversation, handed off or contained) ----------
// A flag says what the bot got wrong and what it should have done (bot/feedback.py); it is always the signed-in
// agent's, and the server checks it against the stored conversation, so its refusals are shown in the form.
const FLAG_KINDS = {
  wrong_intent: "Wrong intent",
  bad_answer: "Bad answer",
  misrouted: "Misrouted (handoff to a person)",
  rail_false_positive: "Blocked by mistake (rail false positive)",
  rail_false_negative: "Should have been blocked (rail false negative)",
};
const TURN_KINDS = Object.keys(FLAG_KINDS); // a customer turn can have any kind; the whole conversation: misrouted
const STATUSES = { ai: "With the AI", human: "With a person", closed: "Closed" };
let formCount = 0; // each flag form's fields get ids of their own (labels point at them)

const modeName = (mode) => MODES[mode] || humanize(mode || "ai_first");
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const finite = (v) => (v === null || v === undefined || v === "" || !Number.isFinite(Number(v)) ? null : Number(v));

function when(seconds) {
  const n = finite(seconds);
  return n === null ? "—" : new Date(n * 1000).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}

function showView(name, focus = false) {
  state.view = name;
  const views = [[el.tabHandoffs, el.viewHandoffs, "handoffs"], [el.tabReview, el.viewReview, "review"]];
  for (const [tab, panel, key] of views) {
    tab.setAttribute("aria-selected", String(key === name));
    tab.tabIndex = key === name ? 0 : -1;
    panel.hidden = key !== name;
  }
  if (focus) (name === "review" ? el.tabReview : el.tabHandoffs).focus();
  if (name === "review" && state.agent) loadReviewList(state.generation);
}

function setChoices(choices) {
  if (!choices || typeof choices !== "object") return;
  const strings = (list) => (Array.isArray(list) ? list.filter((v) => typeof v === "string") : []);
  state.choices = { intents: strings(choices.intents), handoff_reasons: strings(choices.handoff_reasons) };
}

// What the bot made of a turn, in one line: "Intent: Order status · confidence 0.93 · sentiment -0.20 (negative)".
function readingText(line) {
  const parts = [`Intent: ${line.intent ? humanize(line.intent) : "—"}`];
  if (finite(line.confidence) !== null) parts.push(`confidence ${finite(line.confidence).toFixed(2)}`);
  if (finite(line.sentiment) !== null) parts.push(`sentiment ${sentimentText(line.sentiment)}`);
  if (line.blocked) parts.push("blocked by a rail");
  return parts.join(" · ");
}

function correctionText(f) {
  const c = f.correction && typeof f.correction === "object" ? f.correction : {};
  const seen = f.observed && f.observed.turn && typeof f.observed.turn === "object" ? f.observed.turn : {};
  if (f.kind === "wrong_intent") {
    return `should be ${humanize(c.intent || "?")}${seen.intent ? ` (the bot read ${humanize(seen.intent)})` : ""}`;
  }
  if (f.kind === "misrouted") {
    return c.handoff ? `should have gone to a person (${humanize(c.handoff_reason || "?")})`
      : "should not have gone to a person";
  }
  if (f.kind === "bad_answer") {
    const wrong = Array.isArray(c.must_not_contain) && c.must_not_contain.length
      ? `; wrong: ${c.must_not_contain.map((p) => `“${p}”`).join(", ")}` : "";
    return `should have said “${c.reply || ""}”${wrong}`;
  }
  if (f.kind === "rail_false_positive") return "blocked, but should not have been";
  if (f.kind === "rail_false_negative") return "not blocked, but should have been";
  return "";
}

const kindName = (kind) => FLAG_KINDS[kind] || humanize(kind);
const flagTitle = (f) => `${f.turn ? `Turn ${f.turn}` : "Whole conversation"} · ${kindName(f.kind)}`;

// The flags of a conversation, each with what it corrects and who made it; your own can be withdrawn.
function renderFlags(node, flags, reload) {
  const list = Array.isArray(flags) ? flags.filter((f) => f && typeof f.id === "string") : [];
  if (!list.length) return node.replaceChildren(h("li", "muted", "No flags yet."));
  node.replaceChildren(...list.map((f) => {
    const item = h("li", "flag-item");
    item.dataset.flag = f.id;
    item.dataset.kind = f.kind;
    const text = h("div", "flag-text");
    text.append(h("p", "flag-what", `${flagTitle(f)}: ${correctionText(f)}`),
      h("p", "flag-who", `By ${f.agent === state.agent ? "you" : f.agent} · ${when(f.created_at)}`
        + `${f.note ? ` · Note: ${f.note}` : ""}`));
    item.append(text);
    if (f.agent === state.agent) {
      const button = h("button", "btn btn-secondary btn-small", "Withdraw");
      button.type = "button";
      button.setAttribute("aria-label", `Withdraw your flag: ${flagTitle(f)}`);
      button.addEventListener("click", () => withdrawFlag(f.id, button, reload));
      item.append(button);
    }
    return item;
  }));
}

async function withdrawFlag(id, button, reload) {
  clearError();
  button.disabled = true;
  try {
    await api(`/api/agent/flags/${enc(id)}`, { method: "DELETE" });
    announce("Flag withdrawn.");
    await reload();
  } catch (err) {
    button.disabled = false;
    handleError(err);
  }
}

function labelled(id, label, control, hint) {
  const field = h("div", "field");
  const text = h("label", null, label);
  text.htmlFor = id;
  control.id = id;
  field.append(text, control);
  if (hint) field.append(h("p", "field-hint", hint));
  return field;
}

// Options straight into their select (options moved from another select would carry its selection along).
function fillSelect(select, options) {
  select.replaceChildren(...options.map(([value, text]) => {
    const option = h("option", null, text);
    option.value = value;
    return option;
  }));
  return select;
}
const choiceSelect = (options) => fillSelect(h("select"), options);

// A flag form for one customer turn (`turn`) or the whole conversation (turn null: only "misrouted" applies).
// It shows the fields the chosen kind needs; the server's refusal appears in the form, and what was typed stays.
// `opener`: the button that opened it, where focus goes back when the form closes.
function flagForm({ conversationId, turn, reading, handedOff, onSaved, opener }) {
  const n = ++formCount;
  const id = (name) => `flag-${n}-${name}`;
  const form = h("form", "flag-form");
  form.noValidate = true;
  const title = turn ? `Flag turn ${turn}` : "Flag the routing of this conversation";
  form.setAttribute("aria-label", title);
  form.append(h("p", "flag-form-title", title));
  if (reading) form.append(h("p", "field-hint", reading));
  const error = h("p", "error flag-error");
  error.setAttribute("role", "alert");

  const kinds = turn ? TURN_KINDS : ["misrouted"];
  const kind = choiceSelect(kinds.map((k) => [k, FLAG_KINDS[k]]));
  const kindField = labelled(id("kind"), "What was wrong", kind);
  kindField.hidden = kinds.length === 1;
  const intent = choiceSelect([["", "Choose the right intent"], ...state.choices.intents.map((i) => [i, humanize(i)])]);
  const intentField = labelled(id("intent"), "The right intent", intent);

  const handoff = h("fieldset", "flag-choice");
  handoff.append(h("legend", null, turn ? "Should this turn have gone to a person?"
    : "Should this conversation have gone to a person?"));
  const radios = [["yes", "Yes"], ["no", "No"]].map(([value, text]) => {
    const radio = h("input");
    Object.assign(radio, { type: "radio", name: id("handoff"), id: id(`handoff-${value}`), value });
    const label = h("label", "radio-label", text);
    label.htmlFor = radio.id;
    handoff.append(radio, label);
    return radio;
  });
  radios[handedOff ? 1 : 0].checked = true; // the usual correction: the other way from what happened
  const reason = choiceSelect([["", "Choose the reason"],
    ...state.choices.handoff_reasons.map((r) => [r, humanize(r)])]);
  const reasonField = labelled(id("reason"), "Why a person", reason);

  const reply = h("textarea");
  Object.assign(reply, { rows: 3, maxLength: 2000 });
  const replyField = labelled(id("reply"), "Corrected reply (what the bot should have said)", reply);
  const wrong = h("textarea");
  Object.assign(wrong, { rows: 2, maxLength: 2000 });
  const wrongField = labelled(id("wrong"), "Wrong phrases (optional)", wrong,
    "Quote them from the bot's reply, one per line.");
  const note = h("input");
  Object.assign(note, { type: "text", maxLength: 2000 });
  const noteField = labelled(id("note"), "Note (optional)", note);

  const save = h("button", "btn btn-primary", "Save flag");
  save.type = "submit";
  const cancel = h("button", "btn btn-secondary", "Cancel");
  cancel.type = "button";
  const buttons = h("div", "button-row");
  buttons.append(save, cancel);

  function update() {
    intentField.hidden = kind.value !== "wrong_intent";
    handoff.hidden = kind.value !== "misrouted";
    reasonField.hidden = kind.value !== "misrouted" || !radios[0].checked;
    replyField.hidden = wrongField.hidden = kind.value !== "bad_answer";
  }
  kind.addEventListener("change", update);
  for (const radio of radios) radio.addEventListener("change", update);
  update();
  form.append(error, kindField, intentField, handoff, reasonField, replyField, wrongField, noteField, buttons);

  const close = () => {
    form.remove();
    if (opener && opener.isConnected) opener.focus();
  };
  cancel.addEventListener("click", close);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (save.disabled) return;
    const body = { kind: kind.value };
    if (turn) body.turn = turn;
    if (kind.value === "wrong_intent" && intent.value) body.intent = intent.value;
    if (kind.value === "misrouted") {
      body.handoff = radios[0].checked;
      if (body.handoff && reason.value) body.reason = reason.value;
    }
    if (kind.value === "bad_answer") {
      if (reply.value.trim()) body.reply = reply.value;
      const phrases = wrong.value.split("\n").map((p) => p.trim()).filter(Boolean);
      if (phrases.length) body.must_not_contain = phrases;
    }
    if (note.value.trim()) body.note = note.value;
    error.textContent = "";
    save.disabled = true;
    try {
      const flag = await api(`/api/agent/conversations/${enc(conversationId)}/flags`, { method: "POST", body });
      close();
      announce(`Flag saved: ${flag && flag.kind ? flagTitle(flag) : title}.`);
      await onSaved(flag);
    } catch (err) {
      save.disabled = false;
      if (err.status === 401) return handleError(err);
      error.textContent = err.message || NETWORK_ERROR; // the form keeps everything typed
      error.scrollIntoView({ block: "nearest" });
    }
  });
  return form;
}

// Put a flag form in `slot` (an open one there is kept, with what was typed, and focused).
function openFlagForm(slot, options) {
  let form = slot.querySelector(".flag-form");
  if (!form || form.dataset.turn !== String(options.turn || "")) {
    form = flagForm(options);
    form.dataset.turn = String(options.turn || "");
    slot.replaceChildren(form);
  }
  const first = form.querySelector(".field:not([hidden]) select, .field:not([hidden]) input, "
    + ".field:not([hidden]) textarea, fieldset:not([hidden]) input");
  if (first) first.focus();
}

// The bot's reading of a customer turn, from the review's lines (for the form's hint).
function turnReading(review, turn) {
  const lines = review && Array.isArray(review.transcript) ? review.transcript : [];
  const said = lines.find((l) => l.role === "customer" && l.turn === turn);
  const bot = lines.find((l) => l.role === "bot" && l.turn === turn);
  return `${said ? `Customer: “${said.text}”. ` : ""}${bot ? `The bot read it as ${humanize(bot.intent || "—")}`
    + `${finite(bot.confidence) !== null ? ` (confidence ${finite(bot.confidence).toFixed(2)})` : ""}`
    + `${bot.blocked ? " and blocked it" : ""}.` : "The bot did not answer it."}`;
}

// -- the Review view --
async function loadReviewList(gen) {
  const token = ++state.listToken;
  const filter = el.reviewFilter.value;
  try {
    const data = await api(`/api/agent/conversations?limit=100${filter ? `&handoff=${enc(filter)}` : ""}`);
    if (gen === state.generation && token === state.listToken) renderReviewList(data && data.conversations);
  } catch (err) {
    if (gen === state.generation && token === state.listToken) handleError(err);
  }
}

function renderReviewList(conversations) {
  const list = Array.isArray(conversations) ? conversations.filter((c) => c && typeof c.id === "string") : [];
  const active = document.activeElement;
  const focusedId = el.reviewList.contains(active) ? active.dataset.conversation : null;
  const buttons = list.map((c) => {
    const button = h("button", "review-item");
    button.type = "button";
    button.dataset.conversation = c.id;
    const top = h("span", "qi-top");
    top.append(h("span", `route route-${c.handoff ? "person" : "bot"}`, c.handoff ? "Handed off" : "Contained"),
      h("span", "qi-name", c.preview || c.id));
    const flags = finite(c.flags) || 0;
    const turns = finite(c.turns) || 0;
    button.append(top,
      h("span", "qi-reason", [c.handoff && c.handoff_reason ? humanize(c.handoff_reason) : null, plural(turns, "turn"),
        flags ? plural(flags, "flag") : null].filter(Boolean).join(" · ")),
      h("span", "qi-meta", `${when(c.updated_at)} · ${c.channel || "—"} · `
        + `${modeName(c.operating_mode)} (${c.cohort || "default"})`));
    button.addEventListener("click", () => openReview(c.id));
    return button;
  });
  el.reviewList.replaceChildren(...buttons.map((b) => { const li = h("li"); li.append(b); return li; }));
  const again = buttons.find((b) => b.dataset.conversation === focusedId);
  if (again) again.focus();
  markOpenReview();
  el.reviewEmpty.hidden = buttons.length > 0;
  el.reviewCount.textContent = buttons.length ? `(${buttons.length})` : "";
}

function markOpenReview() {
  for (const b of el.reviewList.querySelectorAll(".review-item")) {
    if (b.dataset.conversation === state.reviewId) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
  }
}

async function openReview(id) {
  if (state.reviewId !== id) el.reviewRoutingForm.replaceChildren();
  state.reviewId = id;
  const token = ++state.reviewToken;
  clearError();
  markOpenReview();
  try {
    const data = await api(`/api/agent/conversations/${enc(id)}/review`);
    if (token !== state.reviewToken) return;
    if (!data || typeof data !== "object" || !data.conversation) {
      throw apiError("The conversation could not be read.", 0);
    }
    renderReview(data);
    el.reviewTitle.focus();
  } catch (err) {
    if (token !== state.reviewToken) return;
    if (err.status === 404) {
      closeReview();
      return showError("This conversation is no longer stored.");
    }
    handleError(err);
  }
}

function closeReview() {
  Object.assign(state, { reviewId: null, review: null, reviewToken: state.reviewToken + 1 });
  el.reviewBody.hidden = true;
  el.reviewNone.hidden = false;
  for (const node of [el.reviewTranscript, el.reviewFlags, el.reviewRoutingForm, el.reviewMeta]) node.replaceChildren();
  markOpenReview();
}

function renderReview(data) {
  state.review = data;
  setChoices(data.choices);
  const c = data.conversation;
  const customer = c.customer && typeof c.customer === "object" ? c.customer : {};
  el.reviewNone.hidden = true;
  el.reviewBody.hidden = false;
  el.reviewTitle.textContent = `Conversation ${c.id}`;
  el.reviewMeta.replaceChildren(...keyValues([
    ["customer", `${customer.name || "Guest"}${customer.id ? ` (${customer.id})` : ""}`],
    ["tier", customer.tier ? humanize(customer.tier) : null],
    ["channel", c.channel],
    ["status", STATUSES[c.status] || humanize(c.status || "unknown")],
    ["mode", `${modeName(c.operating_mode)} (cohort ${c.cohort || "default"})`],
    ["started", when(c.created_at)],
    ["last_activity", when(c.updated_at)],
    ["turns", data.turns],
  ].filter(([, v]) => !isBlank(v))).childNodes);
  el.reviewRouting.textContent = c.handoff
    ? `Handed off to a person${c.handoff_reason ? `: ${humanize(c.handoff_reason)}` : ""}`
      + `${c.handoff_turn ? ` (turn ${c.handoff_turn})` : ""}.`
    : "Contained: the bot handled it without a person.";
  el.reviewTranscript.replaceChildren(...reviewTranscript(Array.isArray(data.transcript) ? data.transcript : [], c));
  renderReviewFlags(data.flags);
}

// The transcript grouped by customer turn: the customer's words, the bot's reply with its reading, a Flag button.
function reviewTranscript(lines, conversation) {
  const items = [];
  let group = null;
  for (const line of lines) {
    if (!line || typeof line !== "object") continue;
    if (line.role === "customer" && finite(line.turn) !== null) {
      group = turnGroup(line.turn, conversation);
      items.push(group.item);
    }
    const node = transcriptLine(line);
    if (line.role === "bot") node.append(h("span", "reading", readingText(line)));
    if (group) group.lines.append(node);
    else items.push(node); // before the first customer message (a greeting)
  }
  return items.length ? items : [h("li", "line muted", "No messages.")];
}

function turnGroup(turn, conversation) {
  const item = h("li", "review-turn");
  item.dataset.turn = String(turn);
  const head = h("div", "turn-head");
  const flag = h("button", "btn btn-secondary btn-small", "Flag");
  flag.type = "button";
  flag.setAttribute("aria-label", `Flag turn ${turn}`);
  const marks = h("span", "turn-flags");
  head.append(h("span", "turn-number", `Turn ${turn}`), marks, flag);
  const lines = h("ol", "turn-lines");
  const slot = h("div", "turn-form");
  item.append(head, lines, slot);
  flag.addEventListener("click", () => openFlagForm(slot, {
    conversationId: conversation.id, turn, reading: turnReading(state.review, turn), handedOff: conversation.handoff,
    onSaved: () => reloadReviewFlags(conversation.id), opener: flag,
  }));
  return { item, lines };
}

function renderReviewFlags(flags) {
  const list = Array.isArray(flags) ? flags.filter((f) => f && typeof f.id === "string") : [];
  renderFlags(el.reviewFlags, list, () => reloadReviewFlags(state.reviewId));
  for (const item of el.reviewTranscript.querySelectorAll(".review-turn")) {
    const mine = list.filter((f) => String(f.turn) === item.dataset.turn);
    item.querySelector(".turn-flags").textContent = mine.length
      ? `Flagged: ${mine.map((f) => `${kindName(f.kind)} (${f.agent === state.agent ? "you" : f.agent})`).join(", ")}`
      : "";
  }
}

async function reloadReviewFlags(id) {
  const token = state.reviewToken;
  try {
    const data = await api(`/api/agent/flags?conversation=${enc(id)}`);
    if (token === state.reviewToken && id === state.reviewId) renderReviewFlags(data && data.flags);
  } catch (err) {
    handleError(err);
  }
  loadReviewList(state.generation); // the list shows how many flags each conversation has
}

el.tabHandoffs.addEventListener("click", () => showView("handoffs"));
el.tabReview.addEventListener("click", () => showView("review"));
for (const tab of [el.tabHandoffs, el.tabReview]) {
  tab.addEventListener("keydown", (event) => { // a tab list: arrow keys, Home and End move between the tabs
    const to = { ArrowLeft: "other", ArrowRight: "other", Home: "handoffs", End: "review" }[event.key];
    if (!to) return;
    event.preventDefault();
    showView(to === "other" ? (state.view === "review" ? "handoffs" : "review") : to, true);
  });
}
el.reviewFilter.addEventListener("change", () => loadReviewList(state.generation));
el.reviewRefresh.addEventListener("click", () => {
  loadReviewList(state.generation);
  if (state.reviewId) openReview(state.reviewId);
});
el.reviewFlagRouting.addEventListener("click", () => {
  if (!state.review) return;
  const c = state.review.conversation;
  openFlagForm(el.reviewRoutingForm, { conversationId: c.id, turn: null, handedOff: c.handoff,
    reading: el.reviewRouting.textContent, onSaved: () => reloadReviewFlags(c.id), opener: el.reviewFlagRouting });
});

// -- the same flag control in the handoff view, for the open package --
async function loadPackageFlags(id) {
  if (!id) return;
  const token = ++state.pkgFlagToken;
  try {
    const data = await api(`/api/agent/conversations/${enc(id)}/review`);
    if (token !== state.pkgFlagToken || id !== state.openId) return;
    state.pkgReview = data;
    setChoices(data.choices);
    const chosen = el.packageFlagTurn.options.length ? el.packageFlagTurn.value : null; // kept across refreshes
    const lines = Array.isArray(data.transcript) ? data.transcript : [];
    const options = lines.filter((l) => l && l.role === "customer" && finite(l.turn) !== null).map((l) => {
      const text = String(l.text || "");
      return [String(l.turn), `Turn ${l.turn}: ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`];
    });
    options.push(["", "The whole conversation (routing)"]);
    fillSelect(el.packageFlagTurn, options);
    if (options.some(([value]) => value === chosen)) el.packageFlagTurn.value = chosen;
    renderFlags(el.packageFlags, data.flags, () => loadPackageFlags(state.openId));
  } catch (err) {
    if (token === state.pkgFlagToken && err.status === 401) handleError(err); // else the control stays as it was
  }
  updateButtons();
}

function clearPackageFlags() {
  state.pkgReview = null;
  state.pkgFlagToken += 1;
  for (const node of [el.packageFlagTurn, el.packageFlagForm, el.packageFlags]) node.replaceChildren();
}

el.packageFlagOpen.addEventListener("click", () => {
  const review = state.pkgReview;
  if (!review || !review.conversation) return;
  const turn = el.packageFlagTurn.value ? Number(el.packageFlagTurn.value) : null;
  const c = review.conversation;
  openFlagForm(el.packageFlagForm, { conversationId: c.id, turn, handedOff: c.handoff,
    reading: turn ? turnReading(review, turn) : "", onSaved: () => loadPackageFlags(c.id),
    opener: el.packageFlagOpen });
});

// ---------- Session ----------
function showLogin(message = "") {
  state.generation += 1;
  clearTimeout(state.queueTimer);
  closePackage();
  Object.assign(state, { agent: null, csrf: null, presence: "offline", polls: 0 });
  el.presenceDetails.textContent = "";
  el.queue.replaceChildren();
  closeReview();
  el.reviewList.replaceChildren();
  showView("handoffs");
  el.console.hidden = true;
  el.agentBar.hidden = true;
  el.login.hidden = false;
  el.loginPassword.value = "";
  showError(message);
  el.loginName.focus();
}

function enterConsole(me) {
  if (!me || typeof me.agent !== "string") throw apiError("Unexpected answer from the server.", 0);
  state.generation += 1;
  Object.assign(state, { agent: me.agent, csrf: me.csrf_token || null, queueDelay: REFRESH_MS });
  el.agentName.textContent = me.agent;
  el.login.hidden = true;
  el.console.hidden = false;
  el.agentBar.hidden = false;
  el.loginPassword.value = "";
  pollQueue(state.generation);
  refreshPresence(state.generation); // logging in does not change it: show what it is
  loadTasks(state.generation);
}

el.loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = el.loginName.value.trim();
  const password = el.loginPassword.value;
  if (!name || !password) {
    showError("Enter your name and password.");
    return (name ? el.loginPassword : el.loginName).focus();
  }
  clearError();
  el.loginSubmit.disabled = true;
  try {
    enterConsole(await api("/api/agent/login", { method: "POST", body: { name, password } }));
    $("queue-title").focus();
  } catch (err) {
    showError(err.message || NETWORK_ERROR); // 401 here means a wrong name or password, not an expired session
    el.loginPassword.focus();
  } finally {
    el.loginSubmit.disabled = false;
  }
});

el.logout.addEventListener("click", async () => {
  try { await api("/api/agent/logout", { method: "POST" }); } catch (_) { /* logged out either way */ }
  showLogin();
  announce("You have logged out.");
});

// ---------- Package actions ----------
el.claim.addEventListener("click", () => act("claim", {}, async () => {
  announce("You claimed this conversation.");
  await refreshNow();
}));

el.release.addEventListener("click", () => act("release", {}, async () => {
  announce("Released back to the queue.");
  await refreshNow();
}));

el.sendReply.addEventListener("click", () => {
  const text = el.reply.value.trim();
  if (!text) {
    showError("Write a reply first.");
    return el.reply.focus();
  }
  state.taskStopped = true; // replying stops the AI's task, if it had one
  act("reply", { text }, async () => {
    if (el.reply.value.trim() === text) el.reply.value = "";
    announce("Reply sent.");
    await refreshNow();
  });
});

el.draft.addEventListener("click", () => {
  const instruction = el.draftInstruction.value.trim();
  act("draft", instruction ? { instruction } : {}, (data) => {
    if (!data || typeof data.text !== "string") throw apiError("The draft could not be read.", 0);
    el.reply.value = data.text;
    announce(data.source === "llm" ? "AI draft ready in the reply box. Check it before sending."
      : "Draft from the recorded facts ready in the reply box.");
    el.reply.focus();
  });
});

el.resolve.addEventListener("click", () => {
  const note = el.resolveNote.value.trim();
  act("resolve", note ? { note } : {}, () => closePackage("Conversation resolved."));
});

el.handBack.addEventListener("click", () => {
  const note = el.handBackNote.value.trim();
  if (!note) {
    showError("Write a note for the AI before handing the conversation back.");
    return el.handBackNote.focus();
  }
  act("hand-back", { note }, () => closePackage("Handed back to the AI."));
});

el.delegate.addEventListener("click", () => {
  const task = el.delegateTask.value;
  if (!task) return showError("Choose a task for the AI first.");
  state.taskStopped = false;
  act("delegate", { task }, async (data) => {
    announce(data && typeof data.asked === "string" && data.asked
      ? `Task given. The AI asked the customer: ${data.asked}` : "Task given to the AI.");
    await refreshNow();
  });
});

el.takeBack.addEventListener("click", () => {
  state.taskStopped = true; // before the answer: a refresh in flight may already show the task gone
  act("take-back", {}, async () => {
      announce("You took the conversation back; the AI's task is stopped.");
    await refreshNow();
    el.reply.focus();
  });
});

el.kbForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (state.kbBusy || !state.openId) return;
  const id = state.openId;
  const query = el.kbQuery.value.trim();
  clearError();
  state.kbBusy = true;
  updateButtons();
  el.kbStatus.textContent = "Looking up…";
  try {
    const data = await api(`/api/agent/handoffs/${enc(id)}/kb${query ? `?q=${enc(query)}` : ""}`);
    if (id === state.openId) renderPassages(data && data.passages, query);
  } catch (err) {
    if (id === state.openId) el.kbStatus.textContent = "";
    handleError(err);
  } finally {
    state.kbBusy = false;
    updateButtons();
  }
});

// Ctrl/Cmd+Enter sends the reply from the reply box (plain Enter is a newline there).
el.reply.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    el.sendReply.click();
  }
});

// ---------- Start ----------
(async () => {
  try {
    enterConsole(await api("/api/agent/me"));
  } catch (err) {
    showLogin(err.status === 401 ? "" : err.message || NETWORK_ERROR);
  }
})();
