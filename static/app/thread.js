// The messages of the open chat. User messages are plain text (with their images, and the
// documents attached as chips); answers are Markdown (markdown.js), with their reasoning
// folded away, the model, tokens and cost underneath, and copy / regenerate / edit actions
// (and read aloud, where a speech model is active).
// An answer being written is updated at most once a frame, and the view follows it down
// unless the reader has scrolled up. Other views (a generated image) may sit between them.

import { copyText } from "./clipboard.js";
import { documentsOf, isDocumentPart } from "./documents.js";
import { renderMarkdown } from "./markdown.js";
import { money, tokens } from "./format.js";
import { icon, iconButton } from "./icons.js";
import { showFailure } from "./refusals.js";
import { READ_ALOUD } from "./readaloud.js";

// The message's own words: its text parts, without the documents attached to it.
export function textOf(content) {
  if (typeof content === "string") return content;
  return (content || [])
    .filter((part) => part.type === "text" && !isDocumentPart(part))
    .map((part) => part.text)
    .join("\n");
}

// A document attached to a message: its name on a chip that opens to show its Markdown.
export function documentChip({ name, markdown }) {
  const chip = element("details", "doc-chip");
  const summary = element("summary");
  const words = markdown.split(/\s+/).filter(Boolean).length;
  summary.append(icon("file", "icon icon-small"), element("span", "doc-name", name), element("span", "doc-size", `${words.toLocaleString("en-US")} words`));
  const body = element("pre", "doc-text", markdown);
  chip.append(summary, body);
  return chip;
}

export function imagesOf(content) {
  if (typeof content === "string") return [];
  return (content || [])
    .filter((part) => part.type === "image_url")
    .map((part) => (typeof part.image_url === "string" ? part.image_url : part.image_url?.url))
    .filter((url) => typeof url === "string" && /^(data:image\/|https:)/.test(url));
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

class UserMessage {
  constructor(thread, message) {
    this.thread = thread;
    this.role = "user";
    this.root = element("article", "msg msg-user");
    this.root.setAttribute("aria-label", "You said");
    this.bubble = element("div", "bubble");
    this.actions = element("div", "msg-actions");
    const copy = iconButton("copy", "Copy message");
    copy.addEventListener("click", () => copyText(copy, textOf(this.content)));
    this.edit = iconButton("edit", "Edit message");
    this.edit.addEventListener("click", () => this.startEditing());
    this.actions.append(copy, this.edit);
    this.root.append(this.bubble, this.actions);
    this.setContent(message.content);
    this.setId(message.id ?? null);
  }

  setId(id) {
    this.id = id;
    if (id === null) delete this.root.dataset.id;
    else this.root.dataset.id = id;
    this.edit.disabled = id === null || this.thread.busy;
  }

  setContent(content) {
    this.content = content;
    const images = imagesOf(content);
    const documents = documentsOf(content);
    const parts = [];
    if (documents.length) {
      const chips = element("div", "msg-documents");
      chips.setAttribute("aria-label", "Attached documents");
      for (const attached of documents) chips.append(documentChip(attached));
      parts.push(chips);
    }
    if (images.length) {
      const gallery = element("div", "msg-images");
      for (const url of images) {
        const img = document.createElement("img");
        img.src = url;
        img.alt = "Attached image";
        img.loading = "lazy";
        gallery.append(img);
      }
      parts.push(gallery);
    }
    const text = textOf(content);
    if (text) parts.push(element("div", "msg-text", text));
    this.bubble.replaceChildren(...parts);
  }

  startEditing() {
    if (this.id === null || this.thread.busy) return;
    const form = element("form", "edit-form");
    const label = element("label", "visually-hidden", "Edit your message");
    const area = document.createElement("textarea");
    area.id = `edit-${this.id}`;
    label.htmlFor = area.id;
    area.value = textOf(this.content);
    area.rows = Math.min(12, area.value.split("\n").length + 1);
    const buttons = element("div", "edit-actions");
    const cancel = element("button", "btn btn-ghost btn-small", "Cancel");
    cancel.type = "button";
    const save = element("button", "btn btn-primary btn-small", "Send");
    save.type = "submit";
    buttons.append(cancel, save);
    form.append(label, area, buttons);
    const stop = () => {
      form.replaceWith(this.bubble);
      this.actions.hidden = false;
    };
    cancel.addEventListener("click", stop);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = area.value.trim();
      if (!text && imagesOf(this.content).length === 0 && documentsOf(this.content).length === 0) return;
      stop();
      this.thread.onEdit(this, text);
    });
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "Escape") {
        event.stopPropagation();
        stop();
      }
    });
    this.bubble.replaceWith(form);
    this.actions.hidden = true;
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }
}

