import { api, clearErrors, el, formatDate, setFieldError, showErrors, statusBadge } from "./api.js";

const form = document.getElementById("voice-form");
const fields = {
  name: document.getElementById("voice-name"),
  audio: document.getElementById("voice-audio"),
  reference_text: document.getElementById("voice-text"),
  language: document.getElementById("voice-language"),
};
const formAlert = document.getElementById("voice-form-error");
const uploadButton = document.getElementById("upload-button");
const list = document.getElementById("voice-list");
const empty = document.getElementById("voices-empty");
const dialog = document.getElementById("delete-dialog");
const AUDIO_CODES = ["INVALID_AUDIO", "AUDIO_TOO_SHORT", "AUDIO_TOO_LONG", "AUDIO_SILENT", "AUDIO_CLIPPED", "PAYLOAD_TOO_LARGE"];
const LANGUAGE_NAMES = Object.fromEntries([...fields.language.options].map((o) => [o.value, o.textContent]));
let recording = null; // a Blob from the recorder, used instead of the file input
let pollTimer = null;

async function refresh() {
  const data = await api("/api/v1/speakers?page_size=200");
  list.replaceChildren(...data.results.map(voiceRow));
  empty.hidden = data.results.length > 0;
  clearTimeout(pollTimer);
  // Profiling runs in a worker: look again while any voice is still being analysed.
  if (data.results.some((v) => v.status === "PROCESSING")) pollTimer = setTimeout(refresh, 2000);
}

function voiceRow(voice) {
  const player = el("audio", { controls: "", preload: "none", hidden: "" });
  const play = el("button", {
    type: "button", class: "button ghost small", text: "Play",
    "aria-label": `Play the recording of ${voice.name}`,
    onclick: () => {
      player.src = `/api/v1/speakers/${voice.id}/audio`;
      player.hidden = false;
      player.play();
    },
  });
  const remove = el("button", {
    type: "button", class: "button ghost small danger-text", text: "Delete",
    "aria-label": `Delete ${voice.name}`, onclick: () => confirmDelete(voice),
  });
  const status = statusBadge(voice.status);
  if (voice.status === "PROCESSING") status.textContent = "PROCESSING…";
  return el("li", { class: "row" },
    el("div", { class: "row-main" },
      el("div", { class: "row-title" }, el("strong", { text: voice.name }), status),
      el("p", { class: "row-meta", text: `${LANGUAGE_NAMES[voice.language] || voice.language} · ${voice.duration_seconds.toFixed(1)} s · ${formatDate(voice.created_at)}` }),
      voice.status === "FAILED" && voice.error ? el("p", { class: "field-error", text: voice.error.message }) : null,
      player),
    el("div", { class: "row-actions" }, play, remove));
}

function confirmDelete(voice) {
  dialog.querySelector("h2").textContent = `Delete “${voice.name}”?`;
  dialog.returnValue = "";
  dialog.showModal();
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "delete") return;
    await api(`/api/v1/speakers/${voice.id}`, { method: "DELETE" });
    refresh();
  }, { once: true });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(fields, formAlert);
  if (!fields.name.value.trim()) return setFieldError(fields.name, "Give the voice a name.");
  const file = recording || fields.audio.files[0];
  if (!file) return setFieldError(fields.audio, "Choose a recording or record one.");
  const body = new FormData();
  body.append("name", fields.name.value.trim());
  body.append("audio", file, file.name || "recording.webm");
  body.append("reference_text", fields.reference_text.value);
  body.append("language", fields.language.value);
  uploadButton.disabled = true;
  uploadButton.textContent = "Uploading…";
  try {
    await api("/api/v1/speakers", { method: "POST", form: body });
    form.reset();
    recording = null;
    document.getElementById("record-preview").hidden = true;
    document.getElementById("record-status").textContent = "";
    await refresh();
  } catch (error) {
    showErrors(error, fields, formAlert, Object.fromEntries(AUDIO_CODES.map((c) => [c, "audio"])));
  } finally {
    uploadButton.disabled = false;
    uploadButton.textContent = "Upload voice";
  }
});

// MediaRecorder gives WebM or Ogg with Opus, and WebM is not a container the server
// accepts: decode the recording in the browser and upload it as a 16-bit mono WAV.
async function toWav(blob) {
  const context = new AudioContext();
  const decoded = await context.decodeAudioData(await blob.arrayBuffer());
  context.close();
  const samples = decoded.getChannelData(0);
  const view = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, decoded.sampleRate, true); view.setUint32(28, decoded.sampleRate * 2, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true));
  return new File([view], "recording.wav", { type: "audio/wav" });
}

function setUpRecorder() {
  const button = document.getElementById("record-button");
  const status = document.getElementById("record-status");
  const preview = document.getElementById("record-preview");
  if (!window.MediaRecorder || !navigator.mediaDevices?.getUserMedia) {
    button.disabled = true;
    status.textContent = "Recording is not available in this browser.";
    return;
  }
  let recorder = null;
  let started = 0;
  let ticker = null;
  button.addEventListener("click", async () => {
    if (recorder) return recorder.stop();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      status.textContent = "Microphone access was refused.";
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      clearInterval(ticker);
      recording = await toWav(new Blob(chunks, { type: recorder.mimeType }));
      preview.src = URL.createObjectURL(recording);
      preview.hidden = false;
      status.textContent = `Recorded ${((Date.now() - started) / 1000).toFixed(1)} s`;
      button.textContent = "● Record again";
      recorder = null;
    };
    recorder.start();
    started = Date.now();
    button.textContent = "■ Stop";
    ticker = setInterval(() => { status.textContent = `Recording… ${((Date.now() - started) / 1000).toFixed(0)} s`; }, 250);
  });
}

setUpRecorder();
refresh();
