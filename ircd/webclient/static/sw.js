// securechat service worker: shows a Web Push (draft/webpush) as a
// notification. Each push carries one IRC line; only its sender, target
// and text are shown, as plain text (notifications render no markup).
// It caches nothing: the page always comes from the server.

import { parseLine, stripFormatting } from "./irc.js";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (ev) => ev.waitUntil(self.clients.claim()));

// Every push must show a notification (userVisibleOnly): a line the
// worker cannot read still says that something happened.
self.addEventListener("push", (ev) => {
  const n = describe(ev.data ? ev.data.text() : "") || { title: "securechat", body: "New activity" };
  ev.waitUntil(self.registration.showNotification(n.title, { body: n.body, tag: n.tag }));
});

self.addEventListener("notificationclick", (ev) => {
  ev.notification.close();
  ev.waitUntil(focusPage());
});

// describe returns the title, body and tag of the notification for an
// IRC line, or null for a line that is not a message or an invitation.
function describe(line) {
  const m = parseLine(line);
  if (!m || !m.nick) return null;
  const target = m.params[0] || "";
  if (m.command === "INVITE") {
    return { title: m.nick, body: "invites you to " + (m.params[1] || ""), tag: "invite" };
  }
  if (m.command !== "PRIVMSG" && m.command !== "NOTICE") return null;
  let text = m.params[1] || "";
  const action = /^\x01ACTION (.*?)\x01?$/.exec(text);
  if (action) text = "* " + m.nick + " " + action[1];
  else if (text.startsWith("\x01")) return null;
  const channel = /^[#&]/.test(target);
  return {
    title: channel ? m.nick + " in " + target : m.nick,
    body: stripFormatting(text),
    tag: (channel ? target : m.nick).toLowerCase(),
  };
}

// focusPage brings an open page of the client forward, or opens one.
async function focusPage() {
  const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  if (pages.length) return pages[0].focus();
  return self.clients.openWindow("/");
}
