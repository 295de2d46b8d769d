// polpo-nb DAG renderer: the one drawing of a mission's tasks, shared by the notebook widget (widget.js,
// inlined into anywidget's module by widget.py) and the dashboard (polpo_server/static/ui, which
// imports this very file). No dependencies.
//
// A graph is {rev, nodes: [{id, title, agent, notebook?, x, y}], edges: [[from, to], ...], width, height}; the
// widget gets it from the kernel (notebook/layout.py), the dashboard computes it from the mission's
// records with `layoutTasks` (the same algorithm; tests compare the two). A task's state is
// {status, phase?, score?, passed?, attempts?, ms?, since?, reason?, tokens?, usd?, unpriced?} (view.py `task_state`, or
// `taskState` here from a TaskRecord). User strings are only ever set with textContent or
// setAttribute, never parsed as HTML.

const SVG = "http://www.w3.org/2000/svg";
export const NODE_W = 184; // keep in step with polpo_nb/notebook/layout.py
export const NODE_H = 48;
const GAP_X = 56;
const GAP_Y = 12;
const PAD = 8;
const TITLE_CHARS = 22; // static.py TITLE_CHARS
export const RUNNING = new Set(["assigned", "in_progress", "review"]);

export function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function short(text, limit = TITLE_CHARS) {
  return text.length <= limit ? text : text.slice(0, limit - 1) + "…";
}

export function duration(ms) {
  if (ms === undefined || ms === null) return "";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
}

function edgePath(a, b) {
  const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
  const mid = Math.floor((x1 + x2) / 2);
  return `M${x1} ${y1} C${mid} ${y1} ${mid} ${y2} ${x2} ${y2}`;
}

export function statusLabel(task, now) {
  // a failed task that was skipped (a dependency failed) or aborted (its mission was) says so
  let label = (task.reason || task.status).replace(/_/g, " ");
  if (task.status === "in_progress" && task.phase) label += ` · ${task.phase}`;
  if (task.ms !== undefined) label += ` · ${duration(task.ms)}`;
  else if (RUNNING.has(task.status) && task.since) label += ` · ${duration(Math.max(0, now - task.since))}`;
  // what the attempt spent: its cost, or its tokens when no price is known (never "$0")
  if (task.usd !== undefined) label += ` · $${Number(task.usd).toFixed(4)}`;
  else if (task.tokens !== undefined) label += ` · ${task.tokens.toLocaleString("en-US")} tok`;
  return label;
}

/** static.py `spend_text`: "12,345 tokens · $0.0123 · 2 unpriced calls" (a mission's or a task's spend). */
export function spendText(spend) {
  const parts = [`${spend.tokens.toLocaleString("en-US")} tokens`];
  if (spend.usd !== undefined && spend.usd !== null) parts.push(`$${Number(spend.usd).toFixed(4)}`);
  if (spend.unpriced) parts.push(`${spend.unpriced} unpriced call${spend.unpriced !== 1 ? "s" : ""}`);
  return parts.join(" · ");
}

// -- from records (the dashboard) ----------------------------------------------------------------------