export class AssistantMessage {
  constructor(thread, message = {}) {
    this.thread = thread;
    this.role = "assistant";
    this.text = "";
    this.reasoningText = "";
    this.pending = false;
    this.root = element("article", "msg msg-assistant");
    this.root.setAttribute("aria-label", "Answer");
    this.reasoning = element("details", "reasoning");
    this.reasoning.hidden = true;
    this.reasoningSummary = element("summary", "", "Reasoning");
    this.reasoningBody = element("div", "reasoning-body");
    this.reasoning.append(this.reasoningSummary, this.reasoningBody);
    // Once the reader opens or closes the reasoning, it stays as they left it.
    this.reasoningSummary.addEventListener("click", () => (this.reasoning.dataset.touched = "1"));
    this.body = element("div", "msg-body markdown");
    this.status = element("p", "msg-status");
    this.status.hidden = true;
    this.error = element("p", "msg-error");
    this.error.setAttribute("role", "alert");
    this.error.hidden = true;
    this.footer = element("footer", "msg-foot");
    this.meta = element("span", "msg-meta");
    this.actions = element("div", "msg-actions");
    const copy = iconButton("copy", "Copy answer");
    copy.addEventListener("click", () => copyText(copy, this.text));
    this.regenerate = iconButton("retry", "Regenerate answer");
    this.regenerate.addEventListener("click", () => this.thread.onRegenerate(this));
    this.actions.append(copy, this.regenerate);
    if (thread.readAloud) {
      // Reads the answer as shown (its Markdown rendered), through /v1/audio/speech.
      const speak = iconButton("speaker", READ_ALOUD);
      speak.setAttribute("aria-pressed", "false");
      speak.addEventListener("click", () => thread.readAloud.toggle(speak, this.body.innerText));
      this.actions.append(speak);
    }
    this.footer.append(this.actions, this.meta);
    this.root.append(this.reasoning, this.body, this.status, this.error, this.footer);
    this.setId(message.id ?? null);
    if (message.content !== undefined) this.load(message);
  }

  setId(id) {
    this.id = id;
    if (id === null) delete this.root.dataset.id;
    else this.root.dataset.id = id;
  }

  // A stored answer, as GET /v1/conversations/{id} returns it.
  load(message) {
    this.text = textOf(message.content);
    this.reasoningText = message.reasoning || "";
    this.render();
    this.showReasoning(false);
    if (message.error) this.fail(message.error);
    this.setFoot({
      model: message.model,
      provider: message.provider,
      usage: message.usage,
      cost: message.cost,
      cancelled: message.finishReason === "cancelled",
      length: message.finishReason === "length",
    });
  }

  startStreaming(model) {
    this.root.setAttribute("aria-busy", "true");
    this.root.classList.add("streaming");
    this.footer.hidden = true;
    this.model = model;
    this.setStatus("Thinking…", "waiting");
  }

  appendText(text) {
    if (!this.text) this.setStatus("");
    this.text += text;
    if (this.reasoningText && this.reasoning.open && !this.reasoning.dataset.touched) {
      this.reasoning.open = false;
    }
    this.reasoningSummary.textContent = "Reasoning";
    this.schedule();
  }

  appendReasoning(text) {
    if (!this.reasoningText) {
      this.reasoning.hidden = false;
      this.reasoning.open = true;
      this.reasoningSummary.textContent = "Thinking…";
      this.setStatus("");
    }
    this.reasoningText += text;
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      const follow = this.thread.nearBottom();
      this.render();
      if (follow) this.thread.scrollToBottom();
    });
  }

  render() {
    renderMarkdown(this.body, this.text);
    if (this.reasoningText) {
      this.reasoning.hidden = false;
      this.reasoningBody.textContent = this.reasoningText;
    }
  }

  setStatus(text, kind = "") {
    this.status.textContent = text;
    this.status.className = `msg-status ${kind}`.trim();
    this.status.hidden = !text;
  }

  showReasoning(open) {
    this.reasoning.hidden = !this.reasoningText;
    this.reasoning.open = open;
    this.reasoningSummary.textContent = "Reasoning";
  }

  setFoot({ model, provider, usage, cost, cancelled, length }) {
    const parts = [];
    if (model) parts.push(this.thread.nameOf(model));
    if (usage && (usage.inputTokens || usage.outputTokens)) parts.push(tokens(usage));
    if (cost) parts.push(money(cost.charged));
    this.meta.replaceChildren();
    for (const [index, part] of parts.entries()) {
      if (index) this.meta.append(element("span", "sep", " · "));
      this.meta.append(element("span", index === 0 ? "msg-model" : index === parts.length - 1 && cost ? "msg-cost" : "msg-tokens", part));
    }
    if (provider && this.thread.isDemo(provider)) {
      const tag = element("span", "tag tag-demo", "Demo answer");
      tag.title = "No provider key is set up on this site: the built-in demo wrote this, free of charge.";
      this.meta.append(tag);
    }
    if (cancelled) this.meta.append(element("span", "tag", "Stopped"));
    if (length) this.meta.append(element("span", "tag", "Cut off at the token limit"));
    this.footer.hidden = false;
  }

  finish(done) {
    this.root.removeAttribute("aria-busy");
    this.root.classList.remove("streaming");
    this.setStatus("");
    this.pending = false;
    this.render();
    this.showReasoning(this.reasoning.open && Boolean(this.reasoning.dataset.touched));
    this.setId(done.messageId ?? this.id);
    this.setFoot({
      model: done.model || this.model,
      provider: done.provider || this.provider,
      usage: done.usage,
      cost: done.cost,
      cancelled: done.cancelled,
      length: done.finishReason === "length",
    });
  }

  // `code` and `retryAfter` (from the API's error) add what the reader can do about it.
  fail(message, { code, retryAfter } = {}) {
    this.root.removeAttribute("aria-busy");
    this.root.classList.remove("streaming");
    this.setStatus("");
    showFailure(this.error, { message, code, retryAfter });
    this.error.hidden = false;
    this.footer.hidden = false;
    this.render();
  }

  connection(state) {
    if (state === "lost") this.setStatus("Connection lost. Reconnecting…", "warning");
    else this.setStatus(this.text ? "" : "Thinking…", this.text ? "" : "waiting");
  }
}

