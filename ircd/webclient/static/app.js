// securechat web client: IRC over WebSocket (wss://<this host>/ws).
// Text from the server is only ever put into the page with textContent
// or as the href of an http(s) link; never as HTML. The room password
// and the personal password live in this module's memory only, to log in
// again after a drop; nothing is written to web storage.

import { parseLine, formatLine, stripFormatting, linkify } from "./irc.js";

const WANTED_CAPS = ["server-time", "message-tags", "batch", "draft/chathistory",
  "echo-message", "labeled-response", "multi-prefix", "draft/webpush"];
const MAX_BACKOFF_MS = 30000;
const OLDER_PAGE = 50; // messages asked for per CHATHISTORY BEFORE
const NEAR_TOP_PX = 40; // scrolling this close to the top loads older lines
const PAINT_BATCH = 100; // lines put in the page per frame, at most
// Opening a conversation builds only its newest lines; older ones held in
// memory go in as the user scrolls up, a few at a time so that each step
// fits in a frame, before any are asked of the server. Laying out a
// thousand lines at once takes a noticeable pause.
const SHOWN_ON_OPEN = 150;
const SHOWN_PER_STEP = 50;
const SASL_CHUNK = 400; // AUTHENTICATE carries base64 in chunks this long
// A browser with no way to its push service may leave subscribe pending
// for ever (Chromium does, offline); past this the page says so.
const SUBSCRIBE_TIMEOUT_MS = 10000;
const NO_ACCOUNTS = "This server has no personal accounts. Leave the account fields empty.";

const $ = (id) => document.getElementById(id);

const state = {
  nick: "", password: "", firstChannel: "",
  // An account to log in to with SASL PLAIN, or, while creating is set,
  // to create with REGISTER once the room password has let us in; welcome
  // holds the 001 until REGISTER answers.
  account: "", accountPassword: "", creating: false, loggedInAs: "", welcome: null,
  ws: null, registered: false, everRegistered: false, refused: false,
  caps: new Set(), lsCaps: new Set(),
  convs: new Map(), // folded name -> conversation
  current: null,
  backoff: 1000, retryTimer: null,
  // batches maps an open BATCH reference to what it is for: a
  // labeled-response batch carries its label, an older-history batch
  // the conversation its lines go to and the lines received so far.
  batches: new Map(), labelSeq: 0,
  unpainted: [], // lines of the conversation on screen waiting for a frame
  vapid: "", // the server's VAPID public key (ISUPPORT VAPID=), base64url
};

// Formatters are built once: building one per line is most of the cost of
// showing a long replay.
const SHORT_TIME = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });
const FULL_TIME = new Intl.DateTimeFormat([], { dateStyle: "medium", timeStyle: "medium" });

