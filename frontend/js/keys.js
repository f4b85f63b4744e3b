import { api, clearErrors, el, formatDate, showErrors } from "./api.js";

const form = document.getElementById("key-form");
const fields = { name: document.getElementById("key-name") };
const list = document.getElementById("key-list");
const box = document.getElementById("new-key");
const value = document.getElementById("new-key-value");
const copyStatus = document.getElementById("copy-status");

async function loadUsage() {
  const usage = await api("/api/v1/usage");
  document.getElementById("usage-characters").textContent = usage.characters.toLocaleString();
  document.getElementById("usage-tasks").textContent = usage.tasks.toLocaleString();
  document.getElementById("usage-voices").textContent = usage.voices.toLocaleString();
}

function keyRow(key) {
  const revoked = Boolean(key.revoked_at);
  return el("li", { class: "row" },
    el("div", { class: "row-main" },
      el("div", { class: "row-title" },
        el("code", { text: `${key.prefix}…` }),
        el("strong", { text: key.name || "unnamed" }),
        el("span", { class: `badge ${revoked ? "bad" : "ok"}`, text: revoked ? "revoked" : "active" })),
      el("p", { class: "row-meta", text: `created ${formatDate(key.created_at)} · last used ${formatDate(key.last_used_at)}` })),
    revoked ? null : el("div", { class: "row-actions" },
      el("button", { type: "button", class: "button ghost small danger-text", text: "Revoke",
        "aria-label": `Revoke ${key.name || key.prefix}`,
        onclick: async () => {
          if (!confirm(`Revoke the key “${key.name || key.prefix}”? Programs using it will stop working.`)) return;
          await api(`/api/v1/keys/${key.id}/revoke`, { method: "POST" });
          loadKeys();
        } })));
}

async function loadKeys() {
  const data = await api("/api/v1/keys");
  list.replaceChildren(...data.results.map(keyRow));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(fields, null);
  try {
    const key = await api("/api/v1/keys", { method: "POST", json: { name: fields.name.value.trim() } });
    value.textContent = key.key;
    box.hidden = false;
    copyStatus.textContent = "";
    form.reset();
    loadKeys();
  } catch (error) {
    showErrors(error, fields, document.createElement("p"), { VALIDATION_ERROR: "name", PERMISSION_DENIED: "name" });
  }
});

document.getElementById("copy-key").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(value.textContent);
    copyStatus.textContent = "Copied.";
  } catch {
    // No clipboard permission (e.g. plain http): select the text so Ctrl-C works.
    getSelection().selectAllChildren(value);
    copyStatus.textContent = "Press Ctrl-C (⌘-C) to copy the selected key.";
  }
});

loadUsage();
loadKeys();
