// The dashboard's pages: each one renders the project snapshot (and the recent events) into plain
// DOM. Every string from tasks, agents and events is set as text (textContent, setAttribute), never
// parsed as HTML. Every action is one call of the public API through `ctx.act`.

import { createDag, duration, el, layoutTasks, spendText, taskState } from "./dag.js";

const ACTIVE = new Set(["active", "paused"]);
const RESUMABLE = new Set(["paused", "failed", "cancelled"]);
/** Resumable now: paused or ended, or active with no live process running it (live.js marks it). */
const resumable = (m) => RESUMABLE.has(m.status) || (m.status === "active" && m.pauseReason === "interrupted");

function link(href, text, attrs = {}) { return el("a", { href, ...attrs }, text); }

function pill(status) { return el("span", { class: `ui-pill ui-status-${status}`, "data-status": status }, (status || "").replace(/_/g, " ")); }

function button(label, onClick, attrs = {}) {
  const b = el("button", { type: "button", class: "ui-btn", ...attrs }, label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await onClick(); } finally { b.disabled = false; }
  });
  return b;
}

function section(title, ...children) {
  const s = el("section", { class: "ui-section" });
  s.append(el("h2", {}, title), ...children.filter(Boolean));
  return s;
}

function field(label, value) {
  if (value === undefined || value === null || value === "") return null;
  const row = el("div", { class: "ui-field" });
  row.append(el("span", { class: "ui-label" }, label), el("span", { class: "ui-value" }, String(value)));
  return row;
}

/** `2026-12-01T03:00:00.123Z` -> `2026-12-01 03:00:00 UTC` (the store's times are UTC). */
export function when(ts) {
  if (!ts) return "";
  const text = String(ts).replace("T", " ").replace(/\.\d+(?=Z?$)/, "");
  return text.endsWith("Z") ? `${text.slice(0, -1)} UTC` : text;
}

export function missionTasks(state, missionId) {
  return state.tasks.filter((t) => t.missionId === missionId).sort((a, b) => (a.seq || 0) - (b.seq || 0));
}