/** layout.py `layered_layout`: columns by longest-path depth, rows by one barycentre sweep. */
export function layoutTasks(tasks) {
  const titles = tasks.map((t) => t.title);
  const index = new Map(titles.map((t, i) => [t, i]));
  const deps = new Map(tasks.map((t) => [t.title, (t.dependsOn || []).filter((d) => index.has(d))]));
  // Kahn's order, stable in input order (spec/graph.py topological_order), then longest-path depth
  const indegree = new Map(titles.map((t) => [t, deps.get(t).length]));
  const dependents = new Map(titles.map((t) => [t, []]));
  for (const t of titles) for (const d of deps.get(t)) dependents.get(d).push(t);
  const ready = titles.filter((t) => indegree.get(t) === 0);
  const depth = new Map();
  while (ready.length) {
    const node = ready.shift();
    depth.set(node, 1 + Math.max(-1, ...deps.get(node).filter((d) => depth.has(d)).map((d) => depth.get(d))));
    for (const child of dependents.get(node)) {
      indegree.set(child, indegree.get(child) - 1);
      if (indegree.get(child) === 0) ready.push(child);
    }
  }
  const columns = new Map();
  titles.forEach((t, i) => {
    const col = depth.get(t) || 0;
    if (!columns.has(col)) columns.set(col, []);
    columns.get(col).push(i);
  });
  const row = new Map();
  for (const col of [...columns.keys()].sort((a, b) => a - b)) {
    const members = columns.get(col);
    const bary = (i) => {
      const rows = deps.get(titles[i]).filter((d) => row.has(index.get(d))).map((d) => row.get(index.get(d)));
      return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : i;
    };
    if (col > 0) members.sort((a, b) => bary(a) - bary(b) || a - b);
    members.forEach((i, r) => row.set(i, r));
  }
  const nodes = tasks.map((t, i) => ({
    id: t.id, title: t.title, agent: t.assignTo, notebook: t.notebook || undefined,
    x: PAD + (depth.get(t.title) || 0) * (NODE_W + GAP_X), y: PAD + row.get(i) * (NODE_H + GAP_Y),
  }));
  const edges = [];
  titles.forEach((t, i) => { for (const d of deps.get(t)) edges.push([index.get(d), i]); });
  const nCols = columns.size ? Math.max(...columns.keys()) + 1 : 0;
  const nRows = Math.max(0, ...[...columns.values()].map((m) => m.length));
  return {
    rev: titles.join("\u0000") + "|" + tasks.map((t) => `${t.id}:${(t.dependsOn || []).join(",")}`).join(";"),
    nodes, edges,
    width: 2 * PAD + Math.max(0, nCols * (NODE_W + GAP_X) - GAP_X),
    height: 2 * PAD + Math.max(0, nRows * (NODE_H + GAP_Y) - GAP_Y),
  };
}

const NOT_STARTED = new Set(["draft", "pending"]);
const SETTLED = new Set(["done", "failed", "awaiting_approval"]);

/** view.py `task_state`: a TaskRecord (wire JSON) as the renderer's compact state. */
export function taskState(t) {
  const status = t.status || "draft";
  const item = { status };
  if (t.phase) item.phase = t.phase;
  const a = t.assessment;
  if (a && !NOT_STARTED.has(status)) {
    if (a.score !== null && a.score !== undefined) item.score = Math.round(a.score * 100) / 100;
    item.passed = a.passed;
  }
  const r = t.result;
  const ran = !NOT_STARTED.has(status) && (status !== "failed" || Boolean(r && r.agent));
  const attempts = (t.retries || 0) + (ran ? 1 : 0);
  if (attempts > 1) item.attempts = attempts;
  if (r && SETTLED.has(status)) {
    if (r.durationMs !== null && r.durationMs !== undefined) item.ms = Math.round(r.durationMs * 10) / 10;
    const u = r.usage;
    if (u && u.requests) {
      item.tokens = (u.inputTokens || 0) + (u.outputTokens || 0);
      if (u.costUsd !== null && u.costUsd !== undefined) item.usd = Math.round(u.costUsd * 1e6) / 1e6;
      if (u.unpricedRequests) item.unpriced = u.unpricedRequests;
    }
    const first = status === "failed" && r.error ? r.error.trim().split("\n", 1)[0].toLowerCase() : "";
    if (first.startsWith("skipped")) item.reason = "skipped";
    else if (first.includes("aborted")) item.reason = "aborted";
  }
  if (RUNNING.has(status) && t.updatedAt) item.since = Date.parse(t.updatedAt);
  return item;
}

// -- the drawing -----------------------------------------------------------------------------------------

/**
 * The DAG into `host` (replacing its children on each new graph). `onSelect(taskId)` is called on a
 * click or Enter on a node. Returns {setGraph(graph), paint(tasks, now), tickRunning(tasks, now),
 * select(id), rev}.
 */
