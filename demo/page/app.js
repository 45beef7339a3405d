// The demo's chat page: plain JavaScript, no build step. It reads and drives the simulated
// Telegram through its control API (/_control/...), waits for changes with a long poll
// (wait_for_change), and calls the bot's HTTP API through the demo server (/demo/api/...).
"use strict";

const LANGUAGES = [
  ["en", "English"], ["de", "Deutsch"], ["de-AT", "Deutsch (AT)"], ["fr", "Français"],
];
const $ = (id) => document.getElementById(id);
// The panel's fields that follow the private chat shown (until typed in).
const ACCOUNT_FIELDS = ["verify-account", "state-account", "challenge-account"];
// GET /v1/challenges/{id}?wait=: the longest the API waits (the demo's proxy allows 30 s).
const LONG_POLL_S = 25;

const view = {
  setup: null,
  chats: [],
  current: null,          // chat id shown
  lastUser: null,         // the private user the link opens as, and whose app is shown
  changes: 0,
  seen: {},               // chat id -> last message id looked at (unread counts)
  answered: new Set(),    // callback query ids whose answer was shown
  firstLoad: true,
  codesTimer: null,
};

// ------------------------------------------------------------------------------ plumbing

async function control(name, body) {
  const response = await fetch(`/_control/${name}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const answer = await response.json();
  if (!answer.ok) throw new Error(answer.description);
  return answer.result;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function toast(text, alert) {
  const box = $("toast");
  box.textContent = text;
  box.className = alert ? "toast alert" : "toast";
  box.hidden = false;
  clearTimeout(box.timer);
  box.timer = setTimeout(() => { box.hidden = true; }, alert ? 6000 : 2500);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------------ formatting

// Telegram's entities (offsets in UTF-16 units, as JavaScript strings count) as HTML.
function formatText(text, entities) {
  const sorted = [...(entities || [])].sort((a, b) => a.offset - b.offset || b.length - a.length);
  return render(text, sorted, 0, text.length);
}

function render(text, entities, start, end) {
  let out = "";
  let pos = start;
  let i = 0;
  while (i < entities.length) {
    const entity = entities[i];
    const from = Math.max(entity.offset, pos);
    const to = Math.min(entity.offset + entity.length, end);
    const inner = [];
    let j = i + 1;
    while (j < entities.length && entities[j].offset < entity.offset + entity.length) {
      inner.push(entities[j]);
      j += 1;
    }
    if (to > from) {
      out += escapeHtml(text.slice(pos, from));
      out += wrap(entity, text.slice(from, to), render(text, inner, from, to));
      pos = to;
    }
    i = j;
  }
  return out + escapeHtml(text.slice(pos, end));
}

function wrap(entity, plain, html) {
  switch (entity.type) {
    case "bold": return `<b>${html}</b>`;
    case "italic": return `<i>${html}</i>`;
    case "underline": return `<u>${html}</u>`;
    case "strikethrough": return `<s>${html}</s>`;
    case "spoiler": return `<span class="spoiler">${html}</span>`;
    case "code": return `<code>${html}</code>`;
    case "pre": return `<pre>${html}</pre>`;
    case "blockquote":
    case "expandable_blockquote": return `<blockquote>${html}</blockquote>`;
    case "bot_command": return `<a href="#" class="cmd" data-cmd="${escapeHtml(plain)}">${html}</a>`;
    case "url": return link(plain, html);
    case "text_link": return link(entity.url || "", html);
    default: return html;
  }
}

function link(url, html) {
  if (!/^https?:\/\//i.test(url)) return html;
  const start = startParameter(url);
  const extra = start === null ? "" : ` class="start-link" data-start="${escapeHtml(start)}"`;
  return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener"${extra}>${html}</a>`;
}

// A link to our bot (https://t.me/<bot>?start=<token>): opening it sends "/start <token>".
function startParameter(url) {
  try {
    const parsed = new URL(url);
    const bot = parsed.pathname.replace(/^\//, "");
    if (parsed.hostname !== "t.me" || bot !== view.setup.bot_username) return null;
    return parsed.searchParams.get("start");
  } catch (error) {
    return null;
  }
}

// ---------------------------------------------------------------------------- chats

function chatName(chat) {
  if (chat.user) return [chat.user.first_name, chat.user.last_name].filter(Boolean).join(" ");
  return chat.title || String(chat.id);
}

function group(chatId) {
  return (view.setup.groups || []).find((g) => g.chat_id === chatId) || null;
}

function userName(userId) {
  const chat = view.chats.find((c) => c.id === userId);
  return chat ? chatName(chat) : `user ${userId}`;
}

function renderChatList() {
  const list = $("chat-list");
  list.textContent = "";
  const ordered = [...view.chats].sort((a, b) => (a.id < 0) - (b.id < 0) || Math.abs(a.id) - Math.abs(b.id));
  for (const chat of ordered) {
    const item = document.createElement("li");
    item.dataset.chat = chat.id;
    item.className = chat.id === view.current ? "active" : "";
    const name = chatName(chat);
    const unread = chat.id === view.current ? 0 : Math.max(0, chat.last_message_id - (view.seen[chat.id] || 0));
    const preview = chat.last ? chat.last.text.split("\n")[0] : (chat.user ? "private chat" : "group");
    item.innerHTML = `
      <span class="avatar">${escapeHtml(chat.user ? name[0] : "#")}</span>
      <span class="name">${escapeHtml(name)}</span>
      <span>${unread ? `<span class="unread">${unread}</span>` : ""}</span>
      <span class="preview">${escapeHtml(preview)}</span>`;
    item.addEventListener("click", () => select(chat.id));
    list.append(item);
  }
}

function select(chatId) {
  if (view.current !== chatId) {
    view.current = chatId;
    $("messages").textContent = "";
  }
  if (chatId > 0) {  // a private chat (a group's id is negative)
    view.lastUser = chatId;
    for (const id of ACCOUNT_FIELDS) {
      if (!$(id).dataset.edited) $(id).value = `tg:${chatId}`;
    }
  }
  refresh();
}

function renderHead(chat) {
  $("chat-title").textContent = chatName(chat);
  const g = group(chat.id);
  if (chat.user) {
    $("chat-subtitle").textContent = `private chat with the bot @${view.setup.bot_username}` +
      (chat.user.username ? ` · @${chat.user.username}` : "");
  } else {
    const members = g ? g.members.map(userName).join(", ") : "";
    $("chat-subtitle").textContent = `${g && g.role === "support" ? "support group" : g && g.role === "ops" ? "ops chat" : "group"}` +
      (members ? ` · members: ${members}, the bot` : "");
  }
  $("lang-box").hidden = !chat.user;
  if (chat.user) $("chat-lang").value = chat.user.language_code || "en";
  const sender = $("sender");
  sender.hidden = Boolean(chat.user);
  if (!chat.user && sender.dataset.chat !== String(chat.id)) {
    sender.dataset.chat = chat.id;
    sender.textContent = "";
    const people = view.chats.filter((c) => c.user);
    const members = g ? g.members : [];
    people.sort((a, b) => members.includes(b.id) - members.includes(a.id));
    for (const person of people) {
      const option = new Option(`as ${chatName(person)}`, person.id);
      sender.append(option);
    }
  }
}

function actingUser() {
  const chat = view.chats.find((c) => c.id === view.current);
  if (!chat) return null;
  return chat.user ? chat.id : Number($("sender").value);
}

// ------------------------------------------------------------------------- messages

function renderMessages(history) {
  const box = $("messages");
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const isGroup = !history.chat.user;
  const existing = new Map([...box.querySelectorAll(".msg:not(.vanishing)")].map((el) => [el.dataset.id, el]));
  let previous = null;
  for (const message of history.messages) {
    const id = String(message.message_id);
    const key = `${message.revision}:${message.edit_date || 0}`;
    let element = existing.get(id);
    existing.delete(id);
    if (!element || element.dataset.key !== key) {
      const fresh = messageElement(message, isGroup);
      fresh.dataset.key = key;
      if (element) element.replaceWith(fresh);
      element = fresh;
    }
    if (element.previousElementSibling !== previous || !element.parentNode) {
      if (previous) previous.after(element); else box.prepend(element);
    }
    previous = element;
  }
  for (const gone of existing.values()) {  // deleted: it fades out, as it leaves the chat
    gone.classList.add("vanishing");
    setTimeout(() => gone.remove(), 700);
  }
  if (nearBottom) box.scrollTop = box.scrollHeight;
  view.seen[history.chat.id] = history.chat.last_message_id;
}

function messageElement(message, isGroup) {
  const element = document.createElement("div");
  element.className = `msg ${message.from_bot ? "bot" : "mine"}`;
  element.dataset.id = message.message_id;
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  let html = "";
  if (isGroup) {
    const sender = message.from_bot ? view.setup.bot_name || "2FA Desk" : userName(message.from_id);
    html += `<div class="sender">${escapeHtml(sender)}</div>`;
  }
  if (message.photo) {
    html += `<img class="photo" alt="photo" src="data:${imageType(message.photo)};base64,${message.photo}">`;
  }
  if (message.sticker) html += `<div class="sticker">${escapeHtml(message.sticker.emoji || "🙂")}</div>`;
  const text = message.text !== null ? message.text : message.caption;
  if (text) html += `<div class="text">${formatText(text, message.entities)}</div>`;
  const meta = [];
  if (message.protect_content) {
    meta.push('<span class="protected" title="Telegram blocks forwarding, saving and screenshots of this message">protected content: no forwarding or saving</span>');
  }
  if (message.edited) meta.push('<span class="edited">edited</span>');
  const time = new Date(message.date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  meta.push(`<time>${time}</time>`);
  html += `<div class="meta">${meta.join("")}</div>`;
  bubble.innerHTML = html;
  element.append(bubble);
  const rows = (message.reply_markup && message.reply_markup.inline_keyboard) || [];
  if (rows.length) {
    const keyboard = document.createElement("div");
    keyboard.className = "keyboard";
    for (const row of rows) {
      const line = document.createElement("div");
      line.className = "row";
      for (const button of row) {
        const press = document.createElement("button");
        press.type = "button";
        press.textContent = button.text;
        press.addEventListener("click", () => pressButton(message, button));
        line.append(press);
      }
      keyboard.append(line);
    }
    element.append(keyboard);
  }
  return element;
}

function imageType(base64) {
  if (base64.startsWith("iVBOR")) return "image/png";
  if (base64.startsWith("/9j/")) return "image/jpeg";
  return "image/webp";
}

async function pressButton(message, button) {
  try {
    if (button.callback_data !== undefined) {
      await control("press_button", {
        user_id: actingUser(), chat_id: message.chat_id,
        message_id: message.message_id, callback_data: button.callback_data,
      });
    } else if (button.url && startParameter(button.url) !== null) {
      await openStart(startParameter(button.url));
    } else if (button.url) {
      window.open(button.url, "_blank", "noopener");
    }
  } catch (error) {
    toast(error.message, false);
  }
}

async function sendText(text) {
  const userId = actingUser();
  if (userId === null || !text) return;
  await control("send_text", { user_id: userId, chat_id: view.current, text });
}

// A t.me link of the bot opened by the last private user: Telegram sends "/start <token>".
async function openStart(parameter) {
  const userId = view.lastUser;
  if (userId === null) return;
  if (view.current !== userId) select(userId);
  await control("send_text", { user_id: userId, chat_id: userId, text: `/start ${parameter}` });
}

function showAnswers(history) {
  for (const answer of history.callback_answers) {
    if (view.answered.has(answer.query_id)) continue;
    view.answered.add(answer.query_id);
    if (!view.firstLoad && answer.text) toast(answer.text, answer.show_alert);
  }
}

// -------------------------------------------------------------------- authenticator

async function renderAuthenticator() {
  const userId = view.lastUser;
  $("auth-owner").textContent = userId === null ? "" : `of ${userName(userId)}`;
  $("link-open").textContent = userId === null ? "Open" : `Open as ${userName(userId)}`;
  const box = $("auth-entries");
  if (userId === null) return;
  const response = await fetch(`/demo/authenticator?user_id=${userId}`);
  const entries = await response.json();
  if (!entries.length) {
    box.innerHTML = '<p class="hint">No account yet: send /enroll in the chat.</p>';
    return;
  }
  box.textContent = "";
  for (const entry of entries) {
    const item = document.createElement("div");
    item.className = "auth-entry";
    item.dataset.entry = entry.id;
    const label = [entry.issuer, entry.account].filter(Boolean).join(": ");
    item.innerHTML = `
      <span class="label">${escapeHtml(label)}</span>
      <span class="code">${entry.code.slice(0, 3)} ${entry.code.slice(3)}</span>
      <span class="left">${entry.seconds_left} s</span>
      <span class="actions">
        <button type="button" class="send-code">Send in chat</button>
        <button type="button" class="use-code">Use for login</button>
      </span>`;
    item.querySelector(".send-code").addEventListener("click", async () => {
      if (view.current !== userId) select(userId);
      await control("send_text", { user_id: userId, chat_id: userId, text: entry.code });
    });
    item.querySelector(".use-code").addEventListener("click", () => {
      $("verify-code").value = entry.code;
      if (entry.account) $("verify-account").value = entry.account;
    });
    box.append(item);
  }
  // A new code every 30 seconds: ask again when this one ends.
  clearTimeout(view.codesTimer);
  const next = Math.min(...entries.map((e) => e.seconds_left));
  view.codesTimer = setTimeout(renderAuthenticator, next * 1000 + 200);
}

// --------------------------------------------------------------------- login system

// The answer is shown in the panel's answer area, unless `stale()` says by then that
// nobody waits for it any more (a long poll of a challenge the panel left).
async function callApi(method, path, body, stale) {
  $("api-request").textContent = `${method} /${path} …`;
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(`/demo/api/${path}`, options);
  const text = await response.text();
  let shown = text;
  let parsed = null;
  try {
    parsed = JSON.parse(text);
    shown = JSON.stringify(parsed, null, 2);
  } catch (error) { /* not JSON: shown as it came */ }
  if (stale && stale()) return parsed;
  $("api-request").textContent = `${method} /${path} → ${response.status}`;
  $("api-answer").textContent = shown;
  return parsed;
}

// -------------------------------------------------------------- approval in the chat

// The challenge the panel shows; `round` grows when the panel leaves one (a new one is
// started, or it is cancelled), so that its long poll stops and its answer is not shown.
const challenge = { id: null, round: 0 };

function showChallengeStatus(status, reason) {
  const box = $("challenge-status");
  box.textContent = reason ? `${status} (${reason})` : status;
  box.dataset.status = status;
  $("challenge-cancel").hidden = status !== "pending";
}

async function startChallenge() {
  const context = {};
  for (const [field, id] of [["app", "challenge-app"], ["ip", "challenge-ip"], ["location", "challenge-place"]]) {
    const value = $(id).value.trim();
    if (value) context[field] = value;
  }
  const round = ++challenge.round;
  challenge.id = null;
  $("challenge-result").hidden = true;
  const answer = await callApi("POST", "v1/challenges", { account: $("challenge-account").value.trim(), context });
  if (round !== challenge.round || !answer || !answer.id) return;
  challenge.id = answer.id;
  $("challenge-number").textContent = answer.number;
  $("challenge-result").hidden = false;
  showChallengeStatus(answer.status);
  await pollChallenge(answer.id, round);
}

// Long-poll the verdict: each answer comes the moment the challenge is decided, else after
// LONG_POLL_S seconds with "pending" (then ask again). The first read of "accepted" is the
// login; the panel reads it once.
async function pollChallenge(id, round) {
  const stale = () => round !== challenge.round;
  while (!stale()) {
    let answer = null;
    try {
      answer = await callApi("GET", `v1/challenges/${encodeURIComponent(id)}?wait=${LONG_POLL_S}`, undefined, stale);
    } catch (error) {
      if (!stale()) $("api-request").textContent = `GET /v1/challenges/${id}: ${error.message}`;
    }
    if (stale()) return;
    if (!answer || !answer.status) {
      showChallengeStatus((answer && answer.error) || "no answer");
      return;
    }
    showChallengeStatus(answer.status, answer.reason);
    if (answer.status !== "pending") return;
  }
}

async function cancelChallenge() {
  const id = challenge.id;
  if (id === null) return;
  challenge.round += 1;  // its long poll ends with "cancelled": this answer says so already
  const answer = await callApi("DELETE", `v1/challenges/${encodeURIComponent(id)}`);
  if (answer && answer.status) showChallengeStatus(answer.status, answer.reason);
  else $("challenge-cancel").hidden = true;
}

function setUpPanel() {
  for (const id of ACCOUNT_FIELDS) {
    $(id).addEventListener("input", () => { $(id).dataset.edited = "1"; });
  }
  $("verify-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await callApi("POST", "v1/verify", { account: $("verify-account").value, code: $("verify-code").value });
  });
  $("account-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await callApi("GET", `v1/accounts/${encodeURIComponent($("state-account").value)}`);
  });
  $("link-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await callApi("POST", "v1/enrollment-links", { account: $("link-account").value });
    if (answer && answer.url) {
      $("link-url").href = answer.url;
      $("link-url").textContent = answer.url;
      $("link-result").hidden = false;
    }
  });
  $("link-open").addEventListener("click", async () => {
    const parameter = startParameter($("link-url").href);
    if (parameter !== null) await openStart(parameter);
  });
  $("challenge-form").hidden = !view.setup.api_calls.includes("challenges");
  $("challenge-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await startChallenge();
  });
  $("challenge-cancel").addEventListener("click", cancelChallenge);
}

