// Compare: one message sent to two or three models at once. Their answers stream side by side
// (stacked on a phone), each in a pane of its own with the model's name, its tokens and its
// cost; "Keep this answer" makes one the chat's continuation (POST /v1/conversations/keep,
// which stores the question and that answer with what its usage record says). The others stay
// out of the chat's history, but they were asked and charged, and the page says so.
//
// Each answer is an ordinary chat stream carrying the same `compare` id: the server sends it
// the chat's history and charges it, but stores nothing in the chat until one is kept.

import { api } from "./api.js";
import { contentOf } from "./chat.js";
import { money } from "./format.js";
import { startStream } from "./stream.js";
import { AssistantMessage } from "./thread.js";

const MAX = 3;
const MIN = 2;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function newCompareId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return "cmp-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function listOf(names) {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

// The chooser near the model picker: a button that opens a group of checkboxes, one per model
// the person may use; two or three ticked turn comparing on for the messages that follow.
export class ComparePicker {
  constructor({ root, models, current = () => null, onChange = () => {} }) {
    this.root = root;
    this.button = root.querySelector("#compare-button");
    this.panel = root.querySelector("#compare-panel");
    this.options = root.querySelector("#compare-options");
    this.hint = root.querySelector("#compare-hint");
    this.models = models;
    this.onChange = onChange;
    this.current = current; // the model picker's model: ticked first
    this.boxes = models.map((model) => {
      const label = element("label", "compare-option");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = model.id;
      box.addEventListener("change", () => this.update());
      label.append(box, element("span", "", model.display_name || model.id));
      this.options.append(label);
      return box;
    });
    this.button.addEventListener("click", () => (this.panel.hidden ? this.open(this.current()) : this.close()));
    root.querySelector("#compare-off").addEventListener("click", () => {
      for (const box of this.boxes) box.checked = false;
      this.update();
      this.close();
    });
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        this.close();
      }
    });
    document.addEventListener("click", (event) => {
      if (!root.contains(event.target)) this.close(false);
    });
    this.update();
  }

  get chosen() {
    return this.boxes.filter((box) => box.checked).map((box) => this.models.find((m) => m.id === box.value));
  }

  get active() {
    return this.chosen.length >= MIN;
  }

  open(current) {
    if (current && !this.chosen.length) {
      const box = this.boxes.find((b) => b.value === current.id);
      if (box) box.checked = true;
      this.update();
    }
    this.panel.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    (this.boxes.find((box) => !box.disabled) || this.button).focus();
  }

  close(returnFocus = true) {
    if (this.panel.hidden) return;
    this.panel.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (returnFocus) this.button.focus();
  }

  update() {
    const chosen = this.chosen;
    for (const box of this.boxes) box.disabled = !box.checked && chosen.length >= MAX;
    const names = chosen.map((model) => model.display_name || model.id);
    this.hint.textContent =
      chosen.length >= MIN
        ? `Your next message goes to ${listOf(names)}.`
        : `Tick ${MIN} or ${MAX} models to compare their answers.`;
    this.button.dataset.active = String(this.active);
    this.button.querySelector("[data-compare-label]").textContent = this.active ? `Compare (${chosen.length})` : "Compare";
    this.onChange(this.active);
  }
}

// One comparison in the thread: a pane per model, each a polite live region.
class CompareView {
  constructor({ thread, models, onKeep }) {
    this.role = "compare";
    this.root = element("section", "compare");
    this.root.setAttribute("aria-label", "Compared answers");
    this.panes = models.map((model, index) => {
      const pane = element("section", "compare-pane");
      const heading = element("h2", "compare-model", thread.nameOf(model.id));
      heading.id = `compare-${Date.now()}-${index}`;
      pane.setAttribute("aria-labelledby", heading.id);
      const live = element("div", "compare-answer");
      live.setAttribute("aria-live", "polite");
      const answer = new AssistantMessage(thread);
      answer.regenerate.hidden = true;
      answer.root.setAttribute("aria-label", `Answer from ${thread.nameOf(model.id)}`);
      answer.startStreaming(model.id);
      live.append(answer.root);
      const keep = element("button", "btn btn-small compare-keep", "Keep this answer");
      keep.type = "button";
      keep.disabled = true;
      keep.setAttribute("aria-describedby", heading.id);
      pane.append(heading, live, keep);
      this.root.append(pane);
      const entry = { model, answer, keep, requestId: null, cost: null, done: false, keepable: false };
      keep.addEventListener("click", () => onKeep(entry));
      return entry;
    });
  }
}

