// Voices page: upload (a file or a recording made here), list with live status, play, delete.
import {
  api, clearErrors, el, formatDate, formatSeconds, languageName, setFieldError, showAlert, showErrors, statusBadge,
} from "./api.js";

const form = document.getElementById("voice-form");
const fields = {
  name: document.getElementById("voice-name"),
  audio: document.getElementById("voice-audio"),
  reference_text: document.getElementById("voice-text"),
  language: document.getElementById("voice-language"),
  engine: document.getElementById("voice-engine"), // only when the deployment serves several engines
  model_id: document.getElementById("voice-model"),
};
for (const [name, node] of Object.entries(fields)) if (!node) delete fields[name]; // one engine: no choice
const modelField = document.getElementById("voice-model-field");
const textHint = document.getElementById("voice-text-hint");
const audioHint = document.getElementById("voice-audio-hint");
const hints = { text: textHint.textContent, audio: audioHint.textContent };
const formAlert = document.getElementById("voice-form-error");
const uploadButton = document.getElementById("upload-button");
const uploadStatus = document.getElementById("upload-status");
const section = document.getElementById("voice-section");
const list = document.getElementById("voice-list");
const empty = document.getElementById("voices-empty");
const loading = document.getElementById("voices-loading");
const listError = document.getElementById("voice-list-error");
const count = document.getElementById("voice-count");
const dialog = document.getElementById("delete-dialog");
const recorderUi = {
  button: document.getElementById("record-button"),
  label: document.querySelector("#record-button .record-label"),
  status: document.getElementById("record-status"),
  timer: document.getElementById("record-timer"),
  preview: document.getElementById("record-preview"),
};

// Errors about the recording itself belong next to the Reference audio field.
const AUDIO_CODES = [
  "INVALID_AUDIO", "AUDIO_TOO_SHORT", "AUDIO_TOO_LONG", "AUDIO_SILENT", "AUDIO_CLIPPED", "AUDIO_NO_SPEECH", "PAYLOAD_TOO_LARGE",
];
const ROUTE = Object.fromEntries(AUDIO_CODES.map((code) => [code, "audio"]));
const MAX_RECORDING_SECONDS = 30;
const formatDay = (iso) => new Date(iso).toLocaleDateString(undefined, { dateStyle: "medium" });

const rows = new Map(); // voice id -> {signature, node}: rows are only rebuilt when they change
let voices = [];
let recording = null; // a File made by the recorder; it replaces the file input
let pollTimer = null;
let uploaded = null; // the voice just uploaded, whose analysis the status line reports

// --- List -------------------------------------------------------------------

async function refresh() {
  clearTimeout(pollTimer);
  try {
    const data = await api("/api/v1/speakers?page_size=200");
    listError.hidden = true;
    render(data.results);
  } catch (error) {
    showAlert(listError, `Could not load your voices: ${error.message}`);
  } finally {
    loading.hidden = true;
    section.removeAttribute("aria-busy");
  }
  // Profiling runs on a worker: look again while any voice is still being analysed.
  if (voices.some((v) => v.status === "PROCESSING")) pollTimer = setTimeout(refresh, 2000);
}

function render(next) {
  voices = next;
  const seen = new Set();
  let cursor = list.firstElementChild;
  for (const voice of voices) {
    seen.add(voice.id);
    const signature = JSON.stringify([voice.name, voice.status, voice.error, voice.duration_seconds]);
    let entry = rows.get(voice.id);
    if (entry && entry.signature !== signature) {
      if (entry.node === cursor) cursor = cursor.nextElementSibling;
      entry.node.remove(); // changed: rebuilt below
      entry = null;
    }
    if (!entry) {
      entry = { signature, node: voiceRow(voice) };
      rows.set(voice.id, entry);
    }
    // Move nodes only when out of place, so a playing <audio> keeps playing.
    if (entry.node === cursor) cursor = cursor.nextElementSibling;
    else list.insertBefore(entry.node, cursor);
  }
  for (const [id, entry] of rows) {
    if (!seen.has(id)) {
      entry.node.remove();
      rows.delete(id);
    }
  }
  empty.hidden = voices.length > 0;
  count.textContent = voices.length ? `${voices.length} ${voices.length === 1 ? "voice" : "voices"}` : "";
  reportAnalysis();
}

// The status line says "being analysed" only while it is: then ready, or why not.
function reportAnalysis() {
  if (!uploaded) return;
  const voice = voices.find((v) => v.id === uploaded.id);
  if (voice?.status === "PROCESSING") return;
  uploadStatus.textContent = !voice ? ""
    : voice.status === "READY" ? `“${voice.name}” is ready.`
    : `“${voice.name}” could not be analysed: ${voice.error?.message || "see the list."}`;
  uploaded = null;
}

