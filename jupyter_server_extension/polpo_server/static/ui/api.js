// The dashboard's only way to the server: the public HTTP API (project dialect, `{ok, data}`).
//
// Credentials: on Jupyter the page rides on the session cookie and echoes the `_xsrf` cookie as
// `X-XSRFToken` (as JupyterLab does); on `polpo serve` it sends the API key the user typed as
// `Authorization: Bearer` (kept in sessionStorage for this tab only, never put in a URL). The event
// stream is read with fetch() and a streaming SSE parser, since EventSource cannot send a header.

const KEY = "polpo.apiKey";

/** The API root: the page is `<root>ui/`, so `/a/polpo/ui/` -> `/a/polpo/`. */
export const ROOT = location.pathname.replace(/ui\/[^/]*$/, "");

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getKey() { return sessionStorage.getItem(KEY) || ""; }
export function setKey(key) { if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY); }

function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
}

function headers(extra = {}) {
  const h = { ...extra };
  const key = getKey();
  if (key) h.Authorization = `Bearer ${key}`;
  const xsrf = cookie("_xsrf");
  if (xsrf) h["X-XSRFToken"] = xsrf;
  return h;
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`, code;
  try {
    const body = await response.json();
    message = body.error && typeof body.error === "object" ? body.error.message : body.error || message;
    code = body.code || (body.error && body.error.code);
  } catch { /* not JSON */ }
  return new ApiError(response.status, message, code);
}

/** One call; answers `data` of the envelope, throws ApiError. `path` is relative to ROOT. */
export async function call(method, path, body) {
  const init = { method, headers: headers({ Accept: "application/json" }), credentials: "same-origin" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(ROOT + path, init);
  if (!response.ok) throw await failure(response);
  const data = await response.json();
  return data && typeof data === "object" && "ok" in data ? data.data : data;
}

/** A file's bytes (files/read), as a Blob. */
export async function blob(path) {
  const response = await fetch(ROOT + path, { headers: headers(), credentials: "same-origin" });
  if (!response.ok) throw await failure(response);
  return response.blob();
}

/**
 * Read an SSE stream with fetch() (GET, or a POST with a JSON `body`): calls `onEvent({id, data})` for each event, `onOpen()` once the
 * server answered. Resolves when the stream ends; rejects on HTTP errors (ApiError) or network
 * failure. `signal` aborts it.
 */
export async function stream(path, { method = "GET", body, lastEventId, onEvent, onOpen, signal }) {
  const h = headers({ Accept: "text/event-stream" });
  if (lastEventId) h["Last-Event-ID"] = lastEventId;
  const init = { method, headers: h, credentials: "same-origin", signal, cache: "no-store" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    h["Content-Type"] = "application/json";
  }
  const response = await fetch(ROOT + path, init);
  if (!response.ok) throw await failure(response);
  if (onOpen) onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let id = null, data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, cut);
      buffer = buffer.slice(cut + (buffer[cut] === "\r" && buffer[cut + 1] === "\n" ? 2 : 1));
      if (line === "") { // end of one event
        if (data.length) onEvent({ id, data: data.join("\n") });
        id = null;
        data = [];
      } else if (!line.startsWith(":")) { // comments are keep-alives
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(val);
        else if (field === "id") id = val;
      }
    }
  }
}
