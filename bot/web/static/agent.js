"use strict";
// Agent console (page `/agent`): queue on the left, the handoff package and reply tools on the right.
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
  "kb-status", "kb-results",
].map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), $(id)]));

// generation: bumped on login/logout so stale timers and answers are ignored; openToken: same for the open package.
const state = { agent: null, csrf: null, generation: 0, queueTimer: null, queueDelay: REFRESH_MS, queueFailing: false,
  openId: null, openToken: 0, pkg: null, pkgTimer: null, busy: false, rendered: {}, prefilled: false,
  presence: "offline", polls: 0, tasks: [], taskStopped: false, kbBusy: false };
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

// ---------- Session ----------
function showLogin(message = "") {
  state.generation += 1;
  clearTimeout(state.queueTimer);
  closePackage();
  Object.assign(state, { agent: null, csrf: null, presence: "offline", polls: 0 });
  el.presenceDetails.textContent = "";
  el.queue.replaceChildren();
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