export function createDag(host, { onSelect } = {}) {
  let nodes = new Map(); // task id -> {g, status, badges, node, last}
  let rev = Symbol("no graph yet");
  let selected = null;

  function setGraph(graph) {
    graph = graph || {};
    rev = graph.rev;
    nodes = new Map();
    const w = graph.width || 0, h = graph.height || 0;
    const drawing = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, class: "polpo-svg", role: "group" });
    const edgeLayer = svg("g", { class: "polpo-edges" });
    const nodeLayer = svg("g", { class: "polpo-nodes" });
    const list = graph.nodes || [];
    for (const [a, b] of graph.edges || []) {
      if (list[a] && list[b]) edgeLayer.appendChild(svg("path", { d: edgePath(list[a], list[b]), class: "polpo-edge" }));
    }
    for (const node of list) {
      const g = svg("g", { class: node.notebook ? "polpo-node polpo-node-notebook" : "polpo-node", "data-task-id": node.id,
        "data-status": "draft", tabindex: "0", role: "button" });
      g.appendChild(svg("title", {}, `${node.title} (${node.notebook ? `notebook ${node.notebook}` : node.agent})`));
      const rect = svg("rect", { x: node.x, y: node.y, width: NODE_W, height: NODE_H, rx: 6, class: "polpo-node-box" });
      const title = svg("text", { x: node.x + 10, y: node.y + 19, class: "polpo-node-title" },
        (node.notebook ? "📓 " : "") + short(node.title));
      const status = svg("text", { x: node.x + 10, y: node.y + 37, class: "polpo-node-status" });
      const badges = svg("g", { class: "polpo-badges" });
      g.append(rect, title, status, badges);
      if (onSelect) {
        g.addEventListener("click", () => onSelect(node.id));
        g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onSelect(node.id); } });
      }
      nodeLayer.appendChild(g);
      nodes.set(node.id, { g, status, badges, node, last: "" });
    }
    drawing.append(edgeLayer, nodeLayer);
    host.replaceChildren(drawing);
    if (selected && !nodes.has(selected)) selected = null;
    select(selected);
  }

  function badge(entry, right, width, kind, text, tip) {
    const { y } = entry.node;
    const g = svg("g", { class: "polpo-badge-group" });
    if (tip) g.appendChild(svg("title", {}, tip));
    g.append(svg("rect", { x: right, y: y + 27, width, height: 14, rx: 7, class: `polpo-badge polpo-badge-${kind}` }),
      svg("text", { x: right + width / 2, y: y + 38, class: `polpo-badge-text polpo-badge-${kind}-text`, "text-anchor": "middle" }, text));
    entry.badges.appendChild(g);
    return right;
  }

  function paintNode(entry, task, now) {
    const key = JSON.stringify(task) + (RUNNING.has(task.status) ? Math.floor(now / 1000) : "");
    if (key === entry.last) return;
    entry.last = key;
    entry.g.setAttribute("data-status", task.status);
    if (task.reason) entry.g.setAttribute("data-reason", task.reason);
    else entry.g.removeAttribute("data-reason");
    entry.status.textContent = statusLabel(task, now);
    entry.badges.replaceChildren();
    let right = entry.node.x + NODE_W - 6;
    // attempts made (the record's `retries` also counts retries by hand, so it can exceed maxRetries)
    if (task.attempts) right = badge(entry, right - 26, 24, "retry", `×${task.attempts}`, `${task.attempts} attempts`);
    if (task.score !== undefined) badge(entry, right - 32, 30, task.passed === false ? "score-bad" : "score", Number(task.score).toFixed(1));
  }

  function paint(tasks, now = Date.now()) {
    for (const [id, entry] of nodes) paintNode(entry, (tasks || {})[id] || { status: "draft" }, now);
  }

  function tickRunning(tasks, now = Date.now()) {
    for (const [id, entry] of nodes) {
      const task = (tasks || {})[id];
      if (task && RUNNING.has(task.status)) paintNode(entry, task, now);
    }
  }

  function select(id) {
    selected = id;
    for (const [tid, entry] of nodes) entry.g.classList.toggle("polpo-selected", tid === id);
  }

  return { setGraph, paint, tickRunning, select, get rev() { return rev; }, get nodes() { return nodes; } };
}
