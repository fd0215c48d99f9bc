// The message box: Enter sends, Shift+Enter starts a new line, the box grows with its text;
// images are attached with the paperclip, by pasting or by dropping them on the chat. While
// an answer is being written the send button becomes a stop button.

import { imageAttachment, imagesIn } from "./attachments.js";
import { iconButton } from "./icons.js";

export class Composer {
  constructor({ form, dropZone, onSend, onStop }) {
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
    this.images = [];
    this.busy = false;
    this.visionModel = true;
    this.modelName = "";

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
      const files = imagesIn(event.clipboardData);
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
      if (![...event.dataTransfer.types].includes("Files")) return;
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
      const files = imagesIn(event.dataTransfer);
      if (!files.length) return;
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

  setBusy(busy) {
    this.busy = busy;
    this.send.hidden = busy;
    this.stop.hidden = !busy;
    this.update();
  }

  setModel(model) {
    this.visionModel = Boolean(model && model.vision);
    this.modelName = model ? model.display_name || model.id : "";
    this.attach.disabled = !this.visionModel;
    this.attach.title = this.visionModel
      ? "Attach images (or paste, or drop them here)"
      : `${this.modelName} cannot read images; pick a model marked vision`;
    this.attach.setAttribute("aria-label", this.visionModel ? "Attach images" : this.attach.title);
    this.update();
  }

  say(text) {
    this.notice.textContent = text || "";
    this.notice.hidden = !text;
  }

  update() {
    const empty = !this.textarea.value.trim() && this.images.length === 0;
    this.send.disabled = this.busy || empty;
    if (this.images.length && !this.visionModel) {
      this.say(`${this.modelName} cannot read images. Pick a model marked vision, or remove the images.`);
    } else if (this.notice.dataset.kind !== "error") {
      this.say("");
    }
  }

  async addFiles(files) {
    if (!this.visionModel) {
      this.notice.dataset.kind = "error";
      this.say(`${this.modelName} cannot read images. Pick a model marked vision first.`);
      return;
    }
    delete this.notice.dataset.kind;
    for (const file of files) {
      try {
        this.images.push(await imageAttachment(file));
      } catch (error) {
        this.notice.dataset.kind = "error";
        this.say(error.message);
      }
    }
    this.renderImages();
  }

  renderImages() {
    this.list.replaceChildren(
      ...this.images.map((image, index) => {
        const item = document.createElement("li");
        item.className = "attachment";
        const img = document.createElement("img");
        img.src = image.url;
        img.alt = image.name;
        const remove = iconButton("close", `Remove ${image.name}`, "attachment-remove");
        remove.addEventListener("click", () => {
          this.images.splice(index, 1);
          this.renderImages();
          this.focus();
        });
        item.append(img, remove);
        return item;
      }),
    );
    this.list.hidden = this.images.length === 0;
    this.update();
  }

  submit() {
    if (this.busy) return;
    const text = this.textarea.value.trim();
    if (!text && this.images.length === 0) return;
    const images = this.images.map((image) => image.url);
    this.textarea.value = "";
    this.images = [];
    delete this.notice.dataset.kind;
    this.renderImages();
    this.resize();
    this.onSend({ text, images });
  }
}
