// IRC line parsing and text helpers for the web client. Nothing here
// touches the page except linkify, which builds nodes, never HTML.

const TAG_ESCAPES = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

// parseLine splits one IRC line into tags, prefix, nick, command and
// params, or returns null for an empty line.
export function parseLine(line) {
  line = line.replace(/\r?\n$/, "");
  let i = 0;
  const m = { tags: {}, prefix: "", nick: "", command: "", params: [] };
  if (line[0] === "@") {
    const end = line.indexOf(" ");
    for (const tag of line.slice(1, end).split(";")) {
      const eq = tag.indexOf("=");
      const key = eq < 0 ? tag : tag.slice(0, eq);
      const raw = eq < 0 ? "" : tag.slice(eq + 1);
      m.tags[key] = raw.replace(/\\(.?)/g, (_, c) => TAG_ESCAPES[c] ?? c);
    }
    i = end + 1;
  }
  while (line[i] === " ") i++;
  if (line[i] === ":") {
    const end = line.indexOf(" ", i);
    m.prefix = line.slice(i + 1, end < 0 ? undefined : end);
    m.nick = m.prefix.split("!")[0];
    i = end < 0 ? line.length : end + 1;
  }
  const rest = line.slice(i);
  const trailing = rest.indexOf(" :");
  const head = trailing < 0 ? rest : rest.slice(0, trailing);
  const words = head.split(" ").filter(Boolean);
  if (rest.startsWith(":")) {
    m.params.push(rest.slice(1));
  } else {
    m.command = (words.shift() || "").toUpperCase();
    m.params.push(...words);
    if (trailing >= 0) m.params.push(rest.slice(trailing + 2));
  }
  return m.command ? m : null;
}

// formatLine builds a line from params, the last one as a trailing
// parameter, after any client tags (such as a label); CR, LF and NUL are
// dropped so no input can add a line.
export function formatLine(params, tags = {}) {
  const clean = params.map((p) => String(p).replace(/[\r\n\0]/g, ""));
  const last = clean.length - 1;
  if (last > 0 && (clean[last] === "" || clean[last].includes(" ") || clean[last].startsWith(":"))) {
    clean[last] = ":" + clean[last];
  }
  const tagText = Object.entries(tags).map(([k, v]) => k + "=" + escapeTag(String(v))).join(";");
  return (tagText ? "@" + tagText + " " : "") + clean.join(" ");
}

function escapeTag(v) {
  return v.replace(/[\\; \r\n\0]/g, (c) => ({ "\\": "\\\\", ";": "\\:", " ": "\\s", "\r": "\\r", "\n": "\\n", "\0": "" })[c]);
}

// stripFormatting removes mIRC bold, italics, underline, colours and the
// like, which would otherwise show as control characters.
export function stripFormatting(text) {
  return text
    .replace(/\x03(\d{1,2}(,\d{1,2})?)?/g, "")
    .replace(/\x04([0-9a-fA-F]{6}(,[0-9a-fA-F]{6})?)?/g, "")
    .replace(/[\x02\x0f\x11\x16\x1d\x1e\x1f]/g, "");
}

const URL_RE = /\bhttps?:\/\/[^\s<>"']+/g;

// linkify returns text as text nodes and <a> elements for http(s) URLs,
// the only schemes ever made clickable.
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0].replace(/[.,;:!?)\]]+$/, "");
    if (match.index > last) out.push(document.createTextNode(text.slice(last, match.index)));
    const a = document.createElement("a");
    a.href = url;
    a.textContent = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    out.push(a);
    last = match.index + url.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}
