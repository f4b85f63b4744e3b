// Synthesize page: queue a task, follow it live (WebSocket, with polling as the safety
// net), play its audio as it is made (the task's stream), then offer the download link,
// the similarity score and the text with the word being spoken highlighted.
import {
  api, clearErrors, el, formatSeconds, liveSocket, setFieldError, showAlert, showErrors, SIMILARITY_SCALE,
  similarityLabel, STATUS_LABELS,
} from "./api.js";

const $ = (id) => document.getElementById(id);
const form = $("task-form");
const fields = {
  text: $("task-text"),
  speaker_id: $("task-voice"),
  language: $("task-language"),
  priority: $("task-priority"),
  output_format: $("task-format"),
  params: $("task-speed"),
};
const speed = fields.params;
const button = $("synthesize-button");
const formAlert = $("task-form-error");
const ui = {
  badge: $("task-badge"),
  status: $("task-status"),
  bar: $("task-progress"),
  progressLine: $("task-progress-line"),
  running: $("task-running"),
  cancel: $("task-cancel"),
  fill: $("task-progress-fill"),
  percent: $("task-progress-text"),
  meta: $("task-meta"),
  result: $("task-result"),
  player: $("task-audio"),
  download: $("task-download"),
  similarity: $("task-similarity"),
  words: $("task-words"),
};
const MAX_CHARACTERS = Number(fields.text.maxLength) || 5000;
const FINAL = new Set(["DONE", "FAILED", "CANCELLED"]);
// Error codes that concern one field; the rest (quota, rate limit, outages) go to the alert.
const ROUTE = {
  TEXT_TOO_LONG: "text", VALIDATION_ERROR: "text", VOICE_NOT_READY: "speaker_id",
  NOT_FOUND: "speaker_id", UNSUPPORTED_LANGUAGE: "language", LANGUAGE_MISMATCH: "language",
};

let current = null; // the task being followed: {id, socket, poll, lastProgress, cancelling}
const voiceNames = new Map();

// --- Voices -----------------------------------------------------------------

async function loadVoices() {
  let data;
  try {
    data = await api("/api/v1/speakers?page_size=200");
  } catch (error) {
    fields.speaker_id.replaceChildren(new Option("Voices could not be loaded", ""));
    setFieldError(fields.speaker_id, error.message);
    return;
  }
  const previous = fields.speaker_id.value || new URLSearchParams(location.search).get("voice");
  const ready = data.results.filter((v) => v.status === "READY");
  data.results.forEach((v) => voiceNames.set(v.id, v.name));
  fields.speaker_id.replaceChildren(...ready.map((v) => new Option(v.name, v.id)));
  if (ready.some((v) => v.id === previous)) fields.speaker_id.value = previous;
  fields.speaker_id.disabled = ready.length === 0;
  if (!ready.length) fields.speaker_id.append(new Option("No voice is ready", ""));
  $("no-voices").hidden = ready.length > 0;
  button.disabled = ready.length === 0 || Boolean(current && !current.finished);
  // A voice still being analysed will be ready soon: look again.
  if (data.results.some((v) => v.status === "PROCESSING")) setTimeout(loadVoices, 3000);
}

// --- Progress ---------------------------------------------------------------

function setProgress(value) {
  // Socket and polling answers can cross: the bar never moves backwards.
  const shown = Math.round(Math.max(current?.lastProgress || 0, Math.min(100, Number(value) || 0)));
  if (current) current.lastProgress = shown;
  ui.bar.setAttribute("aria-valuenow", String(shown));
  ui.fill.style.width = `${shown}%`;
  ui.percent.textContent = `${shown} %`;
}

function setStatus(status, text) {
  ui.status.textContent = text;
  ui.status.dataset.status = status || "";
  ui.badge.hidden = !status;
  ui.badge.textContent = status || "";
  ui.badge.className = `badge ${{ DONE: "ok", FAILED: "bad", PROCESSING: "busy" }[status] || "neutral"}`;
  ui.bar.classList.toggle("active", status === "PENDING" || status === "PROCESSING");
}

