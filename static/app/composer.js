// The message box: Enter sends, Shift+Enter starts a new line, the box grows with its text.
// Files are attached with the paperclip, by pasting or by dropping them on the chat: images
// (for vision models) go along as they are; documents are converted to Markdown first, each
// on a chip that shows the conversion's progress, and go along as context. While an answer
// is being written the send button becomes a stop button. In image mode (imagegen.js) the
// text is a prompt for a picture instead of a message.

import { filesIn, IMAGE_TYPES, imageAttachment, isImage } from "./attachments.js";
import { DOCUMENT_ACCEPT } from "./documents.js";
import { icon, iconButton } from "./icons.js";
import { refusalText } from "./refusals.js";

export class Composer {
  constructor({ form, dropZone, onSend, onStop, onImage, convert }) {
    this.form = form;
    this.textarea = form.querySelector("#prompt");
    this.send = form.querySelector("#send");
    this.stop = form.querySelector("#stop");
    this.attach = form.querySelector("#attach");
    this.fileInput = form.querySelector("#file-input");
    this.list = form.querySelector("#attachments");
    this.notice = form.querySelector("#composer-notice");
    this.onSend = onSend;
    this.onStop = onStop;
    this.onImage = onImage;
    this.convert = convert;
    this.images = [];
    this.documents = [];
    this.busy = false;
    this.imageMode = false;
    this.visionModel = true;
    this.modelName = "";
    this.placeholder = this.textarea.placeholder;

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        this.submit();
      }
    });
    this.textarea.addEventListener("input", () => this.resize());
    this.textarea.addEventListener("paste", (event) => {
      const files = filesIn(event.clipboardData);
      if (files.length) {
        event.preventDefault();
        this.addFiles(files);
      }
    });
    this.stop.addEventListener("click", () => this.onStop());
    this.attach.addEventListener("click", () => this.fileInput.click());
    this.fileInput.addEventListener("change", () => {
      this.addFiles([...this.fileInput.files]);
      this.fileInput.value = "";
    });

    let depth = 0;
    dropZone.addEventListener("dragenter", (event) => {
      if (![...event.dataTransfer.types].includes("Files") || this.imageMode) return;
      event.preventDefault();
      depth += 1;
      dropZone.classList.add("dragging");
    });
    dropZone.addEventListener("dragover", (event) => {
      if ([...event.dataTransfer.types].includes("Files")) event.preventDefault();
    });
    dropZone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) dropZone.classList.remove("dragging");
    });
    dropZone.addEventListener("drop", (event) => {
      depth = 0;
      dropZone.classList.remove("dragging");
      const files = filesIn(event.dataTransfer);
      if (!files.length || this.imageMode) return;
      event.preventDefault();
      this.addFiles(files);
    });
    this.update();
  }

  focus() {
    this.textarea.focus();
  }

  resize() {
    this.textarea.style.height = "auto";
    this.textarea.style.height = `${this.textarea.scrollHeight}px`;
    this.update();
  }

  // Words from elsewhere (voice input) at the caret, spaced from what is around them.
  insertText(text) {
    const area = this.textarea;
    const start = area.selectionStart ?? area.value.length;
    const end = area.selectionEnd ?? area.value.length;
    const before = area.value.slice(0, start);
    const after = area.value.slice(end);
    const words = (before && !/\s$/.test(before) ? " " : "") + text + (after && !/^\s/.test(after) ? " " : "");
    area.value = before + words + after;
    const caret = before.length + words.length;
    area.setSelectionRange(caret, caret);
    this.resize();
    area.focus();
  }

  setBusy(busy) {
    this.busy = busy;
    this.send.hidden = busy;
    this.stop.hidden = !busy;
    this.update();
  }

  setModel(model) {
    this.visionModel = Boolean(model && model.vision);
    this.modelName = model ? model.display_name || model.id : "";
    this.attach.title = this.visionModel
      ? "Attach images or documents (or paste, or drop them here)"
      : `Attach documents (${this.modelName} cannot read images)`;
    this.attach.setAttribute("aria-label", this.visionModel ? "Attach images or documents" : "Attach documents");
    this.fileInput.accept = this.visionModel ? `${IMAGE_TYPES.join(",")},${DOCUMENT_ACCEPT}` : DOCUMENT_ACCEPT;
    this.update();
  }

  setImageMode(on) {
    this.imageMode = on;
    this.form.classList.toggle("image-mode", on);
    this.attach.hidden = on;
    this.list.hidden = on || (this.images.length === 0 && this.documents.length === 0);
    this.textarea.placeholder = on ? "Describe an image" : this.placeholder;
    this.send.setAttribute("aria-label", on ? "Create image" : "Send");
    this.send.title = on ? "Create image (Enter)" : "Send (Enter)";
    this.update();
    this.focus();
  }

  say(text, kind = "") {
    this.notice.textContent = text || "";
    this.notice.hidden = !text;
    if (kind) this.notice.dataset.kind = kind;
    else delete this.notice.dataset.kind;
  }

  converting() {
    return this.documents.filter((d) => d.status === "converting");
  }

  update() {
    if (this.imageMode) {
      this.send.disabled = !this.textarea.value.trim();
      return;
    }
    const empty = !this.textarea.value.trim() && this.images.length === 0 && this.documents.length === 0;
    this.send.disabled = this.busy || empty || this.converting().length > 0;
    if (this.images.length && !this.visionModel) {
      this.say(`${this.modelName} cannot read images. Pick a model marked vision, or remove the images.`);
    } else if (this.notice.dataset.kind !== "error") {
      const waiting = this.converting();
      this.say(waiting.length ? `Converting ${waiting.map((d) => d.name).join(", ")}…` : "", waiting.length ? "info" : "");
    }
  }

  addFiles(files) {
    this.say("");
    for (const file of files) {
      if (isImage(file)) this.addImage(file);
      else this.addDocument(file);
    }
  }

  async addImage(file) {
    if (!this.visionModel) {
      this.say(`${this.modelName} cannot read images. Pick a model marked vision first.`, "error");
      return;
    }
    try {
      this.images.push(await imageAttachment(file));
    } catch (error) {
      this.say(error.message, "error");
    }
    this.renderAttachments();
  }

  async addDocument(file) {
    const item = { name: file.name || "document", status: "converting", progress: 0, markdown: "" };
    this.documents.push(item);
    this.renderAttachments();
    try {
      const { markdown } = await this.convert(file, (progress) => {
        item.progress = progress;
        this.showProgress(item);
      });
      item.status = "ready";
      item.markdown = markdown;
    } catch (error) {
      if (!this.documents.includes(item)) return; // removed meanwhile
      this.documents.splice(this.documents.indexOf(item), 1);
      this.say(`${item.name} could not be converted: ${refusalText(error.code, error.message)}`, "error");
    }
    this.renderAttachments();
  }

  showProgress(item) {
    if (!item.state) return;
    item.state.textContent =
      item.status === "converting"
        ? `Converting… ${item.progress || 0}%`
        : `${item.markdown.split(/\s+/).filter(Boolean).length.toLocaleString("en-US")} words`;
  }

  documentChip(item, index) {
    const chip = document.createElement("li");
    chip.className = `attachment attachment-doc ${item.status}`;
    const name = document.createElement("span");
    name.className = "doc-name";
    name.textContent = item.name;
    item.state = document.createElement("span");
    item.state.className = "doc-state";
    item.state.setAttribute("aria-live", "polite");
    this.showProgress(item);
    const remove = iconButton("close", `Remove ${item.name}`, "attachment-remove");
    remove.addEventListener("click", () => {
      this.documents.splice(index, 1);
      this.say("");
      this.renderAttachments();
      this.focus();
    });
    chip.append(icon("file", "icon icon-small"), name, item.state, remove);
    return chip;
  }

  renderAttachments() {
    this.list.replaceChildren(
      ...this.documents.map((item, index) => this.documentChip(item, index)),
      ...this.images.map((image, index) => {
        const item = document.createElement("li");
        item.className = "attachment";
        const img = document.createElement("img");
        img.src = image.url;
        img.alt = image.name;
        const remove = iconButton("close", `Remove ${image.name}`, "attachment-remove");
        remove.addEventListener("click", () => {
          this.images.splice(index, 1);
          this.say("");
          this.renderAttachments();
          this.focus();
        });
        item.append(img, remove);
        return item;
      }),
    );
    this.list.hidden = this.imageMode || (this.images.length === 0 && this.documents.length === 0);
    this.update();
  }

  submit() {
    const text = this.textarea.value.trim();
    if (this.imageMode) {
      if (!text) return;
      this.textarea.value = "";
      this.resize();
      this.onImage(text);
      return;
    }
    if (this.busy || this.converting().length) return;
    if (!text && this.images.length === 0 && this.documents.length === 0) return;
    const images = this.images.map((image) => image.url);
    const documents = this.documents.map(({ name, markdown }) => ({ name, markdown }));
    this.textarea.value = "";
    this.images = [];
    this.documents = [];
    this.say("");
    this.renderAttachments();
    this.resize();
    this.onSend({ text, images, documents });
  }
}