function voiceRow(voice) {
  const actions = el("div", { class: "row-actions" });
  const main = el("div", { class: "row-main" },
    el("div", { class: "row-title" }, el("strong", { class: "voice-name", text: voice.name }), statusBadge(voice.status)),
    el("p", { class: "row-meta" },
      el("span", { text: languageName(voice.language) }),
      voice.duration_seconds ? el("span", { text: formatSeconds(voice.duration_seconds) }) : null,
      el("span", { title: formatDate(voice.created_at), text: `Added ${formatDay(voice.created_at)}` })),
    voice.reference_text ? el("p", { class: "quote", text: `“${voice.reference_text}”` }) : null,
    voice.status === "PROCESSING" ? el("p", { class: "hint", text: "Analysing the voice: about 10–30 seconds, longer while the server is busy." }) : null,
    voice.status === "FAILED" ? el("p", { class: "row-error", text: voice.error?.message || "The voice could not be analysed." }) : null);

  // The reference player is made on first use: no audio is fetched until asked for.
  let player = null;
  const play = el("button", {
    type: "button", class: "button ghost small", "aria-label": `Play ${voice.name}`,
    onclick: () => {
      if (!player) {
        player = el("audio", { controls: true, preload: "auto", src: `/api/v1/speakers/${voice.id}/audio` });
        const label = (word) => {
          play.firstChild.className = word === "Pause" ? "icon-pause" : "icon-play";
          play.lastChild.textContent = word;
          play.setAttribute("aria-label", `${word} ${voice.name}`);
        };
        player.addEventListener("play", () => label("Pause"));
        player.addEventListener("pause", () => label("Play"));
        main.append(player);
      }
      if (player.paused) player.play().catch(() => {});
      else player.pause();
    },
  }, el("span", { class: "icon-play", "aria-hidden": "true" }), el("span", { text: "Play" }));
  const remove = el("button", {
    type: "button", class: "button ghost small danger-text", text: "Delete",
    "aria-label": `Delete ${voice.name}`, onclick: () => confirmDelete(voice),
  });
  if (voice.status === "READY") {
    actions.append(el("a", { class: "button secondary small", href: `/synthesize/?voice=${encodeURIComponent(voice.id)}`,
      text: "Use voice", "aria-label": `Use ${voice.name} to synthesize` }));
  }
  actions.append(play, remove);
  return el("li", { class: "row voice-row", "data-id": voice.id },
    el("span", { class: "avatar large", "aria-hidden": "true", text: (voice.name.trim()[0] || "?").toUpperCase() }),
    main, actions);
}

function confirmDelete(voice) {
  dialog.querySelector("h2").textContent = `Delete “${voice.name}”?`;
  dialog.returnValue = "";
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "delete") return;
    try {
      await api(`/api/v1/speakers/${voice.id}`, { method: "DELETE" });
      render(voices.filter((v) => v.id !== voice.id));
    } catch (error) {
      showAlert(listError, `Could not delete “${voice.name}”: ${error.message}`);
    }
  }, { once: true });
  dialog.showModal();
}

// --- Upload -----------------------------------------------------------------

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(fields, formAlert);
  const name = fields.name.value.trim();
  const file = recording || fields.audio.files[0];
  // Every missing field at once, the first focused: not one complaint per attempt.
  const missing = [
    [!name, fields.name, "Give the voice a name."],
    [!file, fields.audio, "Choose an audio file or record one."],
    [fields.reference_text.required && !fields.reference_text.value.trim(), fields.reference_text,
      "Type the words spoken in the clip: this engine needs them."],
  ].filter(([absent]) => absent);
  for (const [, input, message] of missing) setFieldError(input, message);
  if (missing.length) {
    missing[0][1].focus();
    return;
  }
  const body = new FormData();
  body.append("name", name);
  body.append("audio", file, file.name);
  body.append("reference_text", fields.reference_text.value.trim());
  body.append("language", fields.language.value);
  if (fields.engine) {
    body.append("engine", fields.engine.value);
    if (!modelField.hidden && fields.model_id.value) body.append("model_id", fields.model_id.value);
  }

  uploadButton.disabled = true;
  form.setAttribute("aria-busy", "true");
  uploadStatus.textContent = "Uploading…";
  try {
    const voice = await api("/api/v1/speakers", { method: "POST", form: body });
    render([voice, ...voices.filter((v) => v.id !== voice.id)]);
    form.reset();
    applyEngine();
    discardRecording();
    uploadStatus.textContent = `“${voice.name}” uploaded. It is being analysed.`;
    uploaded = voice;
    reportAnalysis(); // an engine that analyses at once answers READY already
    refresh();
  } catch (error) {
    uploadStatus.textContent = "";
    showErrors(error, fields, formAlert, ROUTE);
  } finally {
    uploadButton.disabled = false;
    form.removeAttribute("aria-busy");
  }
});