export class Thread {
  constructor({ root, scroller, empty, nameOf, isDemo = () => false, imageView = null, readAloud = null, onEdit, onRegenerate }) {
    this.readAloud = readAloud; // a ReadAloud (readaloud.js) when the catalogue has a speech model
    this.imageView = imageView; // (saved picture) -> a view, for the chat's saved pictures
    this.root = root;
    this.nameOf = nameOf;
    this.isDemo = isDemo; // whether a provider is the built-in demo
    this.scroller = scroller;
    this.empty = empty;
    this.onEdit = onEdit;
    this.onRegenerate = onRegenerate;
    this.views = [];
    this.busy = false;
  }

  // The stored messages, with the chat's saved pictures each after what was written before it.
  show(messages, images = []) {
    this.views = [];
    this.root.replaceChildren();
    const pending = [...images];
    const showImagesBefore = (moment) => {
      while (pending.length && (moment === null || pending[0].createdAt <= moment)) {
        this.add(this.imageView(pending.shift()));
      }
    };
    for (const message of messages) {
      showImagesBefore(message.createdAt);
      if (message.role === "user") this.add(new UserMessage(this, message));
      else if (message.role === "assistant") this.add(new AssistantMessage(this, message));
    }
    showImagesBefore(null);
    this.refresh();
    this.scrollToBottom();
  }

  add(view) {
    this.views.push(view);
    this.root.append(view.root);
    this.refresh();
    return view;
  }

  addUser(content) {
    const view = this.add(new UserMessage(this, { content }));
    this.scrollToBottom();
    return view;
  }

  addAnswer(model) {
    const view = this.add(new AssistantMessage(this));
    view.startStreaming(model);
    this.scrollToBottom();
    return view;
  }

  // Removes `view` and everything after it.
  cutFrom(view) {
    const index = this.views.indexOf(view);
    if (index < 0) return;
    for (const removed of this.views.splice(index)) removed.root.remove();
    this.refresh();
  }

  cutAfter(view) {
    const index = this.views.indexOf(view);
    if (index >= 0 && index + 1 < this.views.length) this.cutFrom(this.views[index + 1]);
  }

  last() {
    return this.views[this.views.length - 1] || null;
  }

  // Gives the views the ids the server assigned (the stored messages, in order).
  adopt(messages) {
    const stored = messages.filter((m) => m.role === "user" || m.role === "assistant");
    const views = this.messages();
    if (stored.length !== views.length || stored.some((m, i) => m.role !== views[i].role)) {
      return false;
    }
    stored.forEach((message, index) => views[index].setId(message.id));
    this.refresh();
    return true;
  }

  setBusy(busy) {
    this.busy = busy;
    this.refresh();
  }

  refresh() {
    this.empty.hidden = this.views.length > 0;
    const last = this.lastMessage();
    for (const view of this.views) {
      if (view.role === "assistant") view.regenerate.hidden = view !== last || this.busy;
      else if (view.role === "user") view.edit.disabled = view.id === null || this.busy;
    }
  }

  // The last stored kind of view (a question or an answer), past any generated image.
  lastMessage() {
    return this.messages()[this.messages().length - 1] || null;
  }

  messages() {
    return this.views.filter((view) => view.role === "user" || view.role === "assistant");
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}

