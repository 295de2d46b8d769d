// The project's other pages: agents and team (from the snapshot), memory (view and edit), files
// (browse the project's sandbox through `files/list`, `files/preview`, `files/read`), API keys. Memory and
// files load on their own and are kept across repaints, so an edit in progress is never lost.

import { el } from "./dag.js";
import { when } from "./pages.js";

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
          return row([name, entry.type, entry.size ?? "", when(entry.modified), download], { "data-path": entry.path });
        });
        listing.replaceChildren(rows.length ? table(["Name", "Type", "Size", "Modified", ""], rows, { id: "files" }) : el("p", { class: "ui-empty" }, "Empty folder."));
      } catch (error) { listing.replaceChildren(el("p", { class: "ui-error" }, error.message)); }
    })();
    return box;
  });
}

/** The project's API keys (`GET/POST keys`, `DELETE keys/{id}`): made here, a key's text is shown once,
 * until Done or the page is left; revoking asks first. Only the server's own credentials manage keys:
 * with a project key the server answers 403, which the page says in those words. */
export function keysPage(ctx) {
  return keep("keys", () => {
    const box = el("div", { class: "ui-page ui-keys-page" });
    const name = el("input", { id: "key-name", "data-key": "key-name", "aria-label": "Key name", placeholder: "ci", maxlength: "100" });
    const kind = el("select", { id: "key-kind", "data-key": "key-kind", "aria-label": "Key kind" });
    kind.append(el("option", { value: "live" }, "live"), el("option", { value: "test" }, "test (its runs are dry)"));
    const create = el("button", { type: "submit", class: "ui-btn ui-primary" }, "Create key");
    const form = el("form", { class: "ui-actions", "aria-label": "New API key" });
    form.append(name, kind, create);
    const made = el("div", { class: "ui-secret", role: "status", hidden: "" });
    const listing = el("div");
    box.append(el("h1", {}, "API keys"),
      el("p", { class: "ui-muted" }, "Keys let a CI job, a teammate or a notebook call this project's API. A key's text is shown once, when it is made; revoked, it is refused from the next request on."),
      form, made, listing);
    const explain = (error) => (error.status === 403
      ? "Only the server's own credentials (polpo serve --api-key, or the Jupyter session) manage keys; a project key cannot."
      : error.message);
    const load = async () => {
      try {
        const keys = await ctx.read("keys");
        listing.replaceChildren(keys.length ? table(["Name", "Kind", "Prefix", "Created", "Last used", ""],
          keys.map((k) => row([k.name, k.kind, `${k.prefix}…`, when(k.createdAt), when(k.lastUsedAt), revoker(k)], { "data-key-id": k.id })),
          { id: "keys" }) : el("p", { class: "ui-empty" }, "No keys yet."));
      } catch (error) { listing.replaceChildren(el("p", { class: "ui-error" }, explain(error))); }
    };
    const revoker = (k) => {
      const cell = el("span", { class: "ui-actions" });
      const revoke = el("button", { type: "button", class: "ui-btn ui-danger", "aria-label": `Revoke ${k.name}` }, "Revoke");
      const ask = el("span", { class: "ui-confirm", hidden: "" });
      const yes = el("button", { type: "button", class: "ui-btn ui-danger", "aria-label": `Confirm revoking ${k.name}` }, "Confirm revoke");
      const no = el("button", { type: "button", class: "ui-btn", "aria-label": `Keep ${k.name}` }, "Keep");
      ask.append(el("span", {}, `Revoke ${k.name}? Whoever uses it is refused at once. `), yes, no);
      revoke.addEventListener("click", () => { revoke.hidden = true; ask.hidden = false; no.focus(); });
      no.addEventListener("click", () => { revoke.hidden = false; ask.hidden = true; revoke.focus(); });
      yes.addEventListener("click", async () => {
        yes.disabled = true;
        if (await ctx.act("DELETE", `keys/${encodeURIComponent(k.id)}`, undefined, `Revoke ${k.name}`)) await load();
        yes.disabled = false;
      });
      cell.append(revoke, ask);
      return cell;
    };
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      create.disabled = true;
      try {
        const key = await ctx.act("POST", "keys", { name: name.value.trim(), kind: kind.value }, "Create key");
        if (!key) return;
        name.value = "";
        const text = el("code", { id: "new-key" }, key.key);
        const done = el("button", { type: "button", class: "ui-btn" }, "Done");
        done.addEventListener("click", () => { made.replaceChildren(); made.hidden = true; name.focus(); });
        made.replaceChildren(el("strong", {}, `New ${key.kind} key ${key.name}: `), text,
          el("p", {}, "Copy it now: it is not kept anywhere and will not be shown again."), done);
        made.hidden = false;
        await load();
      } finally { create.disabled = false; }
    });
    load();
    return box;
  });
}
