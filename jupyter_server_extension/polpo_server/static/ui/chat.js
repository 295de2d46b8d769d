// The chat panel: the project's orchestrator over `chat/completions` (OpenAI's format, `stream: true`),
// its stored sessions (listed, reopened, continued with `sessionId`), and its tool activity (the
// `polpo` object of the stream's chunks; `tool_calls` / tool messages of a stored session). The panel
// is built once per session and kept across repaints of the page, so a reply streams on undisturbed.

import { call, stream } from "./api.js";
import { el } from "./dag.js";

let panel = null; // {sessionId, element}

function bubble(role, text = "") {
  const item = el("li", { class: `ui-msg ui-msg-${role}`, "data-role": role });
  item.append(el("span", { class: "ui-msg-role" }, role === "assistant" ? "Polpo" : role), el("div", { class: "ui-msg-text" }, text));
  return item;
}

function toolItem(kind, name, detail, isError) {
  const item = el("li", { class: "ui-msg ui-msg-tool", "data-role": "tool", "data-kind": kind });
  if (isError) item.setAttribute("data-error", "true");
  const label = kind === "tool_call" ? `→ ${name}` : kind === "output" ? `… ${name || "output"}` : `← ${name}`;
  item.append(el("span", { class: "ui-msg-role" }, label));
  if (detail) item.append(el("pre", { class: "ui-pre ui-tool-detail" }, String(detail).slice(0, 2000)));
  return item;
}

function showStored(list, messages) {
  const names = new Map();
  for (const m of messages) {
    if (m.role === "user" || (m.role === "assistant" && m.content)) list.append(bubble(m.role, m.content || ""));
    for (const c of m.toolCalls || []) {
      names.set(c.id, c.name);
      list.append(toolItem("tool_call", c.name, JSON.stringify(c.arguments)));
    }
    if (m.role === "tool") list.append(toolItem("tool_result", m.name || names.get(m.toolCallId) || "tool", m.content, m.isError));
  }
}

export function chatPage(ctx, sessionId) {
  const id = sessionId || "new";
  if (panel && panel.sessionId === id) {
    panel.refreshSessions();
    return panel.element;
  }
  const element = el("div", { class: "ui-page ui-chat" });
  const sessions = el("nav", { class: "ui-chat-sessions", "aria-label": "Chat sessions" });
  const transcript = el("ol", { class: "ui-transcript", id: "transcript", "aria-live": "polite" });
  const form = el("form", { class: "ui-chat-form" });
  const input = el("textarea", { id: "chat-input", rows: "2", "aria-label": "Message to Polpo", placeholder: "Ask Polpo: status, run a mission, approve…" });
  const send = el("button", { type: "submit", class: "ui-btn ui-primary" }, "Send");
  form.append(input, send);
  const main = el("div", { class: "ui-chat-main" });
  const heading = el("h1", {}, id === "new" ? "New chat" : "Chat");
  main.append(heading, transcript, form);
  element.append(sessions, main);
  let current = id === "new" ? null : id;

  async function refreshSessions() {
    try {
      const list = await ctx.read("chat/sessions");
      const items = el("ul");
      const fresh = el("li");
      fresh.append(el("a", { href: "#/chat" }, "+ New chat"));
      items.append(fresh);
      for (const s of list) {
        const li = el("li", { "data-session-id": s.id });
        const a = el("a", { href: `#/chat/${encodeURIComponent(s.id)}` }, s.title || s.id);
        if (s.id === current) a.setAttribute("aria-current", "page");
        li.append(a, el("span", { class: "ui-muted" }, ` · ${s.messageCount} messages`));
        items.append(li);
      }
      sessions.replaceChildren(el("h2", {}, "Sessions"), items);
    } catch (error) { ctx.say(`Chat sessions: ${error.message}`); }
  }

  async function load() {
    if (!current) return;
    try { showStored(transcript, await ctx.read(`chat/sessions/${encodeURIComponent(current)}/messages`)); }
    catch (error) { ctx.say(`Chat session: ${error.message}`); }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send.disabled = true;
    transcript.append(bubble("user", text));
    const reply = bubble("assistant");
    reply.setAttribute("aria-busy", "true");
    transcript.append(reply);
    const body = { model: "polpo", stream: true, messages: [{ role: "user", content: text }] };
    if (current) body.sessionId = current;
    const textBox = reply.querySelector(".ui-msg-text");
    try {
      await stream(`${ctx.base}chat/completions`, {
        method: "POST", body,
        onEvent: ({ data }) => {
          if (data === "[DONE]") return;
          const chunk = JSON.parse(data);
          if (chunk.error) { ctx.say(`Chat: ${chunk.error.message || chunk.error}`); return; }
          if (chunk.sessionId && !current) current = chunk.sessionId;
          const delta = (chunk.choices && chunk.choices[0] && chunk.choices[0].delta) || {};
          if (delta.content) textBox.textContent += delta.content;
          const p = chunk.polpo;
          if (p) {
            const detail = p.arguments !== undefined ? JSON.stringify(p.arguments) : p.content ?? p.text;
            transcript.insertBefore(toolItem(p.type, p.name, detail, p.isError), reply);
          }
        },
      });
    } catch (error) {
      ctx.say(`Chat failed: ${error.message}`);
    } finally {
      reply.removeAttribute("aria-busy");
      send.disabled = false;
      if (current && id === "new") {
        panel.sessionId = current; // the new session is this panel: its URL, without rebuilding it
        heading.textContent = "Chat";
        history.replaceState(null, "", `#/chat/${encodeURIComponent(current)}`);
      }
      refreshSessions();
      input.focus();
    }
  });

  panel = { sessionId: id, element, refreshSessions };
  refreshSessions();
  load();
  return element;
}

export function resetChat() { panel = null; }
