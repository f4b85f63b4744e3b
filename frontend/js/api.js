// Shared helpers: calls to the REST API with the browser session, error display, formatting.

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `Request failed (${status})`);
    this.status = status;
    this.code = error?.code || "ERROR";
    this.details = error?.details || {};
  }
}

export function csrfToken() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  if (cookie) return decodeURIComponent(cookie.split("=")[1]);
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

export async function api(path, { method = "GET", json, form } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form; // the browser sets the multipart boundary
  }
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(path, { method, headers, body, credentials: "same-origin" });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.error);
  return data;
}

// Show an API error next to the fields it names; anything else in the form-level alert.
export function showErrors(error, fields, formAlert, routeCode = {}) {
  clearErrors(fields, formAlert);
  const named = error.details?.fields || {};
  let shown = false;
  for (const [name, messages] of Object.entries(named)) {
    if (fields[name]) {
      setFieldError(fields[name], [].concat(messages).join(" "));
      shown = true;
    }
  }
  const field = routeCode[error.code];
  if (!shown && field && fields[field]) {
    setFieldError(fields[field], error.message);
    shown = true;
  }
  if (!shown) {
    formAlert.textContent = error.message;
    formAlert.hidden = false;
  }
}

export function setFieldError(input, message) {
  const slot = document.getElementById(`${input.id}-error`);
  if (slot) slot.textContent = message;
  input.setAttribute("aria-invalid", "true");
}

export function clearErrors(fields, formAlert) {
  for (const input of Object.values(fields)) {
    const slot = document.getElementById(`${input.id}-error`);
    if (slot) slot.textContent = "";
    input.removeAttribute("aria-invalid");
  }
  if (formAlert) formAlert.hidden = true;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

export function formatDate(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "–";
}

export const STATUS_LABELS = { PENDING: "Queued", PROCESSING: "Synthesizing…", DONE: "Done", FAILED: "Failed" };

export function statusBadge(status) {
  const kind = { READY: "ok", DONE: "ok", FAILED: "bad", PROCESSING: "busy", PENDING: "neutral" }[status] || "neutral";
  return el("span", { class: `badge ${kind}`, text: status });
}

// A socket that reconnects with backoff; messages are hints, so callers also poll or refetch.
export function liveSocket(path, onMessage, onOpen) {
  let delay = 1000;
  let socket;
  let stopped = false;
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.onopen = () => { delay = 1000; onOpen?.(); };
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (stopped || event.code === 4403) return; // refused: not ours, retrying will not help
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  };
  connect();
  return { close() { stopped = true; socket?.close(); } };
}
