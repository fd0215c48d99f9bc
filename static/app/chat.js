// The open chat and the answers being written: sending a message, regenerating the last
// answer, editing a message and sending it again, stopping, and switching between chats
// (an answer keeps being written while another chat is open, and shows up again in its own).
// The server owns the conversation: after each answer the page takes the stored messages'
// ids and the chat's title from GET /v1/conversations/{id}.

import { api } from "./api.js";
import { documentPart, documentsOf } from "./documents.js";
import { startStream } from "./stream.js";
import { imagesOf } from "./thread.js";

// A message's content: plain text, or parts (the words, the documents, then the images).
export function contentOf(text, images, documents = []) {
  if (!images.length && !documents.length) return text;
  const parts = [];
  if (text) parts.push({ type: "text", text });
  for (const attached of documents) parts.push(documentPart(attached));
  for (const url of images) parts.push({ type: "image_url", image_url: { url } });
  return parts;
}

function summaryOf(conversation) {
  const { messages, ...summary } = conversation;
  return summary;
}

export class Chat {
  constructor({ thread, composer, picker, sidebar, socket, title, toast, settings = null, onSpent = () => {} }) {
    this.thread = thread;
    this.composer = composer;
    this.picker = picker;
    this.sidebar = sidebar;
    this.socket = socket;
    this.titleElement = title;
    this.toast = toast;
    this.onSpent = onSpent;
    this.settings = settings; // the chat's system prompt, temperature, max tokens (chatsettings.js)
    this.id = null;
    this.token = {};
    this.runs = new Set();
    this.loading = 0;
  }

  // --- Which chat is shown -----------------------------------------------------------------

  show(conversation) {
    this.token = {};
    this.id = conversation ? conversation.id : null;
    this.setTitle(conversation ? conversation.title : null);
    if (this.settings) this.settings.show(conversation);
    this.thread.show(conversation ? conversation.messages : [], conversation ? conversation.images || [] : []);
    if (conversation && conversation.model) this.picker.set(conversation.model);
    for (const run of this.runs) {
      if (run.conversationId !== null && run.conversationId === this.id) {
        run.token = this.token;
        this.thread.add(run.view);
        this.thread.scrollToBottom();
      }
    }
    this.sidebar.setActive(this.id);
    this.updateBusy();
  }

  async open(id, { push = true } = {}) {
    const ticket = ++this.loading;
    let conversation;
    try {
      conversation = await api(`/v1/conversations/${id}`);
    } catch (error) {
      if (ticket !== this.loading) return;
      this.toast(error.status === 404 ? "That chat no longer exists." : error.message);
      if (error.status === 404) this.newChat({ push: false, replace: true });
      return;
    }
    if (ticket !== this.loading) return;
    if (push) history.pushState({ id }, "", `/c/${id}`);
    this.show(conversation);
    this.composer.focus();
  }

  newChat({ push = true, replace = false } = {}) {
    this.loading++;
    if (replace) history.replaceState({}, "", "/");
    else if (push && location.pathname !== "/") history.pushState({}, "", "/");
    this.show(null);
    this.composer.focus();
  }

  // A picture was saved into a chat: a new chat started by it becomes the open one.
  imageSaved(image) {
    if (this.id === null) {
      this.id = image.conversationId;
      history.pushState({ id: this.id }, "", `/c/${this.id}`);
    }
    this.sidebar.reload().then(() => this.sidebar.setActive(this.id));
  }

  // An answer of a comparison was kept (compare.js): the chat as the server now has it.
  keepCompared(conversation) {
    if (this.id === null) history.pushState({ id: conversation.id }, "", `/c/${conversation.id}`);
    this.show(conversation);
    this.sidebar.reload().then(() => this.sidebar.setActive(this.id));
  }

  setTitle(title) {
    this.titleElement.textContent = title || "New chat";
    document.title = title ? `${title} · Chuk Chat` : "Chuk Chat";
  }

  // --- Asking --------------------------------------------------------------------------------

  send({ text, images, documents }) {
    const content = contentOf(text, images, documents);
    this.thread.addUser(content);
    this.run({ conversation_id: this.id ?? "new", content });
  }

  regenerate(view) {
    if (this.here() || this.id === null) return;
    this.thread.cutFrom(view);
    this.run({ conversation_id: this.id, regenerate: true });
  }

  edit(view, text) {
    if (this.here() || this.id === null || view.id === null) return;
    const content = contentOf(text, imagesOf(view.content), documentsOf(view.content));
    view.setContent(content);
    this.thread.cutAfter(view);
    this.run({ conversation_id: this.id, edit_message_id: view.id, content });
  }

  stop() {
    const run = this.here();
    if (run) run.controller.cancel();
    return Boolean(run);
  }

  // The answer being written in the chat on screen, if any.
  here() {
    for (const run of this.runs) if (run.token === this.token) return run;
    return null;
  }

  updateBusy() {
    const busy = Boolean(this.here());
    this.composer.setBusy(busy);
    this.thread.setBusy(busy);
  }

  run(fields) {
    const model = this.picker.current;
    const view = this.thread.addAnswer(model ? model.id : "");
    const run = { token: this.token, conversationId: this.id, view, controller: null };
    this.runs.add(run);
    this.updateBusy();
    run.controller = startStream({
      socket: this.socket,
      body: { model: model ? model.id : undefined, ...(this.settings ? this.settings.fields() : {}), ...fields },
      onFrame: (frame) => this.onFrame(run, frame),
    });
  }

  onFrame(run, frame) {
    const view = run.view;
    switch (frame.type) {
      case "meta":
        view.model = frame.model;
        view.provider = frame.provider;
        if (run.conversationId === null && frame.conversationId) {
          if (this.settings) this.settings.created(frame.conversationId);
          run.conversationId = frame.conversationId;
          if (run.token === this.token && this.id === null) {
            this.id = frame.conversationId;
            history.pushState({ id: this.id }, "", `/c/${this.id}`);
          }
          this.sidebar.reload().then(() => this.sidebar.setActive(this.id));
        }
        break;
      case "text":
        view.appendText(frame.text);
        break;
      case "reasoning":
        view.appendReasoning(frame.text);
        break;
      case "connection":
        view.connection(frame.state);
        break;
      case "done":
        view.finish(frame);
        this.end(run, frame);
        break;
      case "error":
        view.fail(frame.error || "The answer could not be generated.", frame);
        this.end(run, frame);
        break;
      default:
        break;
    }
  }

  async end(run, last) {
    this.runs.delete(run);
    this.updateBusy();
    if (last.type === "done") this.onSpent();
    if (run.conversationId === null) return;
    // A stop over SSE has no closing frame from the server; give it a moment to store it.
    if (last.local) await new Promise((resolve) => setTimeout(resolve, 600));
    let conversation;
    try {
      conversation = await api(`/v1/conversations/${run.conversationId}`);
    } catch {
      return; // deleted meanwhile, or offline: the page keeps what it showed
    }
    this.sidebar.update(summaryOf(conversation));
    if (conversation.id !== this.id || this.here()) return;
    this.setTitle(conversation.title);
    this.thread.adopt(conversation.messages);
    if (last.local) {
      const stored = conversation.messages[conversation.messages.length - 1];
      if (stored && stored.role === "assistant" && stored.id === run.view.id) run.view.load(stored);
    }
  }
}