// ------------------------------------------------------------------------- refreshing

let refreshing = null;
let again = false;

async function refresh() {
  if (refreshing) { again = true; return refreshing; }
  refreshing = (async () => {
    do {
      again = false;
      try {
        await refreshOnce();
      } catch (error) {
        console.error(error);
      }
    } while (again);
    refreshing = null;
  })();
  return refreshing;
}

async function refreshOnce() {
  view.chats = await control("chats");
  if (view.current === null && view.chats.length) {
    const first = view.chats.find((c) => c.user);
    view.current = first ? first.id : view.chats[0].id;
    view.lastUser = first ? first.id : null;
    if (first) select(first.id);
  }
  const chat = view.chats.find((c) => c.id === view.current);
  if (chat) {
    renderHead(chat);
    const history = await control("history", { chat_id: chat.id });
    renderMessages(history);
    showAnswers(history);
  }
  renderChatList();
  await renderAuthenticator();
  view.firstLoad = false;
}

async function watch() {
  for (;;) {
    try {
      const changes = await control("wait_for_change", { after: view.changes, timeout: 25 });
      if (changes !== view.changes) {
        view.changes = changes;
        await refresh();
      }
    } catch (error) {
      await sleep(1000);  // the demo is restarting or stopped: try again
    }
  }
}