// The engine decides what the form asks for: its languages, its models, whether the
// reference's transcript is required (GPT-SoVITS's prompt) and how long the clip may be.
function applyEngine() {
  if (!fields.engine) return;
  const option = fields.engine.selectedOptions[0];
  const languages = option.dataset.languages.split(",");
  for (const choice of fields.language.options) choice.hidden = !languages.includes(choice.value);
  if (!languages.includes(fields.language.value)) fields.language.value = languages[0];
  modelField.hidden = !option.dataset.usesModels;
  for (const choice of fields.model_id.options) choice.hidden = choice.dataset.engine !== option.value;
  const needsText = Boolean(option.dataset.needsText);
  fields.reference_text.required = needsText;
  textHint.textContent = needsText ? "Required for this engine: exactly the words spoken in the clip." : hints.text;
  audioHint.textContent = option.dataset.seconds
    ? `WAV, FLAC, OGG or MP3, ${option.dataset.seconds} seconds of speech.`
    : hints.audio;
}
fields.engine?.addEventListener("change", applyEngine);
applyEngine();

// Choosing a file replaces a recording made before.
fields.audio.addEventListener("change", () => {
  if (fields.audio.files.length) discardRecording();
  clearErrors({ audio: fields.audio });
});

// --- Recorder ---------------------------------------------------------------

function discardRecording() {
  recording = null;
  if (recorderUi.preview.src) URL.revokeObjectURL(recorderUi.preview.src);
  recorderUi.preview.removeAttribute("src");
  recorderUi.preview.hidden = true;
  recorderUi.status.textContent = "";
  recorderUi.label.textContent = "Record";
}

// Chrome records WebM, which the server (libsndfile) cannot read: decode it here and
// upload 16-bit mono WAV instead. Ogg/Opus (Firefox) is uploaded as it is.
async function toWav(blob) {
  const context = new AudioContext();
  try {
    const decoded = await context.decodeAudioData(await blob.arrayBuffer());
    const samples = decoded.getChannelData(0);
    const view = new DataView(new ArrayBuffer(44 + samples.length * 2));
    const ascii = (offset, text) => [...text].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
    ascii(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); ascii(8, "WAVE");
    ascii(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, decoded.sampleRate, true); view.setUint32(28, decoded.sampleRate * 2, true);
    view.setUint16(32, 2, true); view.setUint16(34, 16, true);
    ascii(36, "data"); view.setUint32(40, samples.length * 2, true);
    samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true));
    return new File([view], "recording.wav", { type: "audio/wav" });
  } finally {
    context.close();
  }
}

async function recordingFile(chunks, mimeType) {
  const type = mimeType || "audio/webm";
  const blob = new Blob(chunks, { type });
  if (type.includes("ogg")) return new File([blob], "recording.ogg", { type });
  try {
    return await toWav(blob);
  } catch {
    return new File([blob], "recording.webm", { type }); // let the server explain
  }
}

function setUpRecorder() {
  const { button, label, status, timer, preview } = recorderUi;
  if (!window.MediaRecorder || !navigator.mediaDevices?.getUserMedia || !window.AudioContext) {
    button.disabled = true;
    status.textContent = "Recording is not available in this browser (it needs a secure page and a microphone). Choose a file instead.";
    return;
  }
  let recorder = null;
  let started = 0;
  let ticker = null;
  const stop = () => recorder?.state === "recording" && recorder.stop();

  button.addEventListener("click", async () => {
    if (recorder) return stop();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false } });
    } catch {
      status.textContent = "The microphone could not be used. Allow access to it, or choose a file instead.";
      return;
    }
    const chunks = [];
    const preferred = ["audio/ogg;codecs=opus", "audio/webm;codecs=opus"].find((t) => MediaRecorder.isTypeSupported(t));
    recorder = new MediaRecorder(stream, preferred ? { mimeType: preferred } : undefined);
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    recorder.onstop = async () => {
      const seconds = (Date.now() - started) / 1000;
      stream.getTracks().forEach((t) => t.stop());
      clearInterval(ticker);
      button.classList.remove("recording");
      timer.textContent = "";
      status.textContent = "Preparing the recording…";
      const file = await recordingFile(chunks, recorder.mimeType);
      recorder = null;
      discardRecording();
      recording = file;
      fields.audio.value = ""; // the recording is what will be uploaded
      clearErrors({ audio: fields.audio });
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
      status.textContent = `Recorded ${formatSeconds(seconds)}. It will be uploaded.`;
      label.textContent = "Record again";
    };
    recorder.start(250);
    started = Date.now();
    label.textContent = "Stop";
    button.classList.add("recording");
    status.textContent = "Recording… Press Stop when done.";
    timer.textContent = "0:00";
    ticker = setInterval(() => {
      const seconds = (Date.now() - started) / 1000;
      timer.textContent = formatSeconds(seconds); // not a live region: read on demand, not every tick
      if (seconds >= MAX_RECORDING_SECONDS) stop(); // longer references are refused
    }, 250);
  });
}

setUpRecorder();
refresh();
