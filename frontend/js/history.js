// History page: the tenant's tasks, filtered and paginated over REST, kept current by
// one WebSocket for all of them (and a full refetch on every reconnection).
import {
  api, el, formatDate, formatWhen, languageName, liveSocket, showAlert, SIMILARITY_SCALE, similarityLabel, statusBadge,
} from "./api.js";

const $ = (id) => document.getElementById(id);
const list = $("task-list");
const section = $("task-section");
const filter = $("status-filter");
const more = $("load-more");
const empty = $("tasks-empty");
const loading = $("tasks-loading");
const listError = $("task-list-error");
const countText = $("task-count");
const liveState = $("live-state");
const tableWrap = list.closest(".table-wrap");
const PAGE_SIZE = 25;

const rows = new Map(); // task id -> {task, signature, node}
const voices = new Map(); // speaker id -> name
const cancelling = new Set(); // ids of running tasks asked to stop (they stop at their next sentence)
let page = 0;
let total = 0;
let hasMore = false;
let generation = 0; // a newer load() makes older answers stale
let voicesFetchedAt = 0;

// --- Rows -------------------------------------------------------------------

const matchesFilter = (task) => !filter.value || task.status === filter.value;
const signature = (task) => JSON.stringify([task.status, task.progress, task.similarity, task.error, task.speaker_id]);

function taskRow(task) {
  const name = voices.get(task.speaker_id);
  const textCell = el("td", { class: "cell-text", "data-label": "Text" },
    el("p", { class: "task-text", title: task.text, text: task.text || "—" }));
  // One wrapper per cell: on phones each cell is a two-column grid (label, value).
  const statusBox = el("div", { class: "status-cell" }, statusBadge(task.status));
  const status = el("td", { "data-label": "Status" }, statusBox);
  if (task.status === "PROCESSING") {
    statusBox.append(el("div", {
      class: "progress small", role: "progressbar", "aria-label": "Progress",
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(task.progress),
    }, el("div", { class: "progress-fill", style: `width: ${Number(task.progress) || 0}%` })));
  }
  if (task.status === "FAILED" && task.error?.message) statusBox.append(el("p", { class: "row-error", text: task.error.message }));

  const actions = el("td", { class: "cell-actions", "data-label": "Audio" });
  if (task.status === "DONE") {
    let player = null;
    const play = el("button", {
      type: "button", class: "button ghost small", "aria-label": "Play",
      onclick: () => {
        // The player is made on first use, in the row, so nothing is fetched before.
        if (!player) {
          player = el("audio", { controls: true, preload: "auto", src: `/api/v1/tasks/${task.id}/audio` });
          const label = (word) => {
            play.firstChild.className = word === "Pause" ? "icon-pause" : "icon-play";
            play.lastChild.textContent = word;
            play.setAttribute("aria-label", word);
          };
          player.addEventListener("play", () => label("Pause"));
          player.addEventListener("pause", () => label("Play"));
          textCell.append(player);
        }
        if (player.paused) player.play().catch(() => {});
        else player.pause();
      },
    }, el("span", { class: "icon-play", "aria-hidden": "true" }), el("span", { text: "Play" }));
    actions.append(el("div", { class: "row-actions" },
      play,
      el("a", { class: "button ghost small", href: `/api/v1/tasks/${task.id}/audio?download=1`, download: true, text: "Download" })));
  }
  if (task.status === "PENDING" || task.status === "PROCESSING") {
    const asked = cancelling.has(task.id);
    actions.append(el("div", { class: "row-actions" }, el("button", {
      type: "button", class: "button ghost small danger-text", disabled: asked,
      text: asked ? "Cancelling…" : "Cancel", "aria-label": asked ? "Cancelling the task" : "Cancel the task",
      onclick: (event) => cancel(task, event.currentTarget),
    })));
  }
  return el("tr", { "data-id": task.id, "data-status": task.status },
    el("td", { class: "cell-when", "data-label": "Created" },
      el("time", { datetime: task.created_at, title: formatDate(task.created_at), text: formatWhen(task.created_at) })),
    textCell,
    el("td", { "data-label": "Voice", class: name ? "" : "muted", text: name || (voices.size ? "Deleted voice" : "—") }),
    el("td", { "data-label": "Language", text: languageName(task.language) }),
    status,
    similarityCell(task.similarity),
    actions);
}

// The score with what it means; the scale in the tooltip.
function similarityCell(score) {
  if (typeof score !== "number") return el("td", { class: "num", "data-label": "Similarity", text: "—" });
  return el("td", { class: "num", "data-label": "Similarity", title: `Similarity to the voice: ${SIMILARITY_SCALE}` },
    el("span", { text: score.toFixed(2) }), el("span", { class: "similarity-label", text: ` — ${similarityLabel(score)}` }));
}

async function cancel(task, button) {
  button.disabled = true;
  button.textContent = "Cancelling…";
  cancelling.add(task.id);
  try {
    upsert(await api(`/api/v1/tasks/${task.id}/cancel`, { method: "POST" }));
  } catch (error) {
    cancelling.delete(task.id);
    // 409: it ended meanwhile; its row catches up from the answer below (or the socket).
    if (error.code !== "CONFLICT") showAlert(listError, `Could not cancel the task: ${error.message}`);
    try {
      upsert(await api(`/api/v1/tasks/${task.id}`));
    } catch {
      // The socket brings its state.
    }
    button.disabled = false;
    button.textContent = "Cancel";
  }
  updateFooter();
}

