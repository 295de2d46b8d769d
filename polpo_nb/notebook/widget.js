// polpo-nb mission widget: the live DAG of a mission run (anywidget front-end, no dependencies).
//
// Two model traits: `graph` (nodes with their positions, edges; changes only when tasks are added or
// removed) and `state` (statuses, scores, retries, durations, progress, last events). The DAG itself is
// drawn by dag.js (shared with the dashboard; widget.py inlines it, so the import line below is for
// browsers loading these files as they are): the SVG is built once per graph revision and then only
// repainted. User strings (titles, outputs, feedback) are only ever set with textContent or
// setAttribute, never parsed as HTML.

import { createDag, duration, el, spendText } from "./dag.js";

function render({ model, el: host }) {
  const started = performance.now();
  const root = el("div", { class: "polpo-widget" });
  const header = el("div", { class: "polpo-header" });
  const name = el("strong", { class: "polpo-name" });
  const pill = el("span", { class: "polpo-pill" });
  const summary = el("span", { class: "polpo-summary" });
  const spacer = el("span", { class: "polpo-spacer" });
  const retryBox = el("input", { type: "checkbox", class: "polpo-retry-failed" });
  const retryLabel = el("label", { class: "polpo-retry-label" });
  retryLabel.append(retryBox, document.createTextNode(" retry failed"));
  const resumeBtn = el("button", { class: "polpo-btn polpo-resume", type: "button" }, "Resume");
  const abortBtn = el("button", { class: "polpo-btn polpo-danger polpo-abort", type: "button" }, "Abort");
  header.append(name, pill, summary, spacer, retryLabel, resumeBtn, abortBtn);
  const message = el("div", { class: "polpo-message" });
  const notice = el("div", { class: "polpo-notice" });
  const bar = el("div", { class: "polpo-progress" });
  const barDone = el("div", { class: "polpo-progress-done" });
  const barFailed = el("div", { class: "polpo-progress-failed" });
  bar.append(barDone, barFailed);
  const approvals = el("div", { class: "polpo-approvals" });
  const body = el("div", { class: "polpo-body" });
  const canvas = el("div", { class: "polpo-canvas" });
  const detail = el("div", { class: "polpo-detail" });
  body.append(canvas, detail);
  const events = el("ol", { class: "polpo-events" });
  root.append(header, message, notice, bar, approvals, body, events);
  host.appendChild(root);

  const dag = createDag(canvas, { onSelect: (id) => select(id) });
  let selected = null;
  let received = Date.now();
  let abortArmed = null;
  let rerunBtn = null; // the open detail panel's "Re-run from here", shown while the mission is settled
  const busy = new Set(); // buttons waiting for the next state

  function send(msg) {
    model.send(msg);
  }

  function buildGraph(graph) {
    dag.setGraph(graph);
    // the DAG asks for its whole width: the detail panel goes beside it when there is room, else below
    canvas.style.flexBasis = `${(graph.width || 0) + 2}px`;
    if (selected && !dag.nodes.has(selected)) selected = null;
  }

  function button(label, cls, onClick) {
    const b = el("button", { class: `polpo-btn ${cls}`, type: "button" }, label);
    b.addEventListener("click", () => {
      b.disabled = true;
      busy.add(b);
      onClick();
    });
    return b;
  }

  // A task's row stays while it awaits approval, rather than being built again at every state: a press on
  // its button that spans an update of another task must still click it.
  function approvalRow(node) {
    const row = el("div", { class: "polpo-approval", "data-task-id": node.id });
    row.append(
      el("span", { class: "polpo-approval-title" }, node.title),
      el("span", { class: "polpo-approval-text" }, " awaits approval "),
      button("Approve", "polpo-approve", () => send({ action: "approve", taskId: node.id })),
      button("Reject", "polpo-danger polpo-reject", () => send({ action: "reject", taskId: node.id })),
    );
    row.querySelector(".polpo-approve").setAttribute("data-task-id", node.id);
    row.querySelector(".polpo-reject").setAttribute("data-task-id", node.id);
    return row;
  }

  function paintApprovals(state) {
    const graph = model.get("graph") || {};
    const shown = [...approvals.children];
    const kept = new Map(shown.map((row) => [row.getAttribute("data-task-id"), row]));
    const rows = [];
    for (const node of graph.nodes || []) {
      const task = (state.tasks || {})[node.id];
      if (!task || task.status !== "awaiting_approval") continue;
      const row = kept.get(node.id);
      rows.push(row && row.querySelector(".polpo-approval-title").textContent === node.title ? row : approvalRow(node));
    }
    if (shown.length !== rows.length || shown.some((row, i) => row !== rows[i])) approvals.replaceChildren(...rows);
  }

  function paintHeader(state) {
    const mission = state.mission || {};
    const p = state.progress || {};
    name.textContent = mission.name || "";
    pill.textContent = mission.status || "";
    root.setAttribute("data-mission-status", mission.status || "");
    let text = `${p.done || 0}/${p.total || 0} done`;
    if (p.running) text += ` · ${p.running} running`;
    if (p.awaiting) text += ` · ${p.awaiting} awaiting approval`;
    if (p.failed) text += ` · ${p.failed} failed`;
    if (p.elapsed !== null && p.elapsed !== undefined) {
      const extra = p.ticking ? (Date.now() - received) / 1000 : 0;
      text += ` · ${duration((p.elapsed + extra) * 1000)}`;
    }
    if (state.spend) text += ` · ${spendText(state.spend)}`;
    summary.textContent = text;
    const total = p.total || 1;
    barDone.style.width = `${(100 * (p.done || 0)) / total}%`;
    barFailed.style.width = `${(100 * (p.failed || 0)) / total}%`;
    message.textContent = mission.pause_message || mission.error || "";
    notice.textContent = state.notice || "";
    const status = mission.status;
    // active, but its process stopped (killed): nobody runs it, and resume takes it over here
    const orphaned = status === "active" && mission.pause_reason === "interrupted";
    const canResume = mission.id && (status === "paused" || status === "failed" || orphaned);
    resumeBtn.hidden = !canResume;
    retryLabel.hidden = !canResume;
    if (status === "failed") retryBox.checked = true;
    abortBtn.hidden = !(mission.id && (status === "active" || status === "paused"));
  }

  function rerunnable(state) {
    const mission = state.mission || {};
    return !!mission.id && ["completed", "failed", "cancelled", "paused"].includes(mission.status);
  }

  function paintEvents(state) {
    events.replaceChildren();
    for (const e of state.events || []) {
      const li = el("li", { class: "polpo-event", "data-event": e.event });
      li.append(el("span", { class: "polpo-event-time" }, e.time), el("span", { class: "polpo-event-name" }, e.event),
        el("span", { class: "polpo-event-text" }, e.text));
      events.prepend(li);
    }
  }

  function paint() {
    const graph = model.get("graph") || {};
    if (graph.rev !== dag.rev) buildGraph(graph);
    const state = model.get("state") || {};
    dag.paint(state.tasks, Date.now());
    paintHeader(state);
    paintApprovals(state);
    paintEvents(state);
    for (const b of busy) b.disabled = false;
    busy.clear();
    if (rerunBtn) rerunBtn.hidden = !rerunnable(state);
    abortBtn.textContent = "Abort";
    abortArmed = null;
    dag.select(selected);
  }

  function tick() {
    const state = model.get("state") || {};
    if ((state.progress || {}).ticking) paintHeader(state);
    dag.tickRunning(state.tasks, Date.now());
  }

  function select(id) {
    selected = id;
    dag.select(id);
    detail.replaceChildren(el("div", { class: "polpo-detail-loading" }, "loading…"));
    detail.classList.add("polpo-open");
    detail.scrollIntoView({ block: "nearest" });
    send({ action: "select", taskId: id });
  }

  function field(label, value) {
    if (value === undefined || value === null || value === "") return null;
    const row = el("div", { class: "polpo-field" });
    row.append(el("span", { class: "polpo-field-label" }, label), el("span", { class: "polpo-field-value" }, String(value)));
    return row;
  }

  // A notebook task's latest executed copy (state.tasks[id].executed, view.py's executed_link). On a Jupyter
  // page (JupyterLab, Notebook 7) whose root holds it: the copy as polpo's server extension serves it
  // (`files/read` of the server's default project, its root), upgraded to a URL that opens it in JupyterLab
  // itself once the contents API shows it can (it hides `.polpo/` unless `ContentsManager.allow_hidden`).
  // Elsewhere: its path relative to the notebook (an nbconvert'd page next to it follows that).
  function jupyterPage(executed, home) {
    const config = document.getElementById("jupyter-config-data");
    if (!config) return null;
    try {
      const page = JSON.parse(config.textContent);
      let root = String(page.serverRoot || "");
      if (home && (root === "~" || root.startsWith("~/"))) root = home.replace(/\/+$/, "") + root.slice(1);
      const prefix = root.endsWith("/") ? root : `${root}/`;
      if (!root || !executed.file.startsWith(prefix)) return null;
      const path = executed.file.slice(prefix.length).split("/").map(encodeURIComponent).join("/");
      return { base: page.baseUrl || "/", path, app: page.appName === "Jupyter Notebook" ? "notebooks" : "lab/tree" };
    } catch (error) {
      return null; // not a Jupyter page config: the relative link
    }
  }

  function executedRow(executed, home) {
    if (!executed) return null;
    const jupyter = jupyterPage(executed, home);
    const href = jupyter ? `${jupyter.base}polpo/v1/files/read?path=${jupyter.path}` : executed.href;
    if (/^[a-z][a-z0-9+.-]*:/i.test(href) && !/^https?:/i.test(href)) return null; // links to files, nothing else
    const link = el("a", { class: "polpo-field-value polpo-executed-link", href, target: "_blank", rel: "noopener",
      title: executed.path }, `📓 ${executed.path.split("/").pop()}`);
    if (jupyter) {
      fetch(`${jupyter.base}api/contents/${jupyter.path}?content=0`, { credentials: "same-origin" })
        .then((r) => { if (r.ok) link.setAttribute("href", `${jupyter.base}${jupyter.app}/${jupyter.path}`); })
        .catch(() => {}); // the served copy stays
    }
    const row = el("div", { class: "polpo-field polpo-executed" });
    row.append(el("span", { class: "polpo-field-label" }, "executed"), link);
    return row;
  }

  function showDetail(msg) {
    if (msg.taskId !== selected) return;
    const t = msg.task || {};
    const close = el("button", { class: "polpo-btn polpo-close", type: "button", title: "close" }, "×");
    close.addEventListener("click", () => {
      selected = null;
      detail.classList.remove("polpo-open");
      detail.replaceChildren();
      dag.select(null);
    });
    const items = [close, el("div", { class: "polpo-detail-title" }, t.title || t.error || "")];
    const a = t.assessment || {};
    const r = t.result || {};
    items.push(
      field("status", t.phase ? `${t.status} (${t.phase})` : t.status),
      field("agent", r.agent || t.assignTo),
      field("model", r.model),
      field("score", a.score !== undefined && a.score !== null ? `${a.score} ${a.passed ? "passed" : "failed"}` : undefined),
      field("attempts", t.attempts ? `${t.attempts}` + (t.attempts > 1 ? ` (automatic retries: up to ${t.maxRetries} a run)` : "") : undefined),
      field("duration", r.durationMs !== undefined ? duration(r.durationMs) : undefined),
      field("files", (r.filesCreated || []).join(", ")),
      field("notebook", t.notebook),
      executedRow(((model.get("state") || {}).tasks || {})[msg.taskId]?.executed, (model.get("state") || {}).home),
    );
    if (t.status === "awaiting_approval") {
      const row = el("div", { class: "polpo-detail-actions" });
      row.append(button("Approve", "polpo-approve", () => send({ action: "approve", taskId: t.id })),
        button("Reject", "polpo-danger polpo-reject", () => send({ action: "reject", taskId: t.id })));
      items.push(row);
    }
    rerunBtn = null;
    if (t.status === "done" || t.status === "failed") { // it and everything downstream of it run again
      rerunBtn = button("Re-run from here", "polpo-rerun", () => send({ action: "rerun", taskId: t.id }));
      rerunBtn.title = "Run this task and every task after it again; the results before it are kept";
      rerunBtn.hidden = !rerunnable(model.get("state") || {});
      const row = el("div", { class: "polpo-detail-actions" });
      row.append(rerunBtn);
      items.push(row);
    }
    for (const [label, text] of [["description", t.description], ["feedback", t.feedback || a.feedback], ["output", r.content], ["error", r.error]]) {
      if (!text) continue;
      items.push(el("div", { class: "polpo-field-label" }, label), el("pre", { class: "polpo-pre" }, text));
    }
    detail.replaceChildren(...items.filter(Boolean));
  }

  resumeBtn.addEventListener("click", () => {
    resumeBtn.disabled = true;
    busy.add(resumeBtn);
    send({ action: "resume", retryFailed: retryBox.checked });
  });
  abortBtn.addEventListener("click", () => {
    if (abortArmed) { // second click within 4 s confirms
      clearTimeout(abortArmed);
      abortArmed = null;
      abortBtn.disabled = true;
      busy.add(abortBtn);
      send({ action: "abort" });
      return;
    }
    abortBtn.textContent = "Really abort?";
    abortArmed = setTimeout(() => { abortBtn.textContent = "Abort"; abortArmed = null; }, 4000);
  });

  const onChange = () => {
    received = Date.now();
    paint();
  };
  const onCustom = (msg) => {
    if (msg && msg.type === "detail") showDetail(msg);
  };
  model.on("change:graph", onChange);
  model.on("change:state", onChange);
  model.on("msg:custom", onCustom);
  paint();
  const timer = setInterval(tick, 1000);
  requestAnimationFrame(() => {
    root.setAttribute("data-render-ms", (performance.now() - started).toFixed(1));
  });
  return () => {
    clearInterval(timer);
    model.off("change:graph", onChange);
    model.off("change:state", onChange);
    model.off("msg:custom", onCustom);
  };
}

export default { render };