function fold(name) { return name.toLowerCase(); }
function isChannel(name) { return /^[#&]/.test(name); }

// --- conversations --------------------------------------------------------

function conv(name, create = true) {
  let c = state.convs.get(fold(name));
  if (!c && create) {
    c = { name, channel: isChannel(name), lines: [], seen: new Set(),
      members: new Map(), pendingNames: null, topic: "", unread: 0, mentions: 0, joined: false,
      olderLabel: "", historyDone: false,
      shownFrom: 0 }; // while on screen: c.lines[shownFrom:] are in the page
    state.convs.set(fold(name), c);
    renderConvList();
  }
  return c;
}

function removeConv(c) {
  state.convs.delete(fold(c.name));
  if (state.current === c) {
    state.current = null;
    const first = state.convs.values().next().value;
    if (first) select(first); else renderCurrent();
  }
  renderConvList();
}

function select(c) {
  state.current = c;
  c.unread = 0;
  c.mentions = 0;
  renderConvList();
  renderCurrent();
  $("message-input").focus();
}

// addLine records a line in c and shows it if c is on screen. kind is
// "msg", "action", "notice", "event" or "error"; at is a Date.
function addLine(c, fields) {
  const line = newLine(c, fields);
  if (!line) return; // seen before: the replay after a reconnect
  c.lines.push(line);
  if (c === state.current) {
    appendLineElement(line);
  } else if (line.kind !== "event") {
    c.unread++;
    if (line.mention) c.mentions++;
    renderConvList();
  }
  if (line.mention || (!c.channel && line.kind !== "event" && line.from !== state.nick)) notify(c, line);
}

// newLine builds a line for c and marks its msgid seen, or returns null
// if c already has a line with that msgid.
function newLine(c, { kind, from = "", text, at = new Date(), msgid = "" }) {
  if (msgid) {
    if (c.seen.has(msgid)) return null;
    c.seen.add(msgid);
  }
  const line = { kind, from, text: stripFormatting(text), at, msgid };
  line.mention = isMention(line);
  return line;
}

// isMention reports whether line is someone else's message naming us as
// a whole word, so "bob" matches "hi bob!" but not "bobcat".
function isMention(line) {
  if (line.kind === "event" || line.kind === "error" || !state.nick || fold(line.from) === fold(state.nick)) return false;
  const text = line.text.toLowerCase();
  const nick = state.nick.toLowerCase();
  for (let i = text.indexOf(nick); i >= 0; i = text.indexOf(nick, i + 1)) {
    const before = text[i - 1] || " ", after = text[i + nick.length] || " ";
    if (!/[a-z0-9_\-\[\]\\`^{|}]/.test(before) && !/[a-z0-9_\-\[\]\\`^{|}]/.test(after)) return true;
  }
  return false;
}

// notify shows a browser notification for a mention or private message
// while the tab is in the background, if the user allowed them. It is
// best effort: Chrome on Android, for one, refuses new Notification().
function notify(c, line) {
  if (!document.hidden || typeof Notification === "undefined" || Notification.permission !== "granted") return;
  try {
    const n = new Notification(c.channel ? line.from + " in " + c.name : line.from, { body: line.text, tag: fold(c.name) });
    n.addEventListener("click", () => { window.focus(); select(c); n.close(); });
  } catch {
    // no notification, the line is shown all the same
  }
}

// prependLines puts older history above c's lines, oldest first, skipping
// msgids already shown, and keeps the view where the user was reading.
// It returns how many lines were new.
function prependLines(c, fields) {
  const lines = fields.map((f) => newLine(c, f)).filter(Boolean);
  c.lines.unshift(...lines);
  if (c === state.current && lines.length) {
    if (c.shownFrom === 0) putAbove(lines);
    else c.shownFrom += lines.length; // above lines not shown yet
  }
  return lines.length;
}

// showEarlier puts more of the current conversation's lines held in
// memory above those shown, and reports whether there were any.
function showEarlier(c) {
  if (c.shownFrom === 0) return false;
  const from = Math.max(0, c.shownFrom - SHOWN_PER_STEP);
  putAbove(c.lines.slice(from, c.shownFrom));
  c.shownFrom = from;
  return true;
}

// putAbove puts lines above those shown and keeps the view on what the
// user was reading.
function putAbove(lines) {
  const ol = $("messages");
  const fromBottom = ol.scrollHeight - ol.scrollTop;
  ol.prepend(...lines.map(lineElement));
  ol.scrollTop = ol.scrollHeight - fromBottom;
}

// loadEarlier shows older lines of c: from memory if it has any not
// shown, else from the server.
function loadEarlier(c) {
  if (!showEarlier(c)) loadOlder(c);
}

function statusLine(text, kind = "event") {
  const c = state.current || conv("*server*");
  addLine(c, { kind, text });
}

// --- rendering ----------------------------------------------------------

function renderConvList() {
  const ul = $("conversation-list");
  ul.replaceChildren();
  for (const c of state.convs.values()) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = c.name;
    b.setAttribute("aria-current", c === state.current ? "true" : "false");
    if (c.unread > 0) {
      const u = document.createElement("span");
      u.className = c.mentions > 0 ? "unread mentioned" : "unread";
      u.textContent = c.mentions > 0 ? c.unread + " @" + c.mentions : String(c.unread);
      u.setAttribute("aria-label", c.unread + " unread" +
        (c.mentions > 0 ? ", " + c.mentions + (c.mentions === 1 ? " mention" : " mentions") : ""));
      b.append(u);
    }
    b.addEventListener("click", () => select(c));
    li.append(b);
    ul.append(li);
  }
}

function renderCurrent() {
  const c = state.current;
  renderHead();
  const ol = $("messages");
  state.unpainted.length = 0; // c.lines holds them: shown below
  if (c) c.shownFrom = Math.max(0, c.lines.length - SHOWN_ON_OPEN);
  ol.replaceChildren(...(c ? c.lines.slice(c.shownFrom).map(lineElement) : []));
  ol.scrollTop = ol.scrollHeight;
  renderHistoryState();
  fillScreen();
  renderMembers();
}

// renderHead shows the current conversation's name, topic and whether it
// can be left.
function renderHead() {
  const c = state.current;
  $("conversation-name").textContent = c ? c.name : "";
  $("topic").textContent = c ? stripFormatting(c.topic) : "";
  $("leave").hidden = !c || !c.channel;
}

// appendLineElement shows line below the others on the next animation
// frame, with any other lines that arrive before it: a burst (a replay, a
// busy channel) then costs one layout per frame, not one per line.
function appendLineElement(line) {
  state.unpainted.push(line);
  if (state.unpainted.length === 1) requestAnimationFrame(paintLines);
}

function paintLines() {
  const lines = state.unpainted.splice(0, PAINT_BATCH);
  if (!lines.length) return; // renderCurrent showed them already
  if (state.unpainted.length) requestAnimationFrame(paintLines);
  const ol = $("messages");
  const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
  ol.append(...lines.map(lineElement));
  if (atBottom) ol.scrollTop = ol.scrollHeight;
}

// renderHistoryState tells the page (and tests) whether older history is
// being loaded or all of it is shown.
function renderHistoryState() {
  const c = state.current;
  $("messages").dataset.history = !c ? "" : c.olderLabel ? "loading" : c.historyDone ? "complete" : "";
}

function lineElement(line) {
  const li = document.createElement("li");
  li.className = line.kind + (line.mention ? " mention" : "");
  if (line.msgid) li.dataset.msgid = line.msgid;
  const t = document.createElement("time");
  t.dateTime = line.at.toISOString();
  t.textContent = SHORT_TIME.format(line.at);
  t.title = FULL_TIME.format(line.at);
  li.append(t);
  if (line.kind === "msg" || line.kind === "notice") {
    const n = document.createElement("span");
    n.className = "nick";
    n.textContent = line.kind === "notice" ? "-" + line.from + "-" : line.from;
    li.append(n);
  } else if (line.kind === "action") {
    li.append("* " + line.from + " ");
  }
  const body = document.createElement("span");
  body.className = "text";
  body.append(...linkify(line.text));
  li.append(body);
  return li;
}

function renderMembers() {
  const c = state.current;
  const ul = $("members");
  ul.replaceChildren();
  const box = $("members-box");
  box.hidden = !c || !c.channel;
  if (!c || !c.channel) return;
  const names = [...c.members.entries()].sort((a, b) =>
    rank(a[1]) - rank(b[1]) || a[0].localeCompare(b[0]));
  for (const [nick, prefix] of names) {
    const li = document.createElement("li");
    li.textContent = prefix.slice(0, 1) + nick;
    ul.append(li);
  }
  $("members-summary").textContent = "Members (" + names.length + ")";
}

// rank orders members by their highest channel status, owners first and
// those without any last.
function rank(prefix) {
  const i = prefix ? "~&@%+".indexOf(prefix[0]) : -1;
  return i < 0 ? 5 : i;
}

function setStatus(text, down = false) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("down", down);
}