function progress(tasks) {
  const done = tasks.filter((t) => t.status === "done").length;
  const failed = tasks.filter((t) => t.status === "failed").length;
  const bar = el("div", { class: "ui-progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(tasks.length), "aria-valuenow": String(done) });
  const ok = el("div", { class: "ui-progress-done" });
  const bad = el("div", { class: "ui-progress-failed" });
  ok.style.width = `${tasks.length ? (100 * done) / tasks.length : 0}%`;
  bad.style.width = `${tasks.length ? (100 * failed) / tasks.length : 0}%`;
  bar.append(ok, bad);
  const wrap = el("div", { class: "ui-progress-cell" });
  wrap.append(bar, el("span", { class: "ui-progress-text" }, `${done}/${tasks.length} done` + (failed ? ` · ${failed} failed` : "")));
  return wrap;
}

/** What waits for a person: tasks awaiting approval, paused missions. */
export function inbox(state) {
  return {
    tasks: state.tasks.filter((t) => t.status === "awaiting_approval"),
    missions: state.missions.filter((m) => m.status === "paused"),
  };
}

// -- missions -----------------------------------------------------------------------------------------

export function missionsPage(ctx) {
  const { state } = ctx;
  if (!state.missions.length) return section("Missions", el("p", { class: "ui-empty" }, "No missions yet."));
  const table = el("table", { class: "ui-table", id: "missions" });
  const head = el("tr");
  for (const h of ["Mission", "Status", "Progress", "Schedule", "Next run", "Paused because"]) head.append(el("th", { scope: "col" }, h));
  table.append(el("thead"), el("tbody"));
  table.tHead.append(head);
  for (const m of state.missions) {
    const tasks = missionTasks(state, m.id);
    const row = el("tr", { "data-mission-id": m.id, "data-status": m.status });
    const name = el("td", { class: "ui-mission-name" });
    name.append(link(`#/missions/${encodeURIComponent(m.id)}`, m.name));
    const status = el("td");
    status.append(pill(m.status));
    const prog = el("td");
    prog.append(progress(tasks));
    const pause = m.status === "paused" ? [m.pauseReason, m.pauseMessage].filter(Boolean).join(": ") : "";
    row.append(name, status, prog, el("td", {}, m.schedule || "—"), el("td", {}, when(m.nextRunAt) || "—"),
      el("td", { class: "ui-pause" }, pause));
    table.tBodies[0].append(row);
  }
  return section("Missions", table);
}

// -- one mission --------------------------------------------------------------------------------------

let drawn = null; // {missionId, dag, canvas}: the DAG survives repaints of its page
let confirmingAbort = null; // the mission whose Abort asks "really?" now

function holds(ctx, mission, tasks) {
  const byTitle = new Map(tasks.map((t) => [t.title, t]));
  const list = el("ul", { class: "ui-holds" });
  const waiting = mission.status === "paused" && mission.pauseReason === "checkpoint";
  const lastWaiting = [...ctx.events].reverse().find((e) => e.event === "checkpoint:waiting" && e.data.missionId === mission.id);
  for (const cp of mission.checkpoints || []) {
    const reached = cp.afterTasks.every((t) => (byTitle.get(t) || {}).status === "done");
    const isWaiting = waiting && (!lastWaiting || lastWaiting.data.checkpoint === cp.name);
    const state = isWaiting ? "waiting" : reached ? "passed" : "pending";
    const li = el("li", { class: "ui-hold", "data-kind": "checkpoint", "data-state": state });
    li.append(el("strong", {}, `Checkpoint ${cp.name}`), el("span", {}, ` after ${cp.afterTasks.join(", ")}: `), pill(state));
    if (cp.message) li.append(el("div", { class: "ui-muted" }, cp.message));
    list.append(li);
  }
  for (const [i, gate] of (mission.qualityGates || []).entries()) {
    const after = gate.afterTasks.map((t) => byTitle.get(t) || {});
    const met = after.every((t) => t.status === "done" && (t.assessment?.score ?? 5) >= (gate.minScore ?? 0)
      && (!gate.requireAllPassed || t.assessment?.passed !== false));
    const blocked = mission.status === "paused" && mission.pauseReason === "gate";
    const state = met ? "passed" : blocked ? "blocked" : "pending";
    const li = el("li", { class: "ui-hold", "data-kind": "gate", "data-state": state });
    li.append(el("strong", {}, `Gate ${gate.name || i + 1}`),
      el("span", {}, ` after ${gate.afterTasks.join(", ")} (min score ${gate.minScore ?? "—"}), blocks ${(gate.blocksTasks || []).join(", ")}: `), pill(state));
    list.append(li);
  }
  return list.children.length ? section("Gates and checkpoints", list) : null;
}

function missionActions(ctx, mission) {
  const bar = el("div", { class: "ui-actions" });
  const id = encodeURIComponent(mission.id);
  if (!ACTIVE.has(mission.status)) {
    bar.append(button("Execute", () => ctx.act("POST", `missions/${id}/execute`, undefined, "Execute"), { class: "ui-btn ui-primary" }));
  }
  if (resumable(mission)) {
    const box = el("input", { type: "checkbox", id: "retry-failed", "data-key": `retry-${mission.id}` });
    if (mission.status === "failed") box.checked = true;
    const label = el("label", { for: "retry-failed" });
    label.append(box, document.createTextNode(" retry failed"));
    bar.append(label, button("Resume", () => ctx.act("POST", `missions/${id}/resume`, { retryFailed: box.checked }, "Resume"), { class: "ui-btn ui-primary" }));
  }
  if (ACTIVE.has(mission.status)) {
    // the question survives repaints (the page is redrawn on every change of the mission)
    const asking = confirmingAbort === mission.id;
    const abort = el("button", { type: "button", class: "ui-btn ui-danger" }, "Abort");
    const confirmBox = el("span", { class: "ui-confirm" });
    const yes = button("Confirm abort", async () => {
      confirmingAbort = null;
      await ctx.act("POST", `missions/${id}/abort`, undefined, "Abort");
    }, { class: "ui-btn ui-danger" });
    const no = el("button", { type: "button", class: "ui-btn" }, "Cancel");
    confirmBox.append(el("span", {}, "Abort this mission? Running tasks are stopped. "), yes, no);
    abort.hidden = asking;
    confirmBox.hidden = !asking;
    abort.addEventListener("click", () => { confirmingAbort = mission.id; abort.hidden = true; confirmBox.hidden = false; no.focus(); });
    no.addEventListener("click", () => { confirmingAbort = null; abort.hidden = false; confirmBox.hidden = true; abort.focus(); });
    bar.append(abort, confirmBox);
  }
  return bar;
}

export function missionPage(ctx, missionId) {
  const mission = ctx.state.missions.find((m) => m.id === missionId || m.name === missionId);
  if (!mission) return section("Mission", el("p", { class: "ui-empty" }, `No mission ${missionId}.`));
  const tasks = missionTasks(ctx.state, mission.id);
  if (!drawn || drawn.missionId !== mission.id) {
    const canvas = el("div", { class: "polpo-canvas ui-dag", "aria-label": "Task graph" });
    drawn = { missionId: mission.id, canvas, dag: createDag(canvas, { onSelect: (id) => ctx.go(`#/tasks/${encodeURIComponent(id)}`) }) };
  }
  const graph = layoutTasks(tasks);
  if (graph.rev !== drawn.dag.rev) drawn.dag.setGraph(graph);
  const states = Object.fromEntries(tasks.map((t) => [t.id, taskState(t)]));
  drawn.dag.paint(states, Date.now());
  drawn.states = states;

  const head = el("div", { class: "ui-title-row" });
  head.append(el("h1", { class: "ui-mission-title" }, mission.name), pill(mission.status));
  const out = [head];
  if (mission.pauseMessage || mission.error) out.push(el("p", { class: "ui-pause-message", role: "status" }, mission.pauseMessage || mission.error));
  out.push(missionActions(ctx, mission), progress(tasks));
  const graphBox = el("div", { class: "polpo-widget ui-graph" });
  graphBox.append(drawn.canvas);
  out.push(section("Tasks", graphBox, taskTable(tasks)));
  out.push(holds(ctx, mission, tasks));
  out.push(spendSection(ctx, mission, tasks));
  out.push(section("Details", field("schedule", mission.schedule), field("next run", when(mission.nextRunAt)),
    field("executions", mission.executionCount), field("quality threshold", mission.qualityThreshold),
    field("prompt", mission.prompt)));
  const box = el("div", { class: "ui-page", "data-mission-id": mission.id, "data-status": mission.status });
  box.append(...out.filter(Boolean));
  return box;
}

// -- what the mission spent (GET missions/:id/usage), read again whenever its records change -------------

let spent = { key: null, data: null };

function spendSection(ctx, mission, tasks) {
  const key = [mission.id, mission.status, mission.updatedAt, ...tasks.map((t) => `${t.status}${t.updatedAt}`)].join("|");
  const box = section("Spend");
  box.classList.add("ui-spend");
  const fill = (usage) => {
    box.replaceChildren(box.firstChild);
    const t = usage && usage.total;
    if (!t || !t.requests) {
      box.append(el("p", { class: "ui-empty" }, "No model calls yet."));
      return;
    }
    box.setAttribute("data-tokens", String(t.totalTokens));
    box.append(...[el("p", { class: "ui-spend-total" }, spendText({ tokens: t.totalTokens, usd: t.costUsd, unpriced: t.unpricedRequests })),
      field("tokens", `in ${t.inputTokens.toLocaleString("en-US")}, out ${t.outputTokens.toLocaleString("en-US")}, cached ${t.cachedTokens.toLocaleString("en-US")}`),
      field("requests", t.requests), field("tool calls", t.toolCalls), field("time", duration(t.durationMs)),
      field("budget", (usage.budgetUsed || []).map((b) => `${b.limit} ${Number(b.used).toLocaleString("en-US")} of ${Number(b.max).toLocaleString("en-US")}`).join(", ")),
      field("by agent", (usage.byAgent || []).map((a) => `${a.label || a.key}: ${spendText({ tokens: a.totalTokens, usd: a.costUsd, unpriced: a.unpricedRequests })}`).join("; "))].filter(Boolean));
  };
  if (spent.key === key) fill(spent.data);
  else {
    fill(spent.key && spent.key.startsWith(`${mission.id}|`) ? spent.data : null);
    spent.key = key;
    ctx.read(`missions/${encodeURIComponent(mission.id)}/usage`).then((usage) => {
      if (spent.key !== key) return; // a newer read is on its way
      spent.data = usage;
      fill(usage);
    }, () => {});
  }
  return box;
}

/** Repaint the running clocks of the mission page's DAG (once a second). */
export function tick() { if (drawn && drawn.states && drawn.canvas.isConnected) drawn.dag.tickRunning(drawn.states, Date.now()); }

function taskTable(tasks) {
  const table = el("table", { class: "ui-table ui-tasks" });
  const head = el("tr");
  for (const h of ["Task", "Agent", "Status", "Score"]) head.append(el("th", { scope: "col" }, h));
  table.append(el("thead"), el("tbody"));
  table.tHead.append(head);
  for (const t of tasks) {
    const row = el("tr", { "data-task-id": t.id, "data-status": t.status });
    const name = el("td");
    name.append(link(`#/tasks/${encodeURIComponent(t.id)}`, t.title));
    const status = el("td");
    status.append(pill(t.status));
    const score = t.assessment && t.assessment.score !== null && t.assessment.score !== undefined ? Number(t.assessment.score).toFixed(1) : "";
    row.append(name, el("td", {}, t.assignTo || ""), status, el("td", {}, score));
    table.tBodies[0].append(row);
  }
  return table;
}

// -- approvals inbox ----------------------------------------------------------------------------------

function decision(ctx, task) {
  const id = encodeURIComponent(task.id);
  const note = el("input", { type: "text", class: "ui-note", "data-key": `note-${task.id}`, "aria-label": `Note for ${task.title}`, placeholder: "note (optional)" });
  const body = () => (note.value.trim() ? { note: note.value.trim() } : {});
  const box = el("span", { class: "ui-decision" });
  box.append(note,
    button("Approve", () => ctx.act("POST", `tasks/${id}/approve`, body(), "Approve"), { class: "ui-btn ui-primary", "aria-label": `Approve ${task.title}` }),
    button("Reject", () => ctx.act("POST", `tasks/${id}/reject`, body(), "Reject"), { class: "ui-btn ui-danger", "aria-label": `Reject ${task.title}` }));
  return box;
}

export function inboxPage(ctx) {
  const { tasks, missions } = inbox(ctx.state);
  const names = new Map(ctx.state.missions.map((m) => [m.id, m.name]));
  const out = [];
  const taskList = el("ul", { class: "ui-inbox", id: "inbox-tasks" });
  for (const t of tasks) {
    const li = el("li", { class: "ui-inbox-item", "data-task-id": t.id });
    const what = el("span", { class: "ui-inbox-what" });
    what.append(link(`#/tasks/${encodeURIComponent(t.id)}`, t.title), el("span", { class: "ui-muted" }, ` · ${names.get(t.missionId) || "no mission"} · ${t.assignTo || ""}`));
    li.append(what, decision(ctx, t));
    taskList.append(li);
  }
  out.push(section(`Tasks awaiting approval (${tasks.length})`, tasks.length ? taskList : el("p", { class: "ui-empty" }, "Nothing to approve.")));
  const missionList = el("ul", { class: "ui-inbox", id: "inbox-missions" });
  for (const m of missions) {
    const li = el("li", { class: "ui-inbox-item", "data-mission-id": m.id });
    const what = el("span", { class: "ui-inbox-what" });
    what.append(link(`#/missions/${encodeURIComponent(m.id)}`, m.name),
      el("span", { class: "ui-muted" }, ` · paused (${m.pauseReason || "paused"})` + (m.pauseMessage ? `: ${m.pauseMessage}` : "")));
    li.append(what, button("Resume", () => ctx.act("POST", `missions/${encodeURIComponent(m.id)}/resume`, {}, "Resume"), { class: "ui-btn ui-primary", "aria-label": `Resume ${m.name}` }));
    missionList.append(li);
  }
  out.push(section(`Paused missions (${missions.length})`, missions.length ? missionList : el("p", { class: "ui-empty" }, "No mission is waiting.")));
  const box = el("div", { class: "ui-page" });
  box.append(...out);
  return box;
}

// -- one task -----------------------------------------------------------------------------------------

const previews = new Map(); // path -> text shown: an open preview stays open when the page is redrawn

function fileRow(ctx, path) {
  const li = el("li", { class: "ui-file" });
  const preview = el("pre", { class: "ui-pre", hidden: "" });
  if (previews.has(path)) {
    preview.textContent = previews.get(path);
    preview.hidden = false;
  }
  const q = encodeURIComponent(path);
  li.append(el("code", {}, path), " ",
    button("Preview", async () => {
      try {
        const p = await ctx.read(`files/preview?path=${q}`);
        previews.set(path, p.content ?? `(${p.type || "binary"} file: use Download)`);
        preview.textContent = previews.get(path);
        preview.hidden = false;
        // the page was drawn again while the preview was read (an event): draw the page shown now with it
        if (!preview.isConnected) ctx.repaint();
      } catch (error) { ctx.say(`Preview failed: ${error.message}`); }
    }, { "aria-label": `Preview ${path}` }),
    button("Download", () => ctx.download(`files/read?path=${q}&download=1`, path.split("/").pop()), { "aria-label": `Download ${path}` }),
    preview);
  return li;
}

export function taskPage(ctx, taskId) {
  const t = ctx.state.tasks.find((x) => x.id === taskId);
  if (!t) return section("Task", el("p", { class: "ui-empty" }, `No task ${taskId}.`));
  const id = encodeURIComponent(t.id);
  const mission = ctx.state.missions.find((m) => m.id === t.missionId);
  const head = el("div", { class: "ui-title-row" });
  head.append(el("h1", { class: "ui-task-title" }, t.title), pill(t.status));
  const out = [head];
  if (mission) {
    const back = el("p");
    back.append("Mission ", link(`#/missions/${encodeURIComponent(mission.id)}`, mission.name));
    out.push(back);
  }
  const actions = el("div", { class: "ui-actions" });
  if (t.status === "awaiting_approval") actions.append(decision(ctx, t));
  if (t.status === "failed") actions.append(button("Retry", () => ctx.act("POST", `tasks/${id}/retry`, undefined, "Retry")));
  if (["pending", "assigned", "in_progress", "review"].includes(t.status)) actions.append(button("Kill", () => ctx.act("POST", `tasks/${id}/kill`, undefined, "Kill"), { class: "ui-btn ui-danger" }));
  // a result to judge again: not the error of an agent that raised (or of a skip), which the API refuses
  if (t.result && !t.result.error && ["done", "failed"].includes(t.status)) actions.append(button("Reassess", () => ctx.act("POST", `tasks/${id}/reassess`, undefined, "Reassess")));
  out.push(actions);
  const r = t.result || {};
  out.push(section("Task", field("agent", t.assignTo), field("notebook", t.notebook), field("phase", t.phase), field("retries", `${t.retries} (at most ${t.maxRetries} automatic)`),
    field("model", r.model), field("duration", r.durationMs !== undefined && r.durationMs !== null ? duration(r.durationMs) : ""),
    field("created", when(t.createdAt)), field("updated", when(t.updatedAt)),
    t.description ? el("pre", { class: "ui-pre" }, t.description) : null));

  const history = el("ol", { class: "ui-history" });
  for (const e of ctx.events) {
    if (e.event !== "task:transition" || e.data.taskId !== t.id) continue;
    history.append(el("li", {}, `${when(e.data.timestamp)}  ${e.data.from} → ${e.data.to}` + (e.data.reason ? ` (${e.data.reason})` : "")));
  }
  out.push(section("Status history", history.children.length ? history : el("p", { class: "ui-empty" }, "No transition in the recent events.")));

  const a = t.assessment;
  if (a) {
    const rows = el("table", { class: "ui-table ui-assessment" });
    const head2 = el("tr");
    for (const h of ["Expectation", "Score / result", "Feedback"]) head2.append(el("th", { scope: "col" }, h));
    rows.append(el("thead"), el("tbody"));
    rows.tHead.append(head2);
    for (const c of a.criteria || []) rows.tBodies[0].append(tr(c.criterion, `${c.score} / 5`, c.feedback));
    for (const c of a.checks || []) rows.tBodies[0].append(tr(`${c.type} ${c.target || ""}`.trim(), c.passed ? "passed" : "failed", c.message));
    out.push(section("Assessment", field("score", a.score !== null && a.score !== undefined ? `${a.score} (${a.passed ? "passed" : "failed"})` : (a.passed ? "passed" : "failed")),
      field("threshold", a.threshold), rows.tBodies[0].children.length ? rows : null, a.feedback ? el("pre", { class: "ui-pre" }, a.feedback) : null));
  }
  if (r.content || r.error) {
    out.push(section("Result", r.content ? el("pre", { class: "ui-pre ui-result" }, r.content) : null,
      r.error ? el("pre", { class: "ui-pre ui-error" }, r.error) : null));
  }
  if ((r.filesCreated || []).length) {
    const files = el("ul", { class: "ui-files" });
    for (const path of r.filesCreated) files.append(fileRow(ctx, path));
    out.push(section("Files created", files));
  }
  if (t.notebook) out.push(executedNotebook(ctx, t));
  out.push(taskLog(ctx, t));
  const box = el("div", { class: "ui-page", "data-task-id": t.id, "data-status": t.status });
  box.append(...out.filter(Boolean));
  return box;
}

const executed = new Map(); // task id -> {key, element}: looked up once per version of the task

/** A notebook task's latest executed copy, found in `.polpo/outputs/` (`<taskId>-<attempt>.ipynb`): a
 * failed, timed-out or killed attempt's too, whose result lists no file. Preview and download it. */
function executedNotebook(ctx, t) {
  const key = `${t.id}@${t.updatedAt}`;
  const cached = executed.get(t.id);
  if (cached && cached.key === key) return cached.element;
  const element = section("Executed notebook", el("p", { class: "ui-empty" }, "looking…"));
  executed.set(t.id, { key, element });
  const attempt = (name) => {
    const m = /^(.+)-(\d+)\.ipynb$/.exec(name);
    return m && m[1] === t.id ? Number(m[2]) : 0;
  };
  (async () => {
    let entries = [];
    try {
      entries = (await ctx.read("files/list?path=.polpo%2Foutputs")).entries;
    } catch (error) { /* no notebook task has run yet: no such folder */ }
    const latest = entries.filter((e) => attempt(e.name)).sort((a, b) => attempt(a.name) - attempt(b.name)).at(-1);
    if (!latest) { element.lastChild.textContent = "Not run yet."; return; }
    const files = el("ul", { class: "ui-files ui-executed" });
    files.append(fileRow(ctx, latest.path));
    element.replaceChildren(element.firstChild, el("p", { class: "ui-muted" }, `attempt ${attempt(latest.name)}`), files);
  })();
  return element;
}

const logs = new Map(); // task id -> {key, element}: loaded once per version of the task, kept across repaints

/** The task's log sessions (one per attempt), the latest one's entries shown. */
function taskLog(ctx, t) {
  const key = `${t.id}@${t.updatedAt}`;
  const cached = logs.get(t.id);
  if (cached && cached.key === key) return cached.element;
  const element = section("Log", el("p", { class: "ui-empty" }, "loading…"));
  logs.set(t.id, { key, element });
  (async () => {
    try {
      const sessions = (await ctx.read("logs")).filter((s) => s.taskId === t.id);
      if (!sessions.length) { element.lastChild.textContent = "No log for this task."; return; }
      const latest = sessions.sort((a, b) => String(a.startedAt).localeCompare(String(b.startedAt))).at(-1);
      const entries = await ctx.read(`logs/${encodeURIComponent(latest.sessionId)}`);
      const list = el("ol", { class: "ui-log", "data-session-id": latest.sessionId });
      for (const e of entries) list.append(el("li", { "data-level": e.level }, `${when(e.timestamp)}  ${e.level}  ${e.message}`));
      const note = el("p", { class: "ui-muted" }, `Session ${latest.sessionId} (${sessions.length} attempt${sessions.length > 1 ? "s" : ""} logged)`);
      element.replaceChildren(element.firstChild, note, list);
    } catch (error) { element.lastChild.textContent = `Log: ${error.message}`; }
  })();
  return element;
}

function tr(...cells) {
  const row = el("tr");
  for (const c of cells) row.append(el("td", {}, c || ""));
  return row;
}

// -- events -------------------------------------------------------------------------------------------

export function eventsPage(ctx) {
  const filter = el("input", { type: "search", id: "event-filter", "data-key": "event-filter", "aria-label": "Filter events by name (globs, comma separated)", placeholder: "task:*, mission:*" });
  filter.value = ctx.eventFilter || "";
  const list = el("ol", { class: "ui-events", id: "events" });
  const globs = (ctx.eventFilter || "").split(",").map((g) => g.trim()).filter(Boolean)
    .map((g) => new RegExp("^" + g.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$"));
  const shown = ctx.events.filter((e) => !globs.length || globs.some((re) => re.test(e.event))).slice(-300).reverse();
  for (const e of shown) {
    const li = el("li", { "data-event": e.event });
    li.append(el("span", { class: "ui-muted" }, `evt_${String(e.id).padStart(5, "0")} `), el("strong", {}, e.event), el("span", {}, " " + JSON.stringify(e.data)));
    list.append(li);
  }
  filter.addEventListener("input", () => ctx.setEventFilter(filter.value));
  return section("Events", filter, list);
}