function onlyProgressMoved(entry, task) {
  const sameOtherwise = signature({ ...entry.task, progress: task.progress }) === signature(task);
  return sameOtherwise && task.status === "PROCESSING" && Boolean(entry.node.querySelector('[role="progressbar"]'));
}

// Put a task in the table: replace its row if it changed, drop it if it left the filter,
// or (live updates only) insert a new one in date order.
function upsert(task, { live = false } = {}) {
  if (task.status !== "PENDING" && task.status !== "PROCESSING") cancelling.delete(task.id);
  const entry = rows.get(task.id);
  if (!matchesFilter(task)) {
    if (entry) {
      entry.node.remove();
      rows.delete(task.id);
      total = Math.max(0, total - 1);
    }
    return;
  }
  if (!voices.has(task.speaker_id)) refreshVoices();
  const sig = signature(task);
  if (entry) {
    if (entry.signature === sig) return; // unchanged: keep the row (and a playing <audio>)
    if (onlyProgressMoved(entry, task)) {
      // Moved in place: a rebuilt row every step would take a Cancel button from under a finger.
      const bar = entry.node.querySelector('[role="progressbar"]');
      bar.setAttribute("aria-valuenow", String(task.progress));
      bar.firstChild.style.width = `${Number(task.progress) || 0}%`;
      Object.assign(entry, { task, signature: sig });
      return;
    }
    const node = taskRow(task);
    entry.node.replaceWith(node);
    Object.assign(entry, { task, signature: sig, node });
    return;
  }
  if (!live) {
    const node = taskRow(task);
    list.append(node);
    rows.set(task.id, { task, signature: sig, node });
    return;
  }
  // A live task older than everything loaded belongs to a page not fetched yet.
  const older = [...rows.values()].find((r) => r.task.created_at < task.created_at);
  if (!older && hasMore) return;
  const node = taskRow(task);
  list.insertBefore(node, older ? older.node : null);
  rows.set(task.id, { task, signature: sig, node });
  total += 1;
}

function updateFooter() {
  empty.hidden = rows.size > 0;
  tableWrap.hidden = rows.size === 0;
  $("tasks-empty-text").hidden = Boolean(filter.value);
  empty.querySelector(".empty-title").textContent = filter.value ? "No tasks with this status" : "Nothing here yet";
  more.hidden = !hasMore;
  countText.textContent = rows.size ? `Showing ${rows.size} of ${Math.max(total, rows.size)}` : "";
}

// --- Loading ----------------------------------------------------------------

async function load({ append = false } = {}) {
  const mine = append ? generation : ++generation;
  const query = new URLSearchParams({ page: String(append ? page + 1 : 1), page_size: String(PAGE_SIZE) });
  if (filter.value) query.set("status", filter.value);
  more.disabled = true;
  try {
    const data = await api(`/api/v1/tasks?${query}`);
    if (mine !== generation) return; // the filter changed meanwhile
    if (!append) {
      list.replaceChildren();
      rows.clear();
    }
    page = append ? page + 1 : 1;
    total = data.count;
    hasMore = Boolean(data.next);
    data.results.forEach((task) => upsert(task));
    listError.hidden = true;
  } catch (error) {
    showAlert(listError, `Could not load the tasks: ${error.message}`);
  } finally {
    more.disabled = false;
    loading.hidden = true;
    section.removeAttribute("aria-busy");
    updateFooter();
  }
}

async function refreshVoices() {
  if (Date.now() - voicesFetchedAt < 5000) return; // unknown ids may be deleted voices: do not hammer
  voicesFetchedAt = Date.now();
  const missing = [...rows.values()].filter((entry) => !voices.has(entry.task.speaker_id));
  try {
    const data = await api("/api/v1/speakers?page_size=200");
    data.results.forEach((v) => voices.set(v.id, v.name));
    // Rebuild only the rows whose voice name was missing.
    for (const entry of missing) {
      const node = taskRow(entry.task);
      entry.node.replaceWith(node);
      entry.node = node;
    }
  } catch {
    // Names are a nicety; the table works without them.
  }
}

// --- Live -------------------------------------------------------------------

function setLive(state, text) {
  liveState.dataset.state = state;
  liveState.textContent = text;
}

function startLive() {
  liveSocket("/ws/tasks/", {
    onOpen: (count) => {
      setLive("live", "Live");
      if (count > 1) load(); // updates may have been lost while disconnected
    },
    onDown: (event) => setLive("down", event.code === 4403 ? "Live updates unavailable" : "Reconnecting…"),
    onMessage: (message) => {
      if (message.type === "snapshot") message.tasks.forEach((task) => upsert(task, { live: true }));
      else if (message.type === "task") upsert(message.task, { live: true });
      updateFooter();
    },
  });
}

filter.addEventListener("change", () => {
  // Keep the filter in the address, so a reload or a shared link shows the same list.
  const url = new URL(location.href);
  if (filter.value) url.searchParams.set("status", filter.value);
  else url.searchParams.delete("status");
  history.replaceState(null, "", url);
  section.setAttribute("aria-busy", "true");
  load();
});
more.addEventListener("click", () => load({ append: true }));

// Relative times ("5 minutes ago") go stale: refresh them every minute.
setInterval(() => {
  for (const time of list.querySelectorAll("time")) time.textContent = formatWhen(time.getAttribute("datetime"));
}, 60000);

async function start() {
  const wanted = new URLSearchParams(location.search).get("status");
  if (wanted && [...filter.options].some((o) => o.value === wanted)) filter.value = wanted;
  await refreshVoices();
  await load();
  startLive();
}

start();
