// API keys page: the month's usage, creating a key (shown once), listing and revoking keys.
import { api, clearErrors, el, formatDate, formatWhen, showAlert, showErrors } from "./api.js";

const $ = (id) => document.getElementById(id);
const form = $("key-form");
const fields = { name: $("key-name") };
const formAlert = $("key-form-error");
const createButton = $("create-key-button");
const list = $("key-list");
const section = $("key-section");
const listError = $("key-list-error");
const secretBox = $("new-key");
const secretValue = $("new-key-value");
const copyStatus = $("copy-status");

async function loadUsage() {
  try {
    const usage = await api("/api/v1/usage");
    const number = (value) => Number(value || 0).toLocaleString();
    $("usage-characters").textContent = number(usage.characters);
    $("usage-tasks").textContent = number(usage.tasks);
    $("usage-voices").textContent = number(usage.voices);
    if (usage.tasks_done !== undefined) $("usage-tasks-done").textContent = `${number(usage.tasks_done)} done`;
    if (usage.period_start) {
      const since = new Date(usage.period_start).toLocaleDateString(undefined, { month: "long", day: "numeric" });
      $("usage-period").textContent = `since ${since}`;
    }
  } catch (error) {
    showAlert($("usage-error"), `Could not load the usage: ${error.message}`);
  }
}

function keyRow(key) {
  const revoked = Boolean(key.revoked_at);
  const label = key.name || key.prefix;
  const revoke = revoked ? null : el("button", {
    type: "button", class: "button ghost small danger-text", text: "Revoke", "aria-label": `Revoke ${label}`,
    onclick: async () => {
      if (!confirm(`Revoke the key “${label}”? Programs using it stop working at once.`)) return;
      revoke.disabled = true;
      try {
        const updated = await api(`/api/v1/keys/${key.id}/revoke`, { method: "POST" });
        row.replaceWith(keyRow({ ...key, revoked_at: new Date().toISOString(), ...updated }));
        // A revoked secret is useless: stop offering it for copying, and recount.
        if (secretBox.dataset.keyId === key.id) hideSecret();
        loadKeys();
      } catch (error) {
        revoke.disabled = false;
        showAlert(listError, `Could not revoke “${label}”: ${error.message}`);
      }
    },
  });
  const row = el("tr", { class: revoked ? "revoked" : "" },
    el("td", { "data-label": "Key" }, el("code", { class: "key-prefix", text: `${key.prefix}…` })),
    el("td", { "data-label": "Name", class: key.name ? "strong" : "muted", text: key.name || "Unnamed" }),
    el("td", { "data-label": "Created" }, el("time", { datetime: key.created_at, text: formatDate(key.created_at) })),
    el("td", { "data-label": "Last used" }, key.last_used_at
      ? el("time", { datetime: key.last_used_at, title: formatDate(key.last_used_at), text: formatWhen(key.last_used_at) })
      : el("span", { class: "muted", text: "Never" })),
    el("td", { "data-label": "Status" },
      el("span", { class: `badge ${revoked ? "bad" : "ok"}`, text: revoked ? "revoked" : "active" })),
    el("td", { class: "cell-actions" }, revoke));
  return row;
}

function hideSecret() {
  secretBox.hidden = true;
  secretValue.textContent = "";
  copyStatus.textContent = "";
  delete secretBox.dataset.keyId;
}

async function loadKeys() {
  try {
    const data = await api("/api/v1/keys");
    // Active keys first, then newest first.
    const keys = [...data.results].sort((a, b) => Boolean(a.revoked_at) - Boolean(b.revoked_at)
      || String(b.created_at).localeCompare(String(a.created_at)));
    list.replaceChildren(...keys.map(keyRow));
    $("keys-empty").hidden = keys.length > 0;
    list.closest(".table-wrap").hidden = keys.length === 0;
    const active = keys.filter((k) => !k.revoked_at).length;
    $("key-count").textContent = keys.length ? `${active} active` : "";
    listError.hidden = true;
  } catch (error) {
    showAlert(listError, `Could not load the keys: ${error.message}`);
  } finally {
    $("keys-loading").hidden = true;
    section.removeAttribute("aria-busy");
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(fields, formAlert);
  createButton.disabled = true;
  try {
    const key = await api("/api/v1/keys", { method: "POST", json: { name: fields.name.value.trim() } });
    // The full key exists only in this answer: show it once, with a copy button.
    secretValue.textContent = key.key;
    secretBox.dataset.keyId = key.id;
    $("new-key-name").textContent = key.name ? `“${key.name}”` : "";
    copyStatus.textContent = "";
    secretBox.hidden = false;
    secretBox.focus();
    form.reset();
    loadKeys();
  } catch (error) {
    showErrors(error, fields, formAlert, { VALIDATION_ERROR: "name" });
  } finally {
    createButton.disabled = false;
  }
});

$("copy-key").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(secretValue.textContent);
    copyStatus.textContent = "Copied to the clipboard.";
  } catch {
    // No clipboard access (plain http, or refused): select the key so Ctrl-C copies it.
    getSelection().selectAllChildren(secretValue);
    copyStatus.textContent = "Selected: press Ctrl+C (⌘+C on a Mac) to copy it.";
  }
});

loadUsage();
loadKeys();
