import { api, clearErrors, liveSocket, showErrors, STATUS_LABELS } from "./api.js";

const form = document.getElementById("task-form");
const fields = {
  text: document.getElementById("task-text"),
  speaker_id: document.getElementById("task-voice"),
  language: document.getElementById("task-language"),
  priority: document.getElementById("task-priority"),
};
const speed = document.getElementById("task-speed");
const speedValue = document.getElementById("task-speed-value");
const formAlert = document.getElementById("task-form-error");
const button = document.getElementById("synthesize-button");
const progress = document.getElementById("task-progress");
const progressFill = document.getElementById("task-progress-fill");
const progressText = document.getElementById("task-progress-text");
const statusLine = document.getElementById("task-status");
const result = document.getElementById("task-result");
const player = document.getElementById("task-audio");
const download = document.getElementById("task-download");
const similarity = document.getElementById("task-similarity");
const count = document.getElementById("task-text-count");
const ERROR_FIELDS = { TEXT_TOO_LONG: "text", VOICE_NOT_READY: "speaker_id", UNSUPPORTED_LANGUAGE: "language" };

let current = null; // {id, socket, poll}
let lastProgress = 0;

async function loadVoices() {
  const data = await api("/api/v1/speakers?page_size=200");
  const ready = data.results.filter((v) => v.status === "READY");
  fields.speaker_id.replaceChildren(...ready.map((v) => new Option(v.name, v.id)));
  document.getElementById("no-voices").hidden = ready.length > 0;
  button.disabled = ready.length === 0;
}

function setProgress(value) {
  // Messages can arrive out of order (socket and polling): never move backwards.
  value = Math.max(lastProgress, Math.min(100, value));
  lastProgress = value;
  progress.setAttribute("aria-valuenow", String(value));
  progressFill.style.width = `${value}%`;
  progressText.textContent = `${value} %`;
}

function show(task) {
  if (!current || task.id !== current.id) return;
  setProgress(task.status === "DONE" ? 100 : task.progress);
  statusLine.textContent = task.status === "FAILED" ? `Failed: ${task.error?.message || "unknown error"}` : STATUS_LABELS[task.status];
  statusLine.dataset.status = task.status;
  if (task.status === "DONE" || task.status === "FAILED") finish(task);
}

function finish(task) {
  current.socket.close();
  clearInterval(current.poll);
  button.disabled = false;
  if (task.status !== "DONE" || !result.hidden) return;
  player.src = `/api/v1/tasks/${task.id}/audio`;
  download.href = `/api/v1/tasks/${task.id}/audio?download=1`;
  similarity.textContent = task.similarity == null ? "" : `Similarity to the voice: ${task.similarity.toFixed(2)}`;
  result.hidden = false;
}

function follow(task) {
  current = { id: task.id };
  // The socket is fast; polling every 2 s is the fallback, since socket messages can be lost.
  current.socket = liveSocket(`/ws/tasks/${task.id}/`, (message) => message.type === "task" && show(message.task));
  current.poll = setInterval(async () => show(await api(`/api/v1/tasks/${task.id}`)), 2000);
  show(task);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(fields, formAlert);
  if (current) { current.socket.close(); clearInterval(current.poll); }
  result.hidden = true;
  lastProgress = 0;
  setProgress(0);
  button.disabled = true;
  statusLine.textContent = "Sending…";
  try {
    const task = await api("/api/v1/tasks", {
      method: "POST",
      json: {
        text: fields.text.value,
        speaker_id: fields.speaker_id.value,
        language: fields.language.value,
        priority: Number(fields.priority.value),
        params: { speed: Number(speed.value) },
      },
    });
    follow(task);
  } catch (error) {
    button.disabled = false;
    statusLine.textContent = "Nothing yet: submit a text.";
    showErrors(error, fields, formAlert, ERROR_FIELDS);
  }
});

speed.addEventListener("input", () => { speedValue.textContent = `${Number(speed.value).toFixed(2)}×`; });
fields.text.addEventListener("input", () => { count.textContent = `${fields.text.value.length} / 5000 characters`; });
loadVoices();