function show(task) {
  if (!current || task.id !== current.id || current.finished) return;
  if (task.status === "PROCESSING" && !current.streaming) listen(task);
  if (task.status === "DONE") setProgress(100);
  else setProgress(task.progress);
  const text = task.status === "FAILED"
    ? `Failed: ${task.error?.message || "the task could not be completed."}`
    : STATUS_LABELS[task.status] || task.status;
  const detail = {
    PENDING: "Queued: waiting for a worker…",
    PROCESSING: current.cancelling ? "Cancelling: it stops after the sentence being spoken…" : null,
    DONE: "Done: your audio is ready.",
    CANCELLED: "Cancelled: no audio was kept.",
  }[task.status];
  setStatus(task.status, detail || text);
  if (FINAL.has(task.status)) finish(task);
}

// Play the task's stream while it is made: sound after its first sentence, not its last.
function listen(task) {
  current.streaming = true;
  ui.player.src = `/api/v1/tasks/${task.id}/stream`;
  ui.result.hidden = false;
  ui.player.play().catch(() => {
    // The browser wants a click first: the player is there, with its own Play button.
  });
}

// Load ``url`` where the player is now (from the start once it has played out).
function swapTo(url) {
  const at = ui.player.ended ? 0 : ui.player.currentTime;
  ui.player.src = url;
  if (at) ui.player.addEventListener("loadedmetadata", () => { ui.player.currentTime = at; }, { once: true });
}

function finish(task) {
  stopFollowing();
  current.finished = true;
  button.disabled = false;
  showCancel(false);
  if (task.status !== "DONE") {
    if (current.streaming) resetPlayer();
    ui.result.hidden = true; // no audio: no player, no download
    return;
  }
  // A stream cannot seek: the stored file takes over, now or when the stream is paused or over.
  const stored = `/api/v1/tasks/${task.id}/audio`;
  if (!current.streaming || ui.player.paused || ui.player.ended) swapTo(stored);
  else {
    const swap = () => {
      ui.player.removeEventListener("pause", swap);
      ui.player.removeEventListener("ended", swap);
      swapTo(stored);
    };
    ui.player.addEventListener("pause", swap);
    ui.player.addEventListener("ended", swap);
  }
  showWords(task);
  ui.download.href = `/api/v1/tasks/${task.id}/audio?download=1`;
  ui.similarity.textContent = typeof task.similarity === "number"
    ? `Similarity to the voice: ${task.similarity.toFixed(2)} — ${similarityLabel(task.similarity)} (${SIMILARITY_SCALE})`
    : "Similarity to the voice: not measured";
  const voice = voiceNames.get(task.speaker_id);
  ui.meta.textContent = [voice, task.duration_seconds ? formatSeconds(task.duration_seconds) : null].filter(Boolean).join(" · ");
  ui.result.hidden = false;
}

function stopFollowing() {
  if (!current) return;
  current.socket?.close();
  clearInterval(current.poll);
}

function follow(task) {
  current = { id: task.id, lastProgress: 0, finished: false, cancelling: false };
  const id = task.id;
  ui.bar.hidden = false;
  ui.progressLine.hidden = false;
  showCancel(true);
  // The socket is fast but its messages can be lost: poll every 2 s as well, until the end.
  current.socket = liveSocket(`/ws/tasks/${id}/`, {
    onMessage: (message) => message.type === "task" && show(message.task),
  });
  current.poll = setInterval(async () => {
    try {
      show(await api(`/api/v1/tasks/${id}`));
    } catch {
      // A missed poll is fine: the next one (or the socket) catches up.
    }
  }, 2000);
  show(task);
}

// --- Cancel -----------------------------------------------------------------

function showCancel(visible) {
  ui.running.hidden = !visible;
  ui.cancel.disabled = false;
  ui.cancel.textContent = "Cancel";
}