// --- connection ---------------------------------------------------------

function send(...params) { return sendTagged({}, ...params); }

// sendTagged sends a line with client tags such as a label.
function sendTagged(tags, ...params) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(formatLine(params, tags));
    return true;
  }
  return false;
}

function connect() {
  clearTimeout(state.retryTimer);
  state.registered = false;
  state.loggedInAs = "";
  state.vapid = "";
  state.welcome = null;
  state.caps.clear();
  state.lsCaps.clear();
  const ws = new WebSocket("wss://" + location.host + "/ws", ["text.ircv3.net"]);
  state.ws = ws;
  ws.addEventListener("open", () => {
    send("CAP", "LS", "302");
    sendLogin();
  });
  ws.addEventListener("message", (ev) => {
    if (typeof ev.data === "string") handleLine(parseLine(ev.data));
  });
  ws.addEventListener("close", () => {
    if (state.ws !== ws) return;
    state.ws = null;
    onDisconnect();
  });
}

// sendLogin sends what registers the connection: the room password, the
// nick and the user name.
function sendLogin() {
  send("PASS", state.password);
  send("NICK", state.nick);
  send("USER", state.nick, "0", "*", state.nick);
}

function onDisconnect() {
  state.batches.clear();
  for (const c of state.convs.values()) {
    c.joined = false;
    c.olderLabel = ""; // its answer is lost with the connection
  }
  renderHistoryState();
  if (state.refused) return;
  if (!state.everRegistered) {
    loginFailed("Could not connect to the server. Try again.");
    return;
  }
  // Once per drop, not once per failed attempt to come back.
  if (state.registered) statusLine("Disconnected from the server.", "error");
  state.registered = false;
  scheduleRetry();
}

// scheduleRetry connects again after the back-off delay, which doubles
// with each failed attempt up to MAX_BACKOFF_MS; while the browser knows
// it is offline it waits for the network instead of spending attempts.
function scheduleRetry() {
  clearTimeout(state.retryTimer);
  state.retryTimer = null;
  if (!navigator.onLine) {
    setStatus("Offline. Reconnecting when the network is back…", true);
    return;
  }
  const delay = state.backoff;
  state.backoff = Math.min(state.backoff * 2, MAX_BACKOFF_MS);
  setStatus("Disconnected. Reconnecting in " + Math.round(delay / 1000) + " s…", true);
  state.retryTimer = setTimeout(reconnect, delay + Math.random() * 500);
}

function reconnect() {
  clearTimeout(state.retryTimer);
  state.retryTimer = null;
  setStatus("Reconnecting…", true);
  connect();
}

// waitingToRetry reports whether the page lost its connection and is
// waiting to connect again.
function waitingToRetry() {
  return state.everRegistered && !state.refused && !state.ws;
}

