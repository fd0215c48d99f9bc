// The chat app: reads what the page was rendered with, and wires the parts together.

import { refreshBalance } from "./balance.js";
import { Chat } from "./chat.js";
import { ChatSettings } from "./chatsettings.js";
import { Compare, ComparePicker } from "./compare.js";
import { Composer } from "./composer.js";
import { convertDocument } from "./documents.js";
import { ImageMode, savedImageCard } from "./imagegen.js";
import { ModelPicker } from "./models.js";
import { confirmer, toaster } from "./notices.js";
import { ReadAloud } from "./readaloud.js";
import { refusalText } from "./refusals.js";
import { Sidebar } from "./sidebar.js";
import { ChatSocket } from "./socket.js";
import { Thread } from "./thread.js";
import { VoiceInput } from "./voice.js";

const state = JSON.parse(document.getElementById("chuk-state").textContent);
const shell = document.querySelector(".shell");
const toast = toaster(document.getElementById("toast"));

const socket = new ChatSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ai/chat/ws`);
socket.addEventListener("unauthorised", () => {
  toast("You have been signed out. Reloading…");
  setTimeout(() => location.reload(), 1500);
});
socket.connect();

let chat = null;
let imageMode = null;
let compare = null;

// The balance in the sidebar, read again once an answer or a job has been charged.
let balanceTimer = null;
function spent() {
  clearTimeout(balanceTimer);
  balanceTimer = setTimeout(() => refreshBalance(), 300);
}

const composer = new Composer({
  form: document.getElementById("composer"),
  dropZone: document.getElementById("main"),
  onSend: (message) => compare.send(message) || chat.send(message),
  onStop: () => compare.stop() || chat.stop(),
  onImage: (prompt) => imageMode.create(prompt),
  convert: (file, onProgress) => convertDocument({ file, socket, onProgress }),
});

const picker = new ModelPicker({
  root: document.getElementById("model-picker"),
  models: state.models,
  fallback: state.defaultModel,
  premium: state.account.premiumModels,
  canBuy: state.account.canBuy,
  onChange: (model) => composer.setModel(model),
});
composer.setModel(picker.current);

// Answers are read aloud by the first active speech model, if the catalogue has one.
const speechModel = (state.speechModels || [])[0];
const readAloud = speechModel
  ? new ReadAloud({ model: speechModel.id, onError: (error) => toast(refusalText(error.code, error.message)) })
  : null;

const thread = new Thread({
  root: document.getElementById("thread"),
  scroller: document.getElementById("thread-scroll"),
  empty: document.getElementById("empty-state"),
  isDemo: (provider) => (state.demoProviders || []).includes(provider),
  imageView: (image) => savedImageCard(image, state.imageModels),
  readAloud,
  nameOf: (id) => {
    const model = picker.find(id);
    return model ? model.display_name || model.id : id;
  },
  onEdit: (view, text) => chat.edit(view, text),
  onRegenerate: (view) => chat.regenerate(view),
});

const sidebar = new Sidebar({
  shell,
  toast,
  confirm: confirmer(document.getElementById("confirm-dialog")),
  onOpen: (id) => chat.open(id),
  onDeleted: (id) => {
    if (id === chat.id) chat.newChat({ replace: true });
  },
});

const chatSettings = new ChatSettings({
  dialog: document.getElementById("chat-settings-dialog"),
  button: document.getElementById("chat-settings-button"),
  picker,
  toast,
  chatId: () => chat.id,
});

chat = new Chat({
  thread,
  composer,
  picker,
  sidebar,
  socket,
  title: document.getElementById("chat-title"),
  toast,
  settings: chatSettings,
  onSpent: spent,
});

const comparePicker = new ComparePicker({
  root: document.getElementById("compare-picker"),
  models: state.models.filter((model) => picker.usable(model.id)),
  current: () => picker.current,
});
compare = new Compare({ picker: comparePicker, chat, socket, composer, toast, onSpent: spent });

imageMode = new ImageMode({
  bar: document.getElementById("image-mode-bar"),
  toggle: document.getElementById("image-mode"),
  composer,
  thread,
  socket,
  models: state.imageModels,
  fallback: state.defaultImageModel,
  premium: state.account.premiumModels,
  onSpent: spent,
  conversationId: () => chat.id,
  onSaved: (image) => chat.imageSaved(image),
});

const voiceStatus = document.getElementById("voice-status");
const voice = new VoiceInput({
  button: document.getElementById("voice"),
  socket,
  onText: (text) => composer.insertText(text),
  say: (text, kind = "") => {
    voiceStatus.textContent = text;
    voiceStatus.hidden = !text;
    if (kind) voiceStatus.dataset.kind = kind;
    else delete voiceStatus.dataset.kind;
  },
});

sidebar.show(state.conversations);
chat.show(state.conversation);

for (const link of document.querySelectorAll("[data-new-chat]")) {
  link.addEventListener("click", (event) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    sidebar.closeDrawer();
    chat.newChat();
  });
}

window.addEventListener("popstate", () => {
  const match = location.pathname.match(/^\/c\/(\d+)$/);
  if (match) chat.open(Number(match[1]), { push: false });
  else chat.newChat({ push: false });
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || event.defaultPrevented) return;
  if (document.querySelector("dialog[open]")) return;
  if (voice.cancel() || compare.stop() || chat.stop() || imageMode.leave() || sidebar.closeDrawer()) event.preventDefault();
});

if (window.matchMedia("(pointer: fine)").matches) composer.focus();
document.documentElement.dataset.ready = "true";
