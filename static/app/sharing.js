// Sharing the open chat and importing one, in the chat app (sharing/ on the server).
// "Share" in the chat's header makes the chat's read-only link (POST
// /v1/conversations/{id}/share, which returns the working link if there is one) and shows it
// with a copy button and "Stop sharing" (DELETE). The shared page shows the chat as it is when
// opened, so the dialog says that messages added later are shared too. "Import chat" in the
// list of chats sends a chat exported as JSON to POST /v1/conversations/import and opens it.

import { api, csrfToken, errorFrom } from "./api.js";
import { copyText } from "./clipboard.js";
import { icon } from "./icons.js";

const IMPORT_MAX_BYTES = 10 * 1024 * 1024; // as the API's limit (sharing/imports.py)

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function toast(message) {
  const box = document.getElementById("toast");
  if (!box) return;
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 4000);
}

// The open chat's id, from its address (/c/<id>); null on a new chat.
function openChatId() {
  const match = location.pathname.match(/^\/c\/(\d+)$/);
  return match ? Number(match[1]) : null;
}

function shareDialog() {
  const dialog = element("dialog", "confirm share-dialog");
  dialog.id = "share-dialog";
  dialog.setAttribute("aria-labelledby", "share-title");
  const title = element("h2", "", "Share this chat");
  title.id = "share-title";
  const text = element(
    "p",
    "",
    "Anyone with this link can read this chat, without signing in. It shows the chat as it is " +
      "when they open it: messages you add later are shared too, until you stop sharing.",
  );
  const label = element("label", "visually-hidden", "Link to this chat");
  label.htmlFor = "share-url";
  const field = element("div", "share-field");
  const url = document.createElement("input");
  url.id = "share-url";
  url.type = "text";
  url.readOnly = true;
  url.className = "share-url";
  const copy = element("button", "btn btn-primary btn-small share-copy");
  copy.type = "button";
  copy.append(icon("copy", "icon icon-small"), element("span", "copy-label", "Copy"));
  copy.setAttribute("aria-label", "Copy the link");
  field.append(url, copy);
  const actions = element("div", "dialog-actions");
  const stop = element("button", "btn btn-danger", "Stop sharing");
  stop.type = "button";
  const close = element("button", "btn btn-ghost", "Close");
  close.type = "button";
  actions.append(stop, close);
  dialog.append(title, text, label, field, actions);
  document.body.append(dialog);
  copy.addEventListener("click", () => copyText(copy, url.value));
  close.addEventListener("click", () => dialog.close());
  url.addEventListener("focus", () => url.select());
  return { dialog, url, stop };
}

export function wireSharing() {
  const button = document.getElementById("share-chat");
  if (!button) return;
  const { dialog, url, stop } = shareDialog();
  let sharedId = null;
  // However it closes (Esc, Close, Stop sharing), focus goes back to Share: the button was
  // disabled while the link was made, so the dialog has no earlier focus to give back.
  dialog.addEventListener("close", () => button.focus());

  button.addEventListener("click", async () => {
    const id = openChatId();
    if (id === null) {
      toast("Send a message first: a new chat has nothing to share yet.");
      return;
    }
    button.disabled = true;
    try {
      const link = await api(`/v1/conversations/${id}/share`, { method: "POST" });
      sharedId = id;
      url.value = new URL(link.path, location.origin).href;
      dialog.showModal();
      url.focus();
    } catch (error) {
      toast(error.message);
    } finally {
      button.disabled = false;
    }
  });

  stop.addEventListener("click", async () => {
    if (sharedId === null) return;
    stop.disabled = true;
    try {
      await api(`/v1/conversations/${sharedId}/share`, { method: "DELETE" });
      dialog.close();
      button.focus();
      toast("Sharing stopped: the link no longer works.");
    } catch (error) {
      toast(error.message);
    } finally {
      stop.disabled = false;
    }
  });
}

export function wireImport() {
  const button = document.getElementById("import-chat");
  const input = document.getElementById("import-file");
  if (!button || !input) return;
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", async () => {
    const [file] = input.files;
    input.value = "";
    if (!file) return;
    if (file.size > IMPORT_MAX_BYTES) {
      toast("That file is too large to import (at most 10 MB).");
      return;
    }
    button.disabled = true;
    try {
      // The file goes as it is: the API says what is wrong with one that is not a chat.
      const response = await fetch("/v1/conversations/import", {
        method: "POST",
        headers: {
          Accept: "application/json",
          "Content-Type": "application/json",
          "X-CSRFToken": csrfToken(),
        },
        body: await file.text(),
        credentials: "same-origin",
      });
      if (!response.ok) throw await errorFrom(response);
      const conversation = await response.json();
      location.assign(`/c/${conversation.id}`); // the imported chat, first in the list
    } catch (error) {
      toast(`Could not import ${file.name}: ${error.message}`);
      button.disabled = false;
    }
  });
}

wireSharing();
wireImport();