// loginFailed closes the connection, shows the login page with message,
// and empties and focuses the field to fix (the room password's unless
// told otherwise).
function loginFailed(message, field = "login-password") {
  state.password = "";
  state.accountPassword = "";
  state.refused = true;
  if (state.ws) state.ws.close();
  state.ws = null;
  $("chat-page").hidden = true;
  $("login-page").hidden = false;
  loginButtonsDisabled(false);
  if ($(field).type === "password") $(field).value = "";
  $("login-error").textContent = message;
  $(field).focus();
}

// --- accounts -----------------------------------------------------------

// requestCaps asks for the capabilities the page uses among those offered,
// and for sasl when it logs in to an account. A server with accounts
// offers account registration; one without has no account to log in to.
function requestCaps() {
  if (state.account && !state.lsCaps.has("draft/account-registration")) {
    loginFailed(NO_ACCOUNTS, "login-account-password");
    return;
  }
  const want = WANTED_CAPS.filter((c) => state.lsCaps.has(c));
  if (wantsSASL()) want.push("sasl");
  if (want.length) send("CAP", "REQ", want.join(" ")); else send("CAP", "END");
}

// wantsSASL reports whether this login is to an existing account.
function wantsSASL() { return state.account !== "" && !state.creating; }

// sendPlain answers the server's "AUTHENTICATE +" with the SASL PLAIN
// payload (no authzid: the account is the one named), base64 in chunks of
// SASL_CHUNK, and a "+" after a last chunk that is full.
function sendPlain(account, password) {
  const bytes = new TextEncoder().encode("\0" + account + "\0" + password);
  const payload = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
  for (let i = 0; i < payload.length; i += SASL_CHUNK) send("AUTHENTICATE", payload.slice(i, i + SASL_CHUNK));
  if (payload.length % SASL_CHUNK === 0) send("AUTHENTICATE", "+");
}

// saslFailed shows why the account login failed. The server tells a
// locked account and a busy server apart only in its text, and words a
// wrong password the same whether or not the account exists.
function saslFailed(m) {
  const text = m.params.at(-1) || "";
  let message = "Wrong account name or personal password";
  if (/too many failed logins/i.test(text)) message = "Too many failed logins to this account. Try again later.";
  else if (/busy/i.test(text)) message = "The server is busy. Try again in a moment.";
  loginFailed(message, "login-account-password");
}

// createAccount registers the account once the room password has let the
// connection in, holding its welcome until REGISTER answers so that a
// refusal leaves the login page up. The account is named after the nick
// the person chose, spelled out: if the server gave them another one, the
// registration fails rather than name the account after it.
function createAccount(welcome) {
  state.welcome = welcome;
  send("REGISTER", state.account, "*", state.accountPassword);
}

// accountCreated enters the chat with the held welcome. Logins after a
// drop log in to the new account with SASL.
function accountCreated(name) {
  if (!state.creating || !state.welcome) return;
  const welcome = state.welcome;
  state.creating = false;
  state.welcome = null;
  state.account = state.loggedInAs = name;
  handlers["001"](welcome);
}

const REGISTER_REFUSALS = {
  ACCOUNT_EXISTS: "That account already exists. Log in to it, or choose another nick.",
  ACCOUNT_NAME_MUST_BE_NICK: "That nick is in use. An account is named after your nick: choose another.",
  BAD_ACCOUNT_NAME: "That nick cannot name an account: choose another.",
  WEAK_PASSWORD: "Choose a personal password of at least 8 characters.",
  UNACCEPTABLE_PASSWORD: "Choose a shorter personal password.",
};

// registerFailed shows why REGISTER refused, in the server's words for a
// code the page does not know, and hangs up.
function registerFailed(code, text) {
  const field = /PASSWORD$/.test(code) ? "login-account-password" : "login-nick";
  loginFailed(REGISTER_REFUSALS[code] || "Account not created: " + text, field);
}

// connectedAs is the status once connected: the nick, and the account.
function connectedAs() {
  return "Connected as " + state.nick + (state.loggedInAs ? " (account " + state.loggedInAs + ")" : "");
}

// --- push notifications (draft/webpush) ---------------------------------

// The service worker shows pushes while no page is open. Registering it on
// every load keeps the browser's copy current; without it, no toggle.
const workerRegistered = "serviceWorker" in navigator
  ? navigator.serviceWorker.register("/sw.js", { type: "module", scope: "/" }).catch(() => null)
  : Promise.resolve(null);

// pushOffered reports whether this device may turn push on: the browser
// can, the server offers draft/webpush with a VAPID key, and we are logged
// in to an account (subscriptions belong to accounts).
function pushOffered() {
  return state.loggedInAs !== "" && state.caps.has("draft/webpush") && state.vapid !== ""
    && "serviceWorker" in navigator && typeof PushManager !== "undefined";
}

// offerPush shows the toggle when push is offered. A subscription this
// device already holds is registered again, so that the server has it
// after a restart of either side.
async function offerPush() {
  const button = $("push-toggle");
  button.hidden = !pushOffered();
  if (button.hidden) return;
  const sub = await currentSubscription();
  setPushOn(sub !== null);
  if (sub) registerSubscription(sub);
}