export class Compare {
  constructor({ picker, chat, socket, composer, toast, onSpent = () => {} }) {
    this.picker = picker;
    this.chat = chat;
    this.socket = socket;
    this.composer = composer;
    this.toast = toast;
    this.onSpent = onSpent;
    this.current = null; // {question, view, controllers, conversationId}
  }

  get active() {
    return this.picker.active;
  }

  // Sends `message` to the chosen models when comparing is on (true), else does nothing (false).
  // A comparison left without a kept answer is taken off the screen by the next message.
  send(message) {
    this.discard();
    if (!this.active) return false;
    const chat = this.chat;
    const content = contentOf(message.text, message.images, message.documents);
    const question = chat.thread.addUser(content);
    const models = this.picker.chosen;
    const view = new CompareView({ thread: chat.thread, models, onKeep: (entry) => this.keep(entry) });
    chat.thread.add(view);
    chat.thread.scrollToBottom();
    const compareId = newCompareId();
    const current = { question, view, controllers: [], conversationId: chat.id, token: chat.token, running: models.length };
    this.current = current;
    for (const entry of view.panes) {
      current.controllers.push(
        startStream({
          socket: this.socket,
          body: { model: entry.model.id, conversation_id: chat.id ?? "new", content, compare: compareId },
          onFrame: (frame) => this.onFrame(current, entry, frame),
        }),
      );
    }
    this.setBusy();
    return true;
  }

  onFrame(current, entry, frame) {
    const answer = entry.answer;
    switch (frame.type) {
      case "meta":
        entry.requestId = frame.requestId || entry.requestId;
        answer.model = frame.model;
        answer.provider = frame.provider;
        break;
      case "text":
        answer.appendText(frame.text);
        break;
      case "reasoning":
        answer.appendReasoning(frame.text);
        break;
      case "connection":
        answer.connection(frame.state);
        break;
      case "done":
        answer.finish(frame);
        entry.cost = frame.cost ? frame.cost.charged : null;
        entry.done = true;
        entry.keepable = Boolean(entry.requestId && answer.text) && frame.local !== true;
        this.end(current);
        break;
      case "error":
        answer.fail(frame.error || "The answer could not be generated.", frame);
        entry.keep.hidden = true;
        this.end(current);
        break;
      default:
        break;
    }
  }

  // Once every answer is in, any that finished with words can be kept.
  end(current) {
    current.running -= 1;
    if (current.running === 0) {
      this.onSpent();
      this.enableKeeping(current);
    }
    this.setBusy();
  }

  enableKeeping(current) {
    for (const pane of current.view.panes) pane.keep.disabled = !pane.keepable;
  }

  busy() {
    return Boolean(this.current && this.current.running > 0);
  }

  setBusy() {
    const busy = this.busy() || Boolean(this.chat.here());
    this.composer.setBusy(busy);
    this.chat.thread.setBusy(busy);
  }

  stop() {
    if (!this.busy()) return false;
    for (const controller of this.current.controllers) controller.cancel();
    return true;
  }

  // Takes an unkept comparison off the screen (it stays charged; nothing of it was stored).
  discard() {
    const current = this.current;
    if (!current) return;
    this.current = null;
    for (const controller of current.controllers) controller.cancel();
    if (current.question.root.isConnected) this.chat.thread.cutFrom(current.question);
  }

  async keep(entry) {
    const current = this.current;
    if (!current || !current.view.panes.includes(entry) || this.busy()) return;
    for (const pane of current.view.panes) pane.keep.disabled = true;
    let conversation;
    try {
      conversation = await api("/v1/conversations/keep", { method: "POST", body: { request_id: entry.requestId } });
    } catch (error) {
      this.toast(error.message);
      this.enableKeeping(current);
      return;
    }
    this.current = null;
    const others = current.view.panes.filter((pane) => pane !== entry && pane.done && pane.cost !== null);
    this.chat.keepCompared(conversation);
    const kept = this.chat.thread.nameOf(entry.model.id);
    let note = `Kept ${kept}'s answer.`;
    if (others.length) {
      const charged = others.map((pane) => `${this.chat.thread.nameOf(pane.model.id)} ${money(pane.cost)}`);
      note += ` Not kept, but charged: ${charged.join(", ")}.`;
    }
    const view = { role: "note", root: element("p", "compare-note", note) };
    view.root.setAttribute("role", "status");
    this.chat.thread.add(view);
    this.chat.thread.scrollToBottom();
    this.composer.focus();
  }
}