ui.cancel.addEventListener("click", async () => {
  if (!current || current.finished) return;
  const id = current.id;
  ui.cancel.disabled = true;
  ui.cancel.textContent = "Cancelling…";
  try {
    const task = await api(`/api/v1/tasks/${id}/cancel`, { method: "POST" });
    if (current?.id !== id) return;
    current.cancelling = true; // a running task stops at its next sentence: the socket or the poll brings the end
    show(task);
  } catch (error) {
    if (current?.id !== id) return;
    if (error.code !== "CONFLICT") showAlert(formAlert, `The task could not be cancelled: ${error.message}`);
    ui.cancel.disabled = false;
    ui.cancel.textContent = "Cancel";
    try {
      show(await api(`/api/v1/tasks/${id}`)); // it had already ended: show how
    } catch {
      // The socket or the next poll catches up.
    }
  }
});

// --- Words ------------------------------------------------------------------

let spoken = []; // [{start, end, node}] of the task shown

async function showWords(task) {
  let data;
  try {
    data = await api(`/api/v1/tasks/${task.id}/timestamps`);
  } catch {
    return; // no timings: the text is not shown, the audio still plays
  }
  if (!current || current.id !== task.id) return;
  const text = task.text;
  const nodes = [];
  let at = 0;
  spoken = data.words.map((word) => {
    if (word.text_start > at) nodes.push(document.createTextNode(text.slice(at, word.text_start)));
    const node = el("span", { class: "word" }, text.slice(word.text_start, word.text_end));
    nodes.push(node);
    at = word.text_end;
    return { start: word.start, end: word.end, node };
  });
  nodes.push(document.createTextNode(text.slice(at)));
  ui.words.replaceChildren(...nodes);
  ui.words.hidden = false;
  highlight();
}

function highlight() {
  const time = ui.player.currentTime;
  for (const word of spoken) word.node.classList.toggle("speaking", time >= word.start && time < word.end);
}

ui.player.addEventListener("timeupdate", highlight);
ui.player.addEventListener("seeked", highlight);

function resetPlayer() {
  ui.player.pause();
  ui.player.removeAttribute("src");
  ui.player.load();
}

function resetResult() {
  stopFollowing();
  current = null;
  resetPlayer();
  spoken = [];
  ui.words.replaceChildren();
  ui.words.hidden = true;
  ui.result.hidden = true;
  ui.meta.textContent = "";
  setProgress(0);
  ui.bar.hidden = true;
  ui.progressLine.hidden = true;
  showCancel(false);
}

// --- Form -------------------------------------------------------------------

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (button.disabled) return;
  clearErrors(fields, formAlert);
  // Every missing field at once, the first focused.
  const missing = [
    [!fields.text.value.trim(), fields.text, "Type the text to speak."],
    [!fields.speaker_id.value, fields.speaker_id, "Choose a voice."],
  ].filter(([absent]) => absent);
  for (const [, input, message] of missing) setFieldError(input, message);
  if (missing.length) {
    missing[0][1].focus();
    return;
  }
  resetResult();
  button.disabled = true;
  setStatus("", "Sending…");
  try {
    const task = await api("/api/v1/tasks", {
      method: "POST",
      json: {
        text: fields.text.value,
        speaker_id: fields.speaker_id.value,
        language: fields.language.value,
        priority: Number(fields.priority.value),
        output_format: fields.output_format.value,
        params: { speed: Number(speed.value) },
      },
    });
    follow(task);
  } catch (error) {
    button.disabled = false;
    setStatus("", "Your audio will appear here.");
    showErrors(error, fields, formAlert, ROUTE);
    if (error.code === "VOICE_NOT_READY" || error.code === "NOT_FOUND") loadVoices();
  }
});

// Ctrl/⌘ + Enter sends from the text box.
fields.text.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
});

function updateCount() {
  const length = fields.text.value.length;
  const counter = $("task-text-count");
  counter.textContent = `${length.toLocaleString()} / ${MAX_CHARACTERS.toLocaleString()}`;
  counter.classList.toggle("near-limit", length > MAX_CHARACTERS * 0.9);
}

function updateSpeed() {
  const value = Number(speed.value).toFixed(2);
  $("task-speed-value").textContent = `${value}×`;
  speed.setAttribute("aria-valuetext", `${value} times`);
}

fields.text.addEventListener("input", updateCount);
speed.addEventListener("input", updateSpeed);
updateCount(); // the browser may restore a draft on reload
updateSpeed();
loadVoices();