async function currentSubscription() {
  const reg = await workerRegistered;
  return reg ? reg.pushManager.getSubscription() : null;
}

// togglePush turns push on or off for this device, on the user's click
// only: browsers ask for the notification permission on a user action.
async function togglePush() {
  const button = $("push-toggle");
  const on = button.getAttribute("aria-pressed") === "true";
  button.disabled = true;
  try {
    if (on) await pushOff(); else await pushOn();
  } catch (err) {
    pushNote((on ? "Could not turn notifications off: " : "Could not turn notifications on: ") + err.message, true);
  } finally {
    button.disabled = false;
  }
}

// pushOn subscribes with the server's VAPID key and sends the endpoint
// and keys to the server, which answers WEBPUSH REGISTER or FAIL.
async function pushOn() {
  if (await Notification.requestPermission() !== "granted") {
    pushNote("Notifications are blocked for this site: allow them in the browser's settings.", true);
    return;
  }
  if (!await workerRegistered) throw new Error("the service worker did not start");
  pushNote("Turning notifications on…");
  const reg = await navigator.serviceWorker.ready;
  const subscribing = reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64URL(state.vapid) });
  registerSubscription(await Promise.race([subscribing, timeout(SUBSCRIBE_TIMEOUT_MS,
    "the browser's push service did not answer")]));
}

function registerSubscription(sub) {
  const keys = "p256dh=" + base64URL(sub.getKey("p256dh")) + ";auth=" + base64URL(sub.getKey("auth"));
  send("WEBPUSH", "REGISTER", sub.endpoint, keys);
}

async function pushOff() {
  const sub = await currentSubscription();
  if (sub) {
    send("WEBPUSH", "UNREGISTER", sub.endpoint);
    await sub.unsubscribe();
  }
  setPushOn(false);
  pushNote("Notifications off for this device.");
}

// pushAnswered handles the server's WEBPUSH REGISTER or UNREGISTER reply.
function pushAnswered(sub) {
  if (sub !== "REGISTER") return;
  setPushOn(true);
  pushNote("Notifications on for this device.");
}

// pushFailed shows the server's refusal and drops the subscription it
// refused, so the device does not hold one nobody pushes to.
async function pushFailed(text) {
  pushNote("Notifications refused by the server: " + text, true);
  const sub = await currentSubscription();
  if (sub) await sub.unsubscribe();
  setPushOn(false);
}

// timeout returns a promise that fails with message after ms.
function timeout(ms, message) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms));
}

function setPushOn(on) { $("push-toggle").setAttribute("aria-pressed", String(on)); }

function pushNote(text, error = false) {
  const note = $("push-note");
  note.textContent = text;
  note.classList.toggle("down", error);
}

