import { api, el, formatDate, liveSocket, statusBadge } from "./api.js";

const list = document.getElementById("task-list");
const empty = document.getElementById("tasks-empty");
const filter = document.getElementById("status-filter");
const more = document.getElementById("load-more");
const rows = new Map(); // task id -> <li>
let voices = {};
let nextPage = null;

function taskRow(task) {
  const actions = el("div", { class: "row-actions" });
  if (task.status === "DONE") {
    const player = el("audio", { controls: "", preload: "none", hidden: "" });
    actions.append(
      el("button", { type: "button", class: "button ghost small", text: "Play", "aria-label": "Play this task's audio",
        onclick: () => { player.src = `/api/v1/tasks/${task.id}/audio`; player.hidden = false; player.play(); } }),
      el("a", { class: "button ghost small", href: `/api/v1/tasks/${task.id}/audio?download=1`, text: "Download" }),
    );
    actions.append(player);
  }
  const meta = [formatDate(task.created_at), voices[task.speaker_id] || "deleted voice", task.language];
  if (task.similarity != null) meta.push(`similarity ${task.similarity.toFixed(2)}`);
  const progress = task.status === "PROCESSING"
    ? el("div", { class: "progress small", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
        "aria-valuenow": String(task.progress), "aria-label": "Progress" },
      el("div", { class: "progress-fill", style: `width: ${task.progress}%` }))
    : null;
  return el("li", { class: "row", "data-id": task.id },
    el("div", { class: "row-main" },
      el("div", { class: "row-title" }, el("span", { class: "task-text", text: task.text }), statusBadge(task.status)),
      el("p", { class: "row-meta", text: meta.join(" · ") }),
      task.status === "FAILED" && task.error ? el("p", { class: "field-error", text: task.error.message }) : null,
      progress),
    actions);
}

function upsert(task, { prepend = false } = {}) {
  if (filter.value && task.status !== filter.value) {
    rows.get(task.id)?.remove();
    rows.delete(task.id);
  } else {
    const row = taskRow(task);
    const existing = rows.get(task.id);
    if (existing) existing.replaceWith(row);
    else if (prepend) list.prepend(row);
    else list.append(row);
    rows.set(task.id, row);
  }
  empty.hidden = rows.size > 0;
}

async function load(page = null) {
  const query = new URLSearchParams({ page_size: "25" });
  if (filter.value) query.set("status", filter.value);
  const data = await api(page || `/api/v1/tasks?${query}`);
  if (!page) { list.replaceChildren(); rows.clear(); }
  data.results.forEach((task) => upsert(task));
  nextPage = data.next;
  more.hidden = !nextPage;
  empty.hidden = rows.size > 0;
}

async function start() {
  const data = await api("/api/v1/speakers?page_size=200");
  voices = Object.fromEntries(data.results.map((v) => [v.id, v.name]));
  await load();
  // Live updates for every task of the tenant; on each (re)connect, reload: messages may have been lost.
  liveSocket("/ws/tasks/", (message) => {
    if (message.type === "task") upsert(message.task, { prepend: true });
  }, () => load());
}

filter.addEventListener("change", () => load());
more.addEventListener("click", () => nextPage && load(nextPage));
start();
