// Privacy page (owners): file data-subject requests and follow them to their export link.
import { api, clearErrors, el, formatDate, setFieldError, showAlert, showErrors, statusBadge } from "./api.js";

const $ = (id) => document.getElementById(id);
const form = $("request-form");
const kind = $("request-kind");
const voices = $("request-voices");
const confirmInput = $("erase-confirm");
const fields = { kind, subject: $("request-subject"), speaker_ids: $("request-voices-field"), confirm: confirmInput };
const workspace = form.dataset.workspace;
const button = $("request-button");
const formAlert = $("request-form-error");
const list = $("request-list");
const listError = $("request-list-error");
const KINDS = { access: "Access", portability: "Portability", erasure: "Erasure", tenant_erasure: "Workspace erasure" };
let refresh = null;

async function loadVoices() {
  try {
    const data = await api("/api/v1/speakers?page_size=100");
    voices.replaceChildren(...data.results.map((voice) => el("label", { class: "choice" },
      el("input", { type: "checkbox", name: "speaker_ids", value: voice.id }), ` ${voice.name}`)));
    if (!data.results.length) voices.replaceChildren(el("p", { class: "muted", text: "No voices." }));
  } catch (error) {
    voices.replaceChildren(el("p", { class: "muted", text: `Could not load the voices: ${error.message}` }));
  }
}

function requestRow(request) {
  const exportLink = request.export_url
    ? el("a", { class: "button small", href: request.export_url, text: "Download export" })
    : null;
  return el("tr", {},
    el("td", { "data-label": "Filed" }, el("time", { datetime: request.created_at, text: formatDate(request.created_at) })),
    el("td", { "data-label": "Request", class: "strong", text: KINDS[request.kind] || request.kind }),
    el("td", { "data-label": "About", text: request.subject || "–" }),
    el("td", { "data-label": "Status" }, statusBadge(request.status),
      request.error ? el("span", { class: "hint", text: ` ${request.error}` }) : null),
    el("td", { "data-label": "Due" }, el("time", { datetime: request.due_at, text: formatDate(request.due_at) })),
    el("td", { class: "cell-actions" }, exportLink));
}

async function loadRequests() {
  try {
    const requests = (await api("/api/v1/privacy/requests?page_size=100")).results;
    list.replaceChildren(...requests.map(requestRow));
    $("requests-empty").hidden = requests.length > 0;
    list.closest(".table-wrap").hidden = requests.length === 0;
    listError.hidden = true;
    // Poll while any request is being worked: they finish in seconds to minutes.
    clearTimeout(refresh);
    if (requests.some((r) => r.status === "RECEIVED" || r.status === "PROCESSING")) refresh = setTimeout(loadRequests, 2000);
  } catch (error) {
    showAlert(listError, `Could not load the requests: ${error.message}`);
  } finally {
    $("requests-loading").hidden = true;
    $("request-section").removeAttribute("aria-busy");
  }
}

// Erasing the workspace asks for its name typed out, not a click on a native dialog.
function showKind() {
  const wholeWorkspace = kind.value === "tenant_erasure";
  fields.speaker_ids.hidden = wholeWorkspace;
  $("request-subject-field").hidden = wholeWorkspace;
  $("erase-confirm-field").hidden = !wholeWorkspace;
  button.textContent = wholeWorkspace ? "Erase this workspace" : "File request";
  button.classList.toggle("danger", wholeWorkspace);
  button.classList.toggle("primary", !wholeWorkspace);
}

kind.addEventListener("change", showKind);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(fields, formAlert);
  const body = {
    kind: kind.value,
    subject: fields.subject.value.trim(),
    speaker_ids: [...voices.querySelectorAll("input:checked")].map((box) => box.value),
  };
  if (body.kind === "tenant_erasure") {
    body.subject = "";
    body.speaker_ids = [];
    if (confirmInput.value.trim() !== workspace) {
      setFieldError(confirmInput, `Type the workspace's name, ${workspace}, exactly as shown to confirm.`);
      confirmInput.focus();
      return;
    }
  }
  if (body.kind === "erasure"
      && !confirm("Erase the selected voices and everything made with them? This cannot be undone.")) return;
  button.disabled = true;
  try {
    await api("/api/v1/privacy/requests", { method: "POST", json: body });
    // The server has signed this browser out and closed the workspace: nothing here works any more.
    if (body.kind === "tenant_erasure") return location.assign("/erased/");
    form.reset();
    showKind();
    loadRequests();
    if (body.kind === "erasure") loadVoices();
  } catch (error) {
    showErrors(error, fields, formAlert);
  } finally {
    button.disabled = false;
  }
});

showKind(); // a reload may have kept the chosen kind
loadVoices();
loadRequests();