function base64URL(buf) {
  return btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64URL(text) {
  return Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
}

// --- incoming lines -----------------------------------------------------

function messageTime(m) {
  const t = m.tags.time ? new Date(m.tags.time) : new Date();
  return isNaN(t) ? new Date() : t;
}

const handlers = {
  PING(m) { send("PONG", ...m.params); },
  CAP(m) {
    const sub = (m.params[1] || "").toUpperCase();
    if (sub === "LS") {
      const more = m.params[2] === "*";
      const list = m.params[more ? 3 : 2] || "";
      for (const item of list.split(" ")) if (item) state.lsCaps.add(item.split("=")[0]);
      if (!more) requestCaps();
    } else if (sub === "ACK") {
      for (const c of (m.params[2] || "").split(" ")) if (c) state.caps.add(c);
      if (wantsSASL()) send("AUTHENTICATE", "PLAIN"); else send("CAP", "END");
    } else if (sub === "NAK") {
      if (wantsSASL()) loginFailed(NO_ACCOUNTS, "login-account-password"); else send("CAP", "END");
    }
  },
  "001"(m) {
    if (state.creating) return createAccount(m);
    state.nick = m.params[0];
    state.registered = true;
    state.backoff = 1000;
    setStatus(connectedAs());
    if (!state.everRegistered) {
      state.everRegistered = true;
      $("login-page").hidden = true;
      $("chat-page").hidden = false;
      if (matchMedia("(max-width: 700px)").matches) $("members-box").open = false;
      if (state.firstChannel) send("JOIN", state.firstChannel);
    } else {
      statusLine("Reconnected.");
      for (const c of state.convs.values()) if (c.channel) send("JOIN", c.name);
    }
    offerPush();
  },
  "005"(m) {
    for (const token of m.params.slice(1, -1)) {
      if (token.startsWith("VAPID=")) {
        state.vapid = token.slice(6);
        offerPush();
      }
    }
  },
  "433"(m) { // nick in use
    if (!state.registered) {
      state.nick = state.nick.slice(0, 28) + "_";
      send("NICK", state.nick);
    } else {
      statusLine(m.params.at(-1) + ": " + m.params[1], "error");
    }
  },
  "422"() {}, // no MOTD: routine, not an error to put in a conversation
  "464"() { loginFailed("Wrong room password"); },
  AUTHENTICATE(m) { if (m.params[0] === "+") sendPlain(state.account, state.accountPassword); },
  "900"(m) { state.loggedInAs = m.params[2] || ""; },
  "903"() { send("CAP", "END"); },
  "904": saslFailed, // refused
  "905": saslFailed, // too long
  REGISTER(m) { if (m.params[0] === "SUCCESS") accountCreated(m.params[1]); },
  WEBPUSH(m) { pushAnswered(m.params[0]); },
  ERROR(m) {
    if (!state.refused) statusLine(m.params.at(-1) || "Connection closed", "error");
  },
  JOIN(m) {
    const c = conv(m.params[0]);
    if (m.nick === state.nick) {
      c.joined = true;
      c.members.clear();
      // With draft/chathistory the server replays nothing on JOIN: ask.
      if (state.caps.has("draft/chathistory")) send("CHATHISTORY", "LATEST", c.name, "*", String(OLDER_PAGE));
      if (!state.current || state.current === c || c.name === state.firstChannel) select(c);
    } else {
      c.members.set(m.nick, "");
      addLine(c, { kind: "event", text: m.nick + " joined", at: messageTime(m), msgid: m.tags.msgid });
      if (c === state.current) renderMembers();
    }
  },
  PART(m) { leftChannel(m, m.params[0], m.nick, "left"); },
  KICK(m) { leftChannel(m, m.params[0], m.params[1], "was kicked by " + m.nick); },
  QUIT(m) {
    for (const c of state.convs.values()) {
      if (c.members.delete(m.nick)) {
        addLine(c, { kind: "event", text: m.nick + " quit" + reason(m.params[0]), at: messageTime(m) });
      }
    }
    renderMembers();
  },
  NICK(m) {
    const to = m.params[0];
    if (m.nick === state.nick) {
      state.nick = to;
      setStatus(connectedAs());
    }
    for (const c of state.convs.values()) {
      if (c.members.has(m.nick)) {
        c.members.set(to, c.members.get(m.nick));
        c.members.delete(m.nick);
        addLine(c, { kind: "event", text: m.nick + " is now known as " + to, at: messageTime(m) });
      }
    }
    const q = conv(m.nick, false);
    if (q && !q.channel && !conv(to, false)) {
      state.convs.delete(fold(q.name));
      q.name = to;
      state.convs.set(fold(to), q);
      renderConvList();
      if (q === state.current) renderHead();
    }
    renderMembers();
  },
  TOPIC(m) {
    const c = conv(m.params[0]);
    c.topic = m.params[1] || "";
    addLine(c, { kind: "event", text: m.nick + " set the topic: " + c.topic, at: messageTime(m) });
    if (c === state.current) renderHead();
  },
  "331"(m) { setTopic(m.params[1], ""); },
  "332"(m) { setTopic(m.params[1], m.params[2] || ""); },
  "353"(m) {
    const c = conv(m.params[2], false);
    if (!c) return;
    c.pendingNames ??= new Map();
    for (const item of (m.params[3] || "").split(" ")) {
      const match = /^([~&@%+]*)(.+)$/.exec(item);
      if (match) c.pendingNames.set(match[2].split("!")[0], match[1]);
    }
  },
  "366"(m) {
    const c = conv(m.params[1], false);
    if (!c) return;
    c.members = c.pendingNames || new Map();
    c.pendingNames = null;
    if (c === state.current) renderMembers();
  },
  PRIVMSG(m) { onMessage(m, "msg"); },
  NOTICE(m) { onMessage(m, "notice"); },
  FAIL(m) {
    if (m.params[0] === "REGISTER" && state.creating) registerFailed(m.params[1], m.params.at(-1));
    else if (m.params[0] === "WEBPUSH") pushFailed(m.params.at(-1));
    else statusLine(m.params.at(-1), "error");
  },
};

function reason(r) { return r ? " (" + r + ")" : ""; }

function setTopic(name, topic) {
  const c = conv(name, false);
  if (!c) return;
  c.topic = topic;
  if (c === state.current) renderHead();
}

function leftChannel(m, name, who, verb) {
  const c = conv(name, false);
  if (!c) return;
  if (who === state.nick) {
    removeConv(c);
    return;
  }
  c.members.delete(who);
  addLine(c, { kind: "event", text: who + " " + verb + reason(m.params.at(-1) !== name ? m.params.at(-1) : ""), at: messageTime(m) });
  if (c === state.current) renderMembers();
}

function onMessage(m, kind) {
  if (!m.prefix.includes("!")) { // from the server itself
    statusLine(m.params[1] || "");
    return;
  }
  const msg = messageLine(m, kind);
  if (msg) addLine(conv(msg.name), msg.fields);
}

// messageLine returns the conversation name and line fields of a PRIVMSG
// or NOTICE from a user, or null for a CTCP other than ACTION.
function messageLine(m, kind) {
  const target = m.params[0];
  let text = m.params[1] || "";
  const mine = fold(m.nick) === fold(state.nick);
  const name = isChannel(target) || mine ? target : m.nick;
  const action = /^\x01ACTION (.*)\x01?$/.exec(text);
  if (action) {
    kind = "action";
    text = action[1].replace(/\x01$/, "");
  } else if (text.startsWith("\x01")) {
    return null;
  }
  return { name, fields: { kind, from: m.nick, text, at: messageTime(m), msgid: m.tags.msgid } };
}

// --- older history ------------------------------------------------------

// loadOlder asks for the page of c's history before its oldest line with
// a msgid, unless a request is already out or the server said there is no
// more. The request is labeled so its answer is told apart from the
// replay that follows a JOIN.
function loadOlder(c) {
  if (c.olderLabel || c.historyDone || !c.joined && c.channel || !canLoadOlder()) return;
  const oldest = c.lines.find((l) => l.msgid);
  if (!oldest) return;
  c.olderLabel = "older" + ++state.labelSeq;
  if (!sendTagged({ label: c.olderLabel }, "CHATHISTORY", "BEFORE", c.name, "msgid=" + oldest.msgid, String(OLDER_PAGE))) {
    c.olderLabel = "";
  }
  renderHistoryState();
}

function canLoadOlder() {
  return ["batch", "draft/chathistory", "labeled-response", "server-time"].every((cap) => state.caps.has(cap));
}

function convWithLabel(label) {
  if (!label) return null;
  for (const c of state.convs.values()) if (c.olderLabel === label) return c;
  return null;
}

// onBatch tracks BATCH +ref / -ref. A chathistory batch inside the
// labeled-response batch answering loadOlder collects its lines; when it
// ends they go above the conversation's lines.
function onBatch(m) {
  const ref = (m.params[0] || "").slice(1);
  if ((m.params[0] || "").startsWith("+")) {
    const parent = state.batches.get(m.tags.batch);
    const label = m.tags.label || (parent && parent.label) || "";
    const c = m.params[1] === "chathistory" ? convWithLabel(label) : null;
    state.batches.set(ref, { label, conv: c, lines: [] });
    return;
  }
  const b = state.batches.get(ref);
  state.batches.delete(ref);
  if (!b) return;
  if (b.conv) {
    const added = prependLines(b.conv, b.lines);
    if (added === 0) b.conv.historyDone = true; // nothing older: stop asking
    b.conv.olderLabel = "";
    renderHistoryState();
  } else if (b.label) {
    finishLabel(b.label);
  }
  fillScreen();
}

// fillScreen loads older lines while the conversation on screen is too
// short to scroll, since then no scrolling up can ask for them.
function fillScreen() {
  const ol = $("messages");
  if (state.current && ol.scrollHeight <= ol.clientHeight + NEAR_TOP_PX) loadEarlier(state.current);
}

// finishLabel ends an older-history request answered without a batch,
// such as a FAIL, so scrolling up can try again later.
function finishLabel(label) {
  const c = convWithLabel(label);
  if (!c) return;
  c.olderLabel = "";
  renderHistoryState();
}

// olderBatchLine keeps a message that belongs to an older-history batch
// for when the batch ends, and reports whether it did.
function olderBatchLine(m) {
  const b = m.tags.batch && state.batches.get(m.tags.batch);
  if (!b || !b.conv) return false;
  if ((m.command === "PRIVMSG" || m.command === "NOTICE") && m.prefix.includes("!")) {
    const msg = messageLine(m, m.command === "PRIVMSG" ? "msg" : "notice");
    if (msg) b.lines.push(msg.fields);
  }
  return true;
}

function handleLine(m) {
  if (!m) return;
  if (olderBatchLine(m)) return;
  if (m.command === "BATCH") return onBatch(m);
  if (m.tags.label && !state.batches.has(m.tags.batch)) finishLabel(m.tags.label);
  const h = handlers[m.command];
  if (h) {
    h(m);
  } else if (/^[45]\d\d$/.test(m.command) && state.registered) {
    statusLine(m.params.slice(1).join(" "), "error");
  }
}

// --- outgoing -----------------------------------------------------------

// sendMessage sends text to the current conversation, or runs a /command.
function submit(text) {
  if (!text.trim()) return;
  const c = state.current;
  if (!text.startsWith("/") || text.startsWith("//")) {
    if (!c || c.name === "*server*") { statusLine("Join a channel first: /join #channel", "error"); return; }
    say(c.name, text.startsWith("//") ? text.slice(1) : text);
    return;
  }
  const [cmd, ...rest] = text.slice(1).split(" ");
  const arg = rest.join(" ");
  switch (cmd.toLowerCase()) {
    case "join": {
      const name = rest[0] || "";
      if (!name) return statusLine("Usage: /join #channel", "error");
      const folded = fold(isChannel(name) ? name : "#" + name);
      send("JOIN", isChannel(name) ? name : "#" + name);
      const existing = state.convs.get(folded);
      if (existing) select(existing);
      return;
    }
    case "part": {
      const name = isChannel(rest[0] || "") ? rest.shift() : c && c.channel ? c.name : "";
      if (!name) return statusLine("Usage: /part [#channel] [reason]", "error");
      return rest.length ? send("PART", name, rest.join(" ")) : send("PART", name);
    }
    case "msg": case "query": {
      const [to, ...words] = rest;
      if (!to) return statusLine("Usage: /msg nick [text]", "error");
      const q = conv(to);
      select(q);
      if (words.length) say(to, words.join(" "));
      return;
    }
    case "me":
      if (!c || c.name === "*server*") return;
      return say(c.name, "\x01ACTION " + arg + "\x01", "action", arg);
    case "nick":
      if (!rest[0]) return statusLine("Usage: /nick newnick", "error");
      return send("NICK", rest[0]);
    case "topic":
      if (!c || !c.channel) return statusLine("/topic works in a channel", "error");
      return arg ? send("TOPIC", c.name, arg) : send("TOPIC", c.name);
    case "quit":
      state.refused = true;
      send("QUIT", arg || "Leaving");
      return;
    default:
      statusLine("Unknown command /" + cmd + ". Try /join /part /msg /me /nick /topic", "error");
  }
}

function say(target, text, kind = "msg", shown = text) {
  if (!send("PRIVMSG", target, text)) {
    statusLine("Not connected; message not sent.", "error");
    return;
  }
  // With echo-message the server's copy (with its msgid and time) is shown.
  if (!state.caps.has("echo-message")) addLine(conv(target), { kind, from: state.nick, text: shown });
}

// --- wiring -------------------------------------------------------------

// readLogin returns the login form's fields, checked, or the message that
// says what to fix. sendLogin sends them; an account's login follows
// when the server has answered CAP LS (requestCaps).
function readLogin(creating) {
  const nick = $("login-nick").value.trim();
  const password = $("login-password").value;
  let channel = $("login-channel").value.trim();
  if (channel && !isChannel(channel)) channel = "#" + channel;
  if (!/^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]*$/.test(nick)) {
    return { error: "Choose a nick: letters, digits and _-[]{}|^` (no spaces)." };
  }
  if (!password) return { error: "Enter the room password." };
  const account = readAccount(nick, creating);
  return account.error ? account : { nick, password, firstChannel: channel, ...account };
}

