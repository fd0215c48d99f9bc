// The settings page: change email (POST /v1/user/email: a link goes to the new address),
// change password (POST /v1/user/password), exporting your data (POST /v1/user/exports,
// then its progress until the file is ready to download once), and deleting the account
// (POST /v1/user/delete with your email and password; the API signs you out).

import { api } from "./api.js";
import { dateTime } from "./format.js";

const state = JSON.parse(document.getElementById("chuk-state").textContent);
const EXPORT_CHECK_MS = 1500;

function statusOf(form) {
  return form.querySelector(".form-status");
}

function say(form, text, kind = "") {
  const status = statusOf(form);
  status.textContent = text;
  status.className = `form-status ${kind}`.trim();
  status.hidden = !text;
}

// Runs `action` for a form's submit, with its button disabled meanwhile and any refusal said.
function handle(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector('[type="submit"]');
    button.disabled = true;
    say(form, "");
    try {
      await action(new FormData(form));
    } catch (error) {
      say(form, error.message, "error");
    } finally {
      button.disabled = false;
    }
  });
}

// --- Email ----------------------------------------------------------------------------------

const emailForm = document.getElementById("email-form");
handle(emailForm, async (data) => {
  const answer = await api("/v1/user/email", { method: "POST", body: { email: String(data.get("email")).trim() } });
  const pending = document.getElementById("email-pending");
  pending.replaceChildren(
    "We sent a confirmation link to ",
    Object.assign(document.createElement("strong"), { textContent: answer.pendingEmail }),
    ". Your email changes when you follow it.",
  );
  pending.hidden = false;
  emailForm.reset();
});

// --- Password -------------------------------------------------------------------------------

const passwordForm = document.getElementById("password-form");
handle(passwordForm, async (data) => {
  if (data.get("new_password") !== data.get("again")) {
    say(passwordForm, "The two new passwords are not the same.", "error");
    passwordForm.elements.again.focus();
    return;
  }
  await api("/v1/user/password", {
    method: "POST",
    body: { current_password: data.get("current_password"), new_password: data.get("new_password") },
  });
  passwordForm.reset();
  say(passwordForm, "Your password is changed. You stay signed in here.", "success");
});

// --- Export ---------------------------------------------------------------------------------

const exportButton = document.getElementById("export-request");
const exportList = document.getElementById("exports");
let exports = state.exports;

const EXPORT_STATES = {
  pending: "Preparing your export…",
  ready: "Ready to download (once)",
  downloaded: "Downloaded",
  expired: "Expired",
  failed: "Failed: please try again",
};

function renderExports() {
  exportList.replaceChildren(
    ...exports.map((item) => {
      const row = document.createElement("li");
      row.className = `export export-${item.status}`;
      row.dataset.id = item.id;
      const when = document.createElement("span");
      when.className = "export-when";
      when.textContent = dateTime(item.createdAt);
      const what = document.createElement("span");
      what.className = "export-state";
      what.textContent = EXPORT_STATES[item.status] || item.status;
      row.append(when, what);
      if (item.status === "pending") {
        const progress = document.createElement("progress");
        progress.setAttribute("aria-label", "Preparing your export");
        row.append(progress);
      }
      if (item.status === "ready" && item.downloadUrl) {
        const link = document.createElement("a");
        link.className = "btn btn-primary btn-small";
        link.href = item.downloadUrl;
        link.download = "";
        link.textContent = `Download (${Math.max(1, Math.round(item.size / 1024))} KB)`;
        link.addEventListener("click", () => {
          // The server hands it over once; afterwards the link would only say it is gone.
          setTimeout(() => {
            exports = exports.map((e) => (e.id === item.id ? { ...e, status: "downloaded", downloadUrl: null } : e));
            renderExports();
          }, 0);
        });
        row.append(link);
      }
      return row;
    }),
  );
  exportButton.disabled = exports.some((e) => e.status === "pending");
}

function replaceExport(updated) {
  exports = [updated, ...exports.filter((e) => e.id !== updated.id)].sort((a, b) => b.id - a.id);
  renderExports();
}

async function follow(exportId) {
  // The export is built by a Celery job that reports nothing while it runs: check until done
  // (for ten minutes; a reload looks again).
  const deadline = Date.now() + 10 * 60 * 1000;
  while (Date.now() < deadline) {
    let current;
    try {
      current = await api(`/v1/user/exports/${exportId}`);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, EXPORT_CHECK_MS * 2));
      continue;
    }
    replaceExport(current);
    if (current.status !== "pending") return current;
    await new Promise((resolve) => setTimeout(resolve, EXPORT_CHECK_MS));
  }
  return null;
}

exportButton.addEventListener("click", async () => {
  exportButton.disabled = true;
  try {
    const started = await api("/v1/user/exports", { method: "POST" });
    replaceExport(started);
    const done = await follow(started.id);
    if (done && done.status === "ready") exportList.querySelector(`[data-id="${done.id}"] a`)?.focus();
  } catch (error) {
    const failed = document.createElement("li");
    failed.className = "export export-failed";
    failed.textContent = error.message;
    exportList.prepend(failed);
    exportButton.disabled = false;
  }
});

renderExports();
for (const item of exports) if (item.status === "pending") follow(item.id);

// --- Delete ---------------------------------------------------------------------------------

const deleteForm = document.getElementById("delete-form");
handle(deleteForm, async (data) => {
  await api("/v1/user/delete", {
    method: "POST",
    body: { confirm: String(data.get("confirm")).trim(), password: data.get("password") },
  });
  // Signed out by the API: the landing page says what happened.
  location.assign("/?account=deleted");
});

document.documentElement.dataset.ready = "true";