async function start() {
  view.setup = await (await fetch("/demo/setup")).json();
  for (const select_ of [$("chat-lang"), $("new-lang")]) {
    for (const [code, name] of LANGUAGES) select_.append(new Option(name, code));
  }
  $("chat-lang").addEventListener("change", async () => {
    await control("user", { user_id: view.current, language_code: $("chat-lang").value });
  });
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    $("text").value = "";
    try { await sendText(text); } catch (error) { toast(error.message, false); }
  });
  $("messages").addEventListener("click", async (event) => {
    const target = event.target.closest("a.cmd, a.start-link, .spoiler");
    if (!target) return;
    if (target.classList.contains("spoiler")) { target.classList.add("shown"); return; }
    event.preventDefault();
    if (target.classList.contains("cmd")) await sendText(target.dataset.cmd);
    else await openStart(target.dataset.start);
  });
  $("add-user").addEventListener("submit", async (event) => {
    event.preventDefault();
    const ids = view.chats.filter((c) => c.user).map((c) => c.id);
    const userId = Math.max(1000, ...ids.filter((id) => id < 7000)) + 1;
    const name = $("new-name").value.trim();
    await control("user", { user_id: userId, first_name: name, username: name.toLowerCase().replace(/\W/g, ""), language_code: $("new-lang").value });
    $("new-name").value = "";
    select(userId);
  });
  setUpPanel();
  await refresh();
  watch();
}

start();