// readAccount returns the account fields: none, an account to log in to
// (named after the nick unless given), or, when creating, the account to
// create, which is named after the nick (the server has no other names).
function readAccount(nick, creating) {
  const name = $("login-account").value.trim();
  const accountPassword = $("login-account-password").value;
  if (creating) {
    if (name && fold(name) !== fold(nick)) {
      return { error: "A new account is named after your nick: leave the account name empty." };
    }
    if (!accountPassword) return { error: "Choose a personal password for the new account." };
    return { account: nick, accountPassword, creating };
  }
  if (!accountPassword) {
    if (name) return { error: "Enter your personal password, or leave the account name empty." };
    return { account: "", accountPassword: "", creating };
  }
  return { account: name || nick, accountPassword, creating };
}

// startLogin logs in with what the form holds, creating the account
// named in it if asked to.
function startLogin(creating) {
  const login = readLogin(creating);
  $("login-error").textContent = login.error || "";
  if (login.error) return;
  loginButtonsDisabled(true);
  // Asked here because browsers only allow it in answer to a user action.
  if (typeof Notification !== "undefined" && Notification.permission === "default") {
    Notification.requestPermission().catch(() => {});
  }
  Object.assign(state, login, { refused: false, everRegistered: false, backoff: 1000 });
  connect();
}

function loginButtonsDisabled(disabled) {
  $("login-submit").disabled = disabled;
  $("create-account").disabled = disabled;
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  startLogin(false);
});
$("create-account").addEventListener("click", () => startLogin(true));

$("send-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("message-input");
  submit(input.value);
  input.value = "";
});

$("messages").addEventListener("scroll", () => {
  if (state.current && $("messages").scrollTop < NEAR_TOP_PX) loadEarlier(state.current);
}, { passive: true });

// A phone that changes networks, or comes back to the tab after its
// timers were frozen, reconnects at once rather than at the end of a
// back-off that may have grown to half a minute.
window.addEventListener("online", () => { if (waitingToRetry()) reconnect(); });
window.addEventListener("offline", () => { if (waitingToRetry()) scheduleRetry(); });
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && waitingToRetry() && navigator.onLine) reconnect();
});

$("push-toggle").addEventListener("click", togglePush);

$("leave").addEventListener("click", () => {
  if (state.current && state.current.channel) send("PART", state.current.name);
});
