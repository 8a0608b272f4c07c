// The calls the page makes: the same public API as any client (README), relative to the page's own URL.

// The API key its user typed: this tab's sessionStorage only (gone when the tab closes), sent as a header,
// never put in a URL.
const KEY = "docsum.apiKey";
export const getKey = () => sessionStorage.getItem(KEY) || "";
export function setKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

// Every call to the API goes through here, so every one carries the key when there is one.
export function call(url, init = {}) {
  const headers = new Headers(init.headers);
  const key = getKey();
  if (key) headers.set("X-API-Key", key);
  return fetch(url, { ...init, headers });
}

const KEY_PROBLEMS = { missing_api_key: "this server needs an API key", invalid_api_key: "the key was refused" };

export class ApiError extends Error {
  constructor(status, body) {
    const error = body && body.error ? body.error : null;
    const message = error ? KEY_PROBLEMS[error.code] || `${error.message} (${error.code})` : null;
    super(message || `the server answered ${status}`);
    this.status = status;
    this.code = error ? error.code : null;
  }
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not the error envelope (a proxy's page): the status says enough
  }
  const error = new ApiError(response.status, body);
  // The key field (keys.js) says what went wrong with the key, whichever call found out.
  if (response.status === 401) window.dispatchEvent(new CustomEvent("docsum:key-refused", { detail: error }));
  return error;
}

export async function getJSON(url, init) {
  const response = await call(url, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function getBlob(url) {
  const response = await call(url);
  if (!response.ok) throw await failure(response);
  return response.blob();
}

// Options as the JSON body names them; empty ones are left out (the server's defaults apply).
function cleanOptions(options) {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== "" && value != null));
}

// One summary, streamed: POST /v1/summarize with stream: true, read as server-sent events.
// A pasted text goes as JSON; a file as multipart (field `file`), asking for the extracted `text`.
export async function summarize({ text, file, options, onToken, onProgress, signal }) {
  const fields = { ...cleanOptions(options), stream: true };
  let init;
  if (file) {
    const form = new FormData();
    form.append("file", file, file.name);
    for (const [name, value] of Object.entries({ ...fields, include_text: true })) form.append(name, String(value));
    init = { method: "POST", body: form, signal };
  } else {
    const body = JSON.stringify({ ...fields, text });
    init = { method: "POST", body, headers: { "content-type": "application/json" }, signal };
  }
  const response = await call("v1/summarize", init);
  if (!response.ok) throw await failure(response);
  if (!(response.headers.get("content-type") || "").startsWith("text/event-stream")) return response.json();
  return readEvents(response, { onToken, onProgress });
}

async function readEvents(response, { onToken, onProgress }) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event.name === "token") onToken(JSON.parse(event.data).text);
      else if (event.name === "progress") onProgress(JSON.parse(event.data));
      else if (event.name === "summary") return JSON.parse(event.data);
      else if (event.name === "error") throw new ApiError(200, JSON.parse(event.data));
    }
  }
  throw new Error("the stream ended before the summary came");
}

function parseEvent(frame) {
  let name = "message";
  const data = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return { name, data: data.join("\n") };
}

export const listModels = () => getJSON("v1/models");
export const listJobs = () => getJSON("v1/jobs?limit=20");
export const getJob = (id) => getJSON(`v1/jobs/${encodeURIComponent(id)}`);
export const cancelJob = (id) => getJSON(`v1/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });

// A job: one JSONL/CSV file, or several documents, each its own `file` field.
export function submitJob(files, options) {
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  for (const [name, value] of Object.entries(cleanOptions(options))) form.append(name, String(value));
  return getJSON("v1/jobs", { method: "POST", body: form });
}
