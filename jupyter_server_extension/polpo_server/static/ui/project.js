// The project's other pages: agents and team (from the snapshot), memory (view and edit), files
// (browse the project's sandbox through `files/list`, `files/preview`, `files/read`). Memory and
// files load on their own and are kept across repaints, so an edit in progress is never lost.

import { el } from "./dag.js";

const kept = new Map(); // page key -> element

function keep(key, build) {
  if (!kept.has(key)) kept.set(key, build());
  return kept.get(key);
}

export function forget(prefix) {
  for (const key of [...kept.keys()]) if (key.startsWith(prefix)) kept.delete(key);
}

function table(headers, rows, attrs = {}) {
  const t = el("table", { class: "ui-table", ...attrs });
  const head = el("tr");
  for (const h of headers) head.append(el("th", { scope: "col" }, h));
  t.append(el("thead"), el("tbody"));
  t.tHead.append(head);
  for (const row of rows) t.tBodies[0].append(row);
  return t;
}

function row(cells, attrs = {}) {
  const tr = el("tr", attrs);
  for (const c of cells) {
    const td = el("td");
    if (c instanceof Node) td.append(c);
    else td.textContent = c === undefined || c === null ? "" : String(c);
    tr.append(td);
  }
  return tr;
}

export function agentsPage(ctx) {
  const { agents, team, processes } = ctx.state;
  const box = el("div", { class: "ui-page" });
  box.append(el("h1", {}, `Team ${team ? team.name : ""}`));
  box.append(el("h2", {}, `Agents (${agents.length})`),
    table(["Agent", "Role", "Model", "Reports to", "Tools", "Volatile"],
      agents.map((a) => row([a.name, a.role, a.model || (a.handler ? `function ${a.handler}` : "function"), a.reportsTo,
        (a.allowedTools || []).join(", "), a.volatile ? "yes" : ""], { "data-agent": a.name })), { id: "agents" }));
  box.append(el("h2", {}, `Running now (${processes.length})`),
    processes.length ? table(["Task", "Agent", "Status", "Engine"], processes.map((p) => {
      const a = el("a", { href: `#/tasks/${encodeURIComponent(p.taskId)}` }, p.title);
      return row([a, p.agentName, p.phase ? `${p.status} (${p.phase})` : p.status, p.owner]);
    })) : el("p", { class: "ui-empty" }, "Nothing runs now."));
  return box;
}

export function memoryPage(ctx) {
  return keep("memory", () => {
    const box = el("div", { class: "ui-page ui-memory" });
    // not editable until loaded: what the user types must never be overwritten by the answer
    const text = el("textarea", { id: "memory", rows: "18", "aria-label": "Project memory", disabled: "" });
    const save = el("button", { type: "button", class: "ui-btn ui-primary" }, "Save memory");
    const reload = el("button", { type: "button", class: "ui-btn" }, "Reload");
    const status = el("span", { class: "ui-muted", role: "status" });
    const bar = el("div", { class: "ui-actions" });
    bar.append(save, reload, status);
    box.append(el("h1", {}, "Memory"), el("p", { class: "ui-muted" }, "What every agent of the project reads first (.polpo/memory.md)."), text, bar);
    const load = async () => {
      text.disabled = true;
      save.disabled = true;
      try {
        text.value = (await ctx.read("memory")).content;
        status.textContent = "";
        text.disabled = false;
        save.disabled = false;
      } catch (error) { ctx.say(`Memory: ${error.message}`); }
    };
    save.addEventListener("click", async () => {
      save.disabled = true;
      text.disabled = true;
      try {
        const saved = await ctx.act("PUT", "memory", { content: text.value }, "Save memory");
        if (saved) status.textContent = "Saved.";
      } finally { save.disabled = false; text.disabled = false; }
    });
    reload.addEventListener("click", load);
    load();
    return box;
  });
}

export function filesPage(ctx, path = "") {
  return keep(`files:${path}`, () => {
    const box = el("div", { class: "ui-page ui-files-page" });
    const crumbs = el("nav", { class: "ui-crumbs", "aria-label": "Folder" });
    const parts = path ? path.split("/") : [];
    crumbs.append(el("a", { href: "#/files" }, "project"));
    parts.forEach((part, i) => crumbs.append(" / ", el("a", { href: `#/files/${parts.slice(0, i + 1).map(encodeURIComponent).join("/")}` }, part)));
    const listing = el("div");
    const preview = el("pre", { class: "ui-pre", id: "file-preview", hidden: "" });
    box.append(el("h1", {}, "Files"), crumbs, listing, preview);
    (async () => {
      try {
        const data = await ctx.read(`files/list?path=${encodeURIComponent(path || ".")}`);
        const rows = data.entries.map((entry) => {
          let name;
          if (entry.type === "directory") {
            name = el("a", { href: `#/files/${entry.path.split("/").map(encodeURIComponent).join("/")}` }, entry.name + "/");
          } else {
            name = el("button", { type: "button", class: "ui-link", "aria-label": `Preview ${entry.path}` }, entry.name);
            name.addEventListener("click", async () => {
              try {
                const p = await ctx.read(`files/preview?path=${encodeURIComponent(entry.path)}`);
                preview.textContent = p.content ?? `(${p.type} file, ${p.size} bytes: use Download)`;
                preview.hidden = false;
              } catch (error) { ctx.say(`Preview: ${error.message}`); }
            });
          }
          const download = entry.type === "directory" ? "" : el("button", { type: "button", class: "ui-btn", "aria-label": `Download ${entry.path}` }, "Download");
          if (download) download.addEventListener("click", () => ctx.download(`files/read?path=${encodeURIComponent(entry.path)}&download=1`, entry.name));
          return row([name, entry.type, entry.size ?? "", (entry.modified || "").replace("T", " ").replace(/\..*$/, ""), download], { "data-path": entry.path });
        });
        listing.replaceChildren(rows.length ? table(["Name", "Type", "Size", "Modified", ""], rows, { id: "files" }) : el("p", { class: "ui-empty" }, "Empty folder."));
      } catch (error) { listing.replaceChildren(el("p", { class: "ui-error" }, error.message)); }
    })();
    return box;
  });
}
