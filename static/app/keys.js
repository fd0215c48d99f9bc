// The API keys page: the list (GET /v1/user/keys, handed to the page at load), creating one
// (POST; its plaintext is shown here once, with a copy button), renaming (PATCH) and revoking
// after a confirmation (DELETE /v1/user/keys/{id}).

import { api } from "./api.js";
import { copyText } from "./clipboard.js";
import { dateTime, money } from "./format.js";
import { confirmer, toaster } from "./notices.js";

const state = JSON.parse(document.getElementById("chuk-state").textContent);
const toast = toaster(document.getElementById("toast"));
const confirm = confirmer(document.getElementById("confirm-dialog"));
const form = document.getElementById("key-form");
const status = document.getElementById("key-form-status");
const reveal = document.getElementById("new-key");
const secret = document.getElementById("new-key-value");
const body = document.getElementById("keys");
const empty = document.getElementById("keys-empty");

let keys = state.keys;

// `label` names the cell where a phone shows the rows as cards, without the header row.
function cell(text, className, label) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (label) td.dataset.label = label;
  td.textContent = text;
  return td;
}

function row(key) {
  const tr = document.createElement("tr");
  tr.dataset.id = key.id;
  if (key.revoked) tr.className = "revoked";
  const name = document.createElement("th");
  name.scope = "row";
  name.className = "key-name";
  name.textContent = key.name;
  const prefix = cell("", "key-prefix");
  const code = document.createElement("code");
  code.textContent = `${key.prefix}…`;
  prefix.append(code);
  const standing = cell("", "key-status");
  const badge = document.createElement("span");
  badge.className = `badge ${key.revoked ? "badge-revoked" : "badge-active"}`;
  badge.textContent = key.revoked ? "Revoked" : "Active";
  standing.append(badge);
  const actions = cell("", "row-actions");
  if (!key.revoked) {
    const rename = document.createElement("button");
    rename.type = "button";
    rename.className = "btn btn-ghost btn-small";
    rename.textContent = "Rename";
    rename.setAttribute("aria-label", `Rename ${key.name}`);
    rename.addEventListener("click", () => startRename(key, name, rename));
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "btn btn-ghost btn-small danger-text";
    revoke.textContent = "Revoke";
    revoke.setAttribute("aria-label", `Revoke ${key.name}`);
    revoke.addEventListener("click", () => revokeKey(key, revoke));
    actions.append(rename, revoke);
  }
  tr.append(
    name,
    prefix,
    cell(dateTime(key.createdAt), "key-meta", "Created"),
    cell(key.lastUsedAt ? dateTime(key.lastUsedAt) : "Never", "key-meta", "Last used"),
    cell(key.monthlySpendLimit === null ? "None" : money(key.monthlySpendLimit), "num key-meta", "Monthly cap"),
    standing,
    actions,
  );
  return tr;
}

function render() {
  body.replaceChildren(...keys.map(row));
  empty.hidden = keys.length > 0;
}

function replace(updated) {
  keys = keys.map((key) => (key.id === updated.id ? updated : key));
  render();
}

function say(text, kind = "") {
  status.textContent = text;
  status.className = `form-status ${kind}`.trim();
  status.hidden = !text;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = form.elements.name.value.trim();
  const cap = form.elements.monthly_spend_limit.value.trim();
  if (!name) {
    say("Give the key a name, so you can tell it from the others.", "error");
    form.elements.name.focus();
    return;
  }
  const submit = form.querySelector('[type="submit"]');
  submit.disabled = true;
  say("Creating the key…");
  try {
    const created = await api("/v1/user/keys", {
      method: "POST",
      body: { name, ...(cap ? { monthly_spend_limit: cap } : {}) },
    });
    const { key: plaintext, ...listed } = created;
    keys = [listed, ...keys];
    render();
    form.reset();
    say("");
    reveal.querySelector("[data-new-key-name]").textContent = `“${listed.name}”`;
    secret.value = plaintext;
    reveal.hidden = false;
    reveal.focus();
    secret.select();
  } catch (error) {
    say(error.message, "error");
  } finally {
    submit.disabled = false;
  }
});

document.getElementById("copy-key").addEventListener("click", (event) => {
  copyText(event.currentTarget, secret.value);
});

document.getElementById("hide-key").addEventListener("click", () => {
  // Gone from the page for good: the server never shows it again either.
  secret.value = "";
  reveal.hidden = true;
  form.elements.name.focus();
});

function startRename(key, nameCell, button) {
  const input = document.createElement("input");
  input.type = "text";
  input.className = "inline-rename";
  input.maxLength = 100;
  input.value = key.name;
  input.setAttribute("aria-label", `New name for ${key.name}`);
  nameCell.replaceChildren(input);
  button.disabled = true;
  input.focus();
  input.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const name = input.value.trim();
    if (!save || !name || name === key.name) {
      render();
      return;
    }
    try {
      replace(await api(`/v1/user/keys/${key.id}`, { method: "PATCH", body: { name } }));
      toast(`Renamed to “${name}”.`);
    } catch (error) {
      render();
      toast(error.message);
    }
    body.querySelector(`tr[data-id="${key.id}"] button`)?.focus();
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      finish(true);
    } else if (event.key === "Escape") {
      event.preventDefault();
      finish(false);
    }
  });
  input.addEventListener("blur", () => finish(true));
}

async function revokeKey(key, button) {
  const sure = await confirm({
    title: `Revoke “${key.name}”?`,
    text: "Anything using this key stops working within seconds. This cannot be undone; its past usage stays in your records.",
    action: "Revoke key",
  });
  if (!sure) {
    button.focus();
    return;
  }
  try {
    replace(await api(`/v1/user/keys/${key.id}`, { method: "DELETE" }));
    toast(`“${key.name}” is revoked.`);
  } catch (error) {
    toast(error.message);
  }
}

render();

document.documentElement.dataset.ready = "true";
