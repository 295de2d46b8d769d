// The project as the page knows it: one state snapshot (`GET state`) kept fresh by one SSE connection
// (`GET events`). Events only say *that* something changed: the snapshot is re-read, at most every
// REFRESH_MS however many events arrive (a burst of thousands costs a few reads), and never without
// an event. The stream starts a little before the snapshot (the recent history feeds the events list
// and the task pages' status history) and reconnects with `Last-Event-ID`. The one look that is not an
// event: while a mission is active, whether its process still lives (`missions/resumable`) is asked
// every UNHELD_MS, since a process killed with `kill -9` writes nothing that would tell this page.

import { call, stream } from "./api.js";

const REFRESH_MS = 150;
const HISTORY = 2000; // events replayed at start, and kept
const RETRY_MS = [500, 1000, 2000, 5000];
const UNHELD_MS = 5000;

const number = (id) => Number(String(id || "").replace(/^evt_0*/, "")) || 0;

export class Live {
  constructor(projectId, { onState, onEvents, onConnection, onError }) {
    this.projectId = projectId;
    this.base = `api/v1/projects/${encodeURIComponent(projectId)}/`;
    this.state = null;
    this.events = []; // {id, event, data}, oldest first
    this.lastEventId = null;
    this.handlers = { onState, onEvents, onConnection, onError };
    this.controller = null;
    this.refreshing = null;
    this.dirty = false;
    this.timer = null;
    this.closed = false;
    this.pendingRefresh = null;
    this.unheldTimer = null;
  }

  async start() {
    await this.refresh();
    this.lastEventId = `evt_${Math.max(0, number(this.state.lastEventId) - HISTORY)}`;
    this.connect(0);
  }

  close() {
    this.closed = true;
    if (this.controller) this.controller.abort();
    clearTimeout(this.timer);
    clearTimeout(this.unheldTimer);
  }

  async connect(attempt) {
    if (this.closed) return;
    this.controller = new AbortController();
    let batch = [];
    let flush = null;
    const deliver = () => {
      flush = null;
      const done = batch;
      batch = [];
      this.events.push(...done);
      if (this.events.length > HISTORY) this.events.splice(0, this.events.length - HISTORY);
      this.handlers.onEvents(done);
      this.changed();
    };
    try {
      await stream(this.base + "events", {
        lastEventId: this.lastEventId,
        signal: this.controller.signal,
        onOpen: () => { attempt = 0; this.handlers.onConnection("live"); },
        onEvent: ({ id, data }) => {
          if (id) this.lastEventId = id;
          let parsed;
          try { parsed = JSON.parse(data); } catch { return; }
          batch.push({ id: number(id), event: parsed.event, data: parsed.data || {} });
          if (!flush) flush = setTimeout(deliver, 50); // many events, one repaint
        },
      });
    } catch (error) {
      if (this.closed || error.name === "AbortError") return;
      if (error.status === 401 || error.status === 403 || error.status === 404) {
        this.handlers.onError(error);
        return;
      }
    }
    if (flush) { clearTimeout(flush); deliver(); }
    if (this.closed) return;
    this.handlers.onConnection("reconnecting");
    const wait = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)];
    this.timer = setTimeout(() => { this.changed(); this.connect(attempt + 1); }, wait);
  }

  /** Something changed: re-read the snapshot soon (one read at a time, one more if needed). */
  changed() {
    if (this.refreshing) { this.dirty = true; return; }
    if (this.pendingRefresh) return;
    this.pendingRefresh = setTimeout(() => {
      this.pendingRefresh = null;
      this.refresh().catch((e) => this.handlers.onError(e));
    }, REFRESH_MS);
  }

  async refresh() {
    this.refreshing = (async () => {
      const state = await call("GET", this.base + "state");
      if (state.missions.some((m) => m.status === "active")) await this.markUnheld(state);
      this.state = state;
      this.handlers.onState(state);
      this.watchUnheld();
    })();
    try {
      await this.refreshing;
    } finally {
      this.refreshing = null;
      if (this.dirty) { this.dirty = false; this.changed(); }
    }
  }

  /** An active mission no live process runs (its process was killed) is resumable: it says why, as
   * `missions/resumable` does (pauseReason "interrupted"), so its page offers Resume, not Abort alone. */
  async markUnheld(state) {
    const unheld = new Map((await call("GET", this.base + "missions/resumable"))
      .filter((m) => m.status === "active").map((m) => [m.id, m]));
    for (const mission of state.missions) {
      const found = unheld.get(mission.id);
      if (found) Object.assign(mission, { pauseReason: found.pauseReason, pauseMessage: found.pauseMessage });
    }
  }

  /** While a mission shown as held is active, look again in UNHELD_MS: one whose process died since is
   * re-read (then marked by `markUnheld`); nothing is repainted while nothing changed. */
  watchUnheld() {
    clearTimeout(this.unheldTimer);
    const held = (this.state?.missions || []).filter((m) => m.status === "active" && m.pauseReason !== "interrupted");
    if (this.closed || !held.length) return;
    this.unheldTimer = setTimeout(async () => {
      try {
        const unheld = new Set((await call("GET", this.base + "missions/resumable")).map((m) => m.id));
        if (held.some((m) => unheld.has(m.id))) this.changed();
        else this.watchUnheld();
      } catch (e) {
        this.handlers.onError(e);
      }
    }, UNHELD_MS);
  }

  /** An action: its answer is reflected at once, the events that follow refresh the rest. */
  async act(method, path, body) {
    const result = await call(method, this.base + path, body);
    this.changed();
    return result;
  }
}
