// Shared helpers: REST calls with the browser session, field errors, formatting,
// DOM building (text only: API strings never become HTML) and live sockets.

export class ApiError extends Error {
  constructor(status, error = {}) {
    super(error.message || `Request failed (${status}).`);
    this.status = status;
    this.code = error.code || "ERROR";
    this.details = error.details || {};
  }
}

// Answers that did not come from the API (proxy limits, a server that is down) carry no envelope.
const FALLBACK_ERRORS = {
  0: { code: "NETWORK_ERROR", message: "Could not reach the server. Check your connection and try again." },
  401: { code: "NOT_AUTHENTICATED", message: "You are signed out. Reload the page to sign in again." },
  403: { code: "PERMISSION_DENIED", message: "You are not allowed to do this." },
  413: { code: "PAYLOAD_TOO_LARGE", message: "The file is too large." },
  429: { code: "RATE_LIMITED", message: "Too many requests. Wait a moment and try again." },
};

export function csrfToken() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  if (cookie) return decodeURIComponent(cookie.slice("csrftoken=".length));
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

export async function api(path, { method = "GET", json, form } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form; // the browser writes the multipart boundary itself
  }
  if (!["GET", "HEAD", "OPTIONS"].includes(method)) headers["X-CSRFToken"] = csrfToken();
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "same-origin" });
  } catch {
    throw new ApiError(0, FALLBACK_ERRORS[0]);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const fallback = FALLBACK_ERRORS[response.status] || { code: "SERVER_ERROR", message: `The server answered ${response.status}. Try again.` };
    throw new ApiError(response.status, data?.error || fallback);
  }
  return data;
}

// --- Field errors -----------------------------------------------------------
// Each input has a sibling <p id="{input.id}-error" aria-live="polite"> that its
// aria-describedby names, so the message is read with the field.

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
  if (formAlert) {
    formAlert.textContent = "";
    formAlert.hidden = true;
  }
}

// Put an ApiError next to the fields it names (details.fields), or next to the field
// its code concerns (routeCode: code -> field name), or else in the form-level alert.
export function showErrors(error, fields, formAlert, routeCode = {}) {
  clearErrors(fields, formAlert);
  let first = null;
  for (const [name, messages] of Object.entries(error.details?.fields || {})) {
    if (!fields[name]) continue;
    setFieldError(fields[name], [].concat(messages).join(" "));
    if (!first) first = fields[name];
  }
  const routed = fields[routeCode[error.code]];
  if (!first && routed) {
    setFieldError(routed, error.message);
    first = routed;
  }
  if (first) first.focus();
  else {
    showAlert(formAlert, error.message);
    // An error that names the page that resolves it (details.url, on this site) links to it.
    const url = error.details?.url;
    const link = typeof url === "string" && URL.canParse(url, location.href) ? new URL(url, location.href) : null;
    if (formAlert && link?.origin === location.origin) {
      formAlert.append(" ", el("a", { href: link.pathname, text: LINK_LABELS[error.code] || "Open it" }));
    }
  }
}

const LINK_LABELS = { DPA_NOT_ACCEPTED: "Open the agreement" };

export function showAlert(alert, message) {
  if (!alert) return;
  alert.textContent = message;
  alert.hidden = false;
}

// --- DOM --------------------------------------------------------------------

// el("a", {class: "x", href, text: "label", onclick}, ...children): strings go in as text.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

// For the rare place that builds markup as a string.
export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// --- Formatting -------------------------------------------------------------

export function formatDate(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "—";
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

// "3 minutes ago" for today, the date otherwise (the full date goes in a title).
export function formatWhen(iso) {
  if (!iso) return "—";
  const seconds = (new Date(iso) - Date.now()) / 1000;
  if (seconds > -45) return "just now";
  if (seconds > -3600) return relative.format(Math.round(seconds / 60), "minute");
  if (seconds > -86400) return relative.format(Math.round(seconds / 3600), "hour");
  return formatDate(iso);
}

// Durations as the browser's audio player shows them (m:ss, h:mm:ss), cut and not rounded
// like it, so the same clip reads the same in a list and in its player.
export function formatSeconds(value) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return "—";
  const whole = Math.floor(Number(value));
  const [hours, minutes, seconds] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  const pad = (n) => String(n).padStart(2, "0");
  return hours ? `${hours}:${pad(minutes)}:${pad(seconds)}` : `${minutes}:${pad(seconds)}`;
}

// What a similarity score means. It is the cosine between Resemblyzer speaker embeddings of
// the result and of the reference. Measured on 18 LibriSpeech clips: two recordings of one
// person 0.88-0.96; two different people 0.58 on average, 0.67 at the 90th percentile, 0.745
// at most (151 pairs); eSpeak unadapted about 0.55. So 0.85 and up is the same speaker; 0.75
// and up is closer than any two different people measured; under 0.65, as far apart as two
// different people usually are.
export const SIMILARITY_SCALE = "two recordings of one person score 0.88–0.96, two different people about 0.6";
export function similarityLabel(score) {
  if (score >= 0.85) return "the same speaker";
  if (score >= 0.75) return "likely the same speaker";
  if (score >= 0.65) return "a similar voice";
  return "a different-sounding voice";
}

// Language names come from the page (base.html renders them with json_script).
const languageData = document.getElementById("language-data");
export const LANGUAGE_NAMES = Object.fromEntries(languageData ? JSON.parse(languageData.textContent) : []);
export const languageName = (code) => LANGUAGE_NAMES[code] || code || "—";

export const STATUS_LABELS = { PENDING: "Queued", PROCESSING: "Synthesizing…", DONE: "Done", FAILED: "Failed", CANCELLED: "Cancelled" };

export function statusBadge(status) {
  const kind = { READY: "ok", DONE: "ok", FAILED: "bad", CANCELLED: "neutral", PROCESSING: "busy", PENDING: "neutral" }[status] || "neutral";
  const badge = el("span", { class: `badge ${kind}` });
  // Work in progress gets a spinner; the badge's text stays the bare status.
  if (status === "PROCESSING") badge.append(el("span", { class: "spinner", "aria-hidden": "true" }));
  badge.append(status);
  return badge;
}

// --- Live updates -----------------------------------------------------------

// A WebSocket that reconnects with backoff. Messages are hints that can be lost, so
// callers also poll or refetch (onOpen runs on every (re)connection, with its count).
export function liveSocket(path, { onMessage, onOpen, onDown } = {}) {
  let delay = 1000;
  let opens = 0;
  let socket;
  let timer;
  let stopped = false;
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.onopen = () => {
      delay = 1000;
      onOpen?.(++opens);
    };
    socket.onmessage = (event) => {
      try {
        onMessage?.(JSON.parse(event.data));
      } catch (error) {
        console.warn("ignored a socket message", error);
      }
    };
    socket.onclose = (event) => {
      if (stopped) return;
      onDown?.(event);
      if (event.code === 4403) return; // refused by policy: retrying will not help
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  };
  connect();
  return {
    close() {
      stopped = true;
      clearTimeout(timer);
      socket?.close();
    },
  };
}
