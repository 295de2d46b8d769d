// The dashboard's shell: credentials, the project, the router (#/missions, #/missions/ID, #/inbox,
// #/tasks/ID, #/chat[/SESSION], #/agents, #/memory, #/files[/PATH], #/events, #/keys), the live connection,
// and repaints that keep what the user is typing.

import { ApiError, blob, call, getKey, setKey } from "./api.js";
import { Live } from "./live.js";
import { chatPage, resetChat } from "./chat.js";
import { eventsPage, inbox, inboxPage, missionPage, missionsPage, taskPage, tick } from "./pages.js";
import { agentsPage, filesPage, forget, keysPage, memoryPage } from "./project.js";

const $ = (id) => document.getElementById(id);
const main = $("main");
const notice = $("notice");
const keyForm = $("key-form");
const keyMessage = $("key-message");
let live = null;
let eventFilter = "";

function say(text) { notice.textContent = text || ""; notice.hidden = !text; }

function route() {
  const [page, ...rest] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  return { page: page || "missions", id: rest.join("/") };
}

const ctx = {
  get state() { return live.state; },
  get events() { return live.events; },
  get eventFilter() { return eventFilter; },
  get base() { return live.base; },
  say,
  setEventFilter(value) { eventFilter = value; render(); },
  repaint() { render(); },
  go(hash) { location.hash = hash; },
  async act(method, path, body, label) {
    try {
      say("");
      return await live.act(method, path, body);
    } catch (error) {
      say(`${label} failed: ${error.message}`);
      if (error.status === 401) askKey("The server refused the key (401): enter it again.");
    }
  },
  read(path) { return call("GET", live.base + path); },
  async download(path, name) {
    try {
      const data = await blob(live.base + path);
      const a = document.createElement("a");
      a.href = URL.createObjectURL(data);
      a.download = name; // saved, never opened as a page of this origin
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (error) { say(`Download failed: ${error.message}`); }
  },
};

/** What identifies a control across repaints: its data-key, a button's name, a link's target. */
function identity(node) {
  if (!node || !main.contains(node)) return null;
  if (node.hasAttribute("data-key")) return `key:${node.getAttribute("data-key")}`;
  if (node.tagName === "BUTTON") return `button:${node.getAttribute("aria-label") || node.textContent}`;
  if (node.tagName === "A") return `a:${node.getAttribute("href")}`;
  return null;
}

// A press (pointer down, then up; or Space down, then up on a focused button) that spans a repaint
// clicks nothing: the button it began on is gone when it ends (the focus moves to its successor, which
// never saw the key go down). So a repaint waits for the press to end, `aria-busy` on the page
// meanwhile, HOLD_MS at most (a press dragged out of the window may never be seen to end).
const HOLD_MS = 2000;
let pressed = false;
let held = null; // while a repaint waits: the timer that makes it anyway
const isSpace = (e) => e.key === " " || e.key === "Spacebar";

main.addEventListener("pointerdown", () => { pressed = true; });
main.addEventListener("keydown", (e) => { if (isSpace(e)) pressed = true; });
for (const name of ["pointerup", "pointercancel"]) window.addEventListener(name, () => released(), true);
window.addEventListener("keyup", (e) => { if (isSpace(e)) released(); }, true);
window.addEventListener("blur", (e) => { if (e.target === window) released(); }); // the window's, not a control's

function released() {
  pressed = false;
  if (held === null) return;
  clearTimeout(held);
  held = null;
  setTimeout(render, 0); // after the press's click, which follows its pointerup (or keyup)
}

/** Repaint the current page, keeping focus (keyboard users stay where they were) and typed values. */
function render() {
  if (!live || !live.state) return;
  if (pressed) {
    if (held === null) held = setTimeout(released, HOLD_MS);
    main.setAttribute("aria-busy", "true");
    return;
  }
  main.removeAttribute("aria-busy");
  const focused = identity(document.activeElement);
  const fields = "input[data-key], textarea[data-key], select[data-key]";
  const values = new Map([...main.querySelectorAll(fields)].map((i) => [i.getAttribute("data-key"), i.type === "checkbox" ? i.checked : i.value]));
  const { page, id } = route();
  const view = page === "missions" && id ? missionPage(ctx, id) : page === "missions" ? missionsPage(ctx)
    : page === "inbox" ? inboxPage(ctx) : page === "tasks" && id ? taskPage(ctx, id) : page === "events" ? eventsPage(ctx)
    : page === "chat" ? chatPage(ctx, id) : page === "agents" ? agentsPage(ctx) : page === "memory" ? memoryPage(ctx)
    : page === "files" ? filesPage(ctx, id) : page === "keys" ? keysPage(ctx) : missionsPage(ctx);
  if (main.firstChild !== view) main.replaceChildren(view);
  for (const input of main.querySelectorAll(fields)) {
    const key = input.getAttribute("data-key");
    if (values.has(key)) { if (input.type === "checkbox") input.checked = values.get(key); else input.value = values.get(key); }
  }
  if (focused && identity(document.activeElement) !== focused) {
    const again = [...main.querySelectorAll("[data-key], button, a")].find((node) => identity(node) === focused);
    if (again) again.focus();
  }
  for (const a of document.querySelectorAll("#pages a")) {
    if (a.getAttribute("href") === `#/${page}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const waiting = inbox(live.state);
  const count = waiting.tasks.length + waiting.missions.length;
  $("inbox-count").textContent = count ? String(count) : "";
  document.title = `${count ? `(${count}) ` : ""}Polpo · ${live.state.project.name}`;
}

function askKey(message) {
  if (live) live.close();
  live = null;
  keyMessage.textContent = message;
  keyForm.hidden = false;
  main.replaceChildren();
  $("key").focus();
}

async function start() {
  keyForm.hidden = true;
  say("");
  let projects;
  try {
    projects = await call("GET", "api/v1/projects");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      const hadKey = Boolean(getKey());
      setKey("");
      askKey(hadKey ? "That key was refused (401 Unauthorized): check it and enter it again."
        : "This server needs its API key (or the Jupyter token).");
    } else {
      say(`Cannot reach the server: ${error.message}`);
    }
    return;
  }
  $("forget-key").hidden = !getKey(); // on Jupyter the session cookie is the credential
  // the project: `?project=ID` in the page's address (kept on reload), else the first (the server's root)
  const wanted = new URLSearchParams(location.search).get("project");
  const project = projects.find((p) => p.id === wanted) || projects[0];
  const picker = $("project");
  picker.replaceChildren(...projects.map((p) => {
    const option = document.createElement("option");
    option.value = p.id;
    option.textContent = p.name;
    option.selected = p.id === project.id;
    return option;
  }));
  picker.disabled = projects.length < 2;
  live = new Live(project.id, {
    onState: render,
    onEvents: () => { if (route().page === "events" || route().page === "tasks") render(); },
    onConnection: (status) => { $("connection").textContent = status; $("connection").setAttribute("data-state", status); },
    onError: (error) => {
      if (error.status === 401) askKey("The server refused the key (401): enter it again.");
      else say(error.message);
    },
  });
  try {
    await live.start();
  } catch (error) {
    if (error.status === 401) askKey("That key was refused (401 Unauthorized): check it and enter it again.");
    else say(`Cannot load the project: ${error.message}`);
  }
}

// a Jupyter login link (`?token=...`) has done its work once the page loaded: keep it out of the address bar
const params = new URLSearchParams(location.search);
if (params.has("token")) {
  params.delete("token");
  history.replaceState(null, "", location.pathname + (params.size ? `?${params}` : "") + location.hash);
}
$("project").addEventListener("change", (e) => {
  location.search = `?project=${encodeURIComponent(e.target.value)}`; // a new page load, on that project
});

keyForm.addEventListener("submit", (e) => {
  e.preventDefault();
  setKey($("key").value.trim());
  $("key").value = "";
  start();
});
$("forget-key").addEventListener("click", () => { setKey(""); askKey("Key forgotten for this tab."); });
window.addEventListener("hashchange", () => {
  forget(""); // a page opened anew loads anew (memory, files)
  resetChat(); // (a new chat names its session with replaceState, which is no hashchange)
  render();
});
setInterval(tick, 1000);
start();
