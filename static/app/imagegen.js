// Image generation mode: the image button turns the message box into a prompt for a picture
// (with the image model and size beside it). Each prompt is a media job (POST
// /v1/media/images) shown in the chat as a card: its progress as the socket pushes it, then
// the picture, its model and what it cost. Once shown, the picture is saved into the chat
// (POST /v1/conversations/images, which starts a chat when none is open), so it is part of
// the chat's history: shown again on reload, deleted with the chat.

import { api } from "./api.js";
import { money } from "./format.js";
import { icon } from "./icons.js";
import { jobResult, sameSite, submitJob, watchJob } from "./jobs.js";
import { showFailure } from "./refusals.js";

const SIZES = [
  ["1024x1024", "Square"],
  ["1792x1024", "Wide"],
  ["1024x1792", "Tall"],
];

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class ImageCard {
  constructor({ prompt, size }) {
    this.role = "image";
    this.root = element("article", "msg msg-image");
    this.root.setAttribute("aria-label", "Generated image");
    this.root.setAttribute("aria-busy", "true");
    const asked = element("div", "image-prompt");
    asked.append(icon("image", "icon icon-small"), element("span", "", prompt));
    this.frame = element("div", "image-frame");
    const [width, height] = size.split("x").map(Number);
    this.frame.style.aspectRatio = `${width} / ${height}`;
    this.progress = element("progress", "image-progress");
    this.progress.max = 100;
    this.progress.value = 0;
    this.progress.setAttribute("aria-label", "Creating the image");
    this.status = element("p", "msg-status waiting", "Creating the image…");
    this.status.setAttribute("aria-live", "polite");
    this.frame.append(this.progress);
    this.error = element("p", "msg-error");
    this.error.setAttribute("role", "alert");
    this.error.hidden = true;
    this.footer = element("footer", "msg-foot");
    this.footer.hidden = true;
    this.root.append(asked, this.frame, this.status, this.error, this.footer);
  }

  update(job) {
    if (job.status === "queued") this.status.textContent = "Waiting for a free worker…";
    else if (job.status === "running") {
      this.status.textContent = `Creating the image… ${job.progress || 0}%`;
      this.progress.value = job.progress || 0;
    }
  }

  finish({ files, prompt, modelName, cost, revised }) {
    this.root.removeAttribute("aria-busy");
    this.status.hidden = true;
    this.frame.replaceChildren(
      ...files.map((file, index) => {
        const link = element("a", "image-link");
        link.href = sameSite(file.url);
        link.target = "_blank";
        link.rel = "noopener";
        const img = document.createElement("img");
        img.addEventListener("load", () => this.onLoad?.(), { once: true });
        img.src = sameSite(file.url);
        img.alt = revised || prompt;
        img.decoding = "async";
        link.append(img);
        link.setAttribute("aria-label", `Open image ${index + 1} full size`);
        return link;
      }),
    );
    this.frame.classList.add("done");
    this.frame.style.aspectRatio = "";
    const meta = element("span", "msg-meta");
    meta.append(element("span", "msg-model", modelName), element("span", "sep", " · "), element("span", "msg-cost", money(cost)));
    const download = element("a", "btn btn-ghost btn-small", "Download");
    download.href = sameSite(files[0].url);
    download.download = "";
    this.footer.replaceChildren(meta, download);
    this.footer.hidden = false;
  }

  fail(error) {
    this.root.removeAttribute("aria-busy");
    this.status.hidden = true;
    this.frame.hidden = true;
    showFailure(this.error, error);
    this.error.hidden = false;
  }
}

// A picture saved in the chat, as GET /v1/conversations/{id} lists it.
export function savedImageCard(image, models = []) {
  const card = new ImageCard({ prompt: image.prompt, size: "1024x1024" });
  const used = models.find((m) => m.id === image.model);
  card.finish({
    files: [{ url: image.url }],
    prompt: image.prompt,
    modelName: used ? used.display_name || used.id : image.model || "Image",
    cost: image.cost.charged,
  });
  card.root.dataset.imageId = image.id;
  return card;
}

export class ImageMode {
  constructor({ bar, toggle, composer, thread, socket, models, fallback, premium, onSpent, onSaved = () => {}, conversationId = () => null }) {
    this.onSaved = onSaved; // (saved image) once it is part of a chat
    this.conversationId = conversationId; // the open chat's id, or null
    this.bar = bar;
    this.toggle = toggle;
    this.composer = composer;
    this.thread = thread;
    this.socket = socket;
    this.models = models;
    this.onSpent = onSpent;
    this.on = false;
    this.modelSelect = bar.querySelector("#image-model");
    this.sizeSelect = bar.querySelector("#image-size");
    for (const model of models) {
      const locked = model.pro_only && !premium;
      const option = element("option", "", `${model.display_name || model.id} · ${money(model.pricing.per_image)} an image${locked ? " · needs an upgrade" : ""}`);
      option.value = model.id;
      option.disabled = locked;
      this.modelSelect.append(option);
    }
    const usable = models.filter((m) => !m.pro_only || premium);
    this.modelSelect.value = (usable.find((m) => m.id === fallback) || usable[0] || {}).id || "";
    for (const [value, label] of SIZES) {
      const option = element("option", "", label);
      option.value = value;
      this.sizeSelect.append(option);
    }
    if (!usable.length) {
      toggle.disabled = true;
      toggle.title = "No image model is available";
    }
    toggle.addEventListener("click", () => this.set(!this.on));
    bar.querySelector("#image-mode-off").addEventListener("click", () => this.set(false));
  }

  set(on) {
    this.on = on;
    this.bar.hidden = !on;
    this.toggle.setAttribute("aria-pressed", String(on));
    this.composer.setImageMode(on);
  }

  // Esc leaves image mode; true when it was on.
  leave() {
    if (!this.on) return false;
    this.set(false);
    return true;
  }

  // Keeps the picture in the chat's history; the card already shows it either way.
  async save(card, job) {
    try {
      const saved = await api("/v1/conversations/images", {
        method: "POST",
        body: { job_id: job.id, conversation_id: this.conversationId() },
      });
      card.root.dataset.imageId = saved.id;
      this.onSaved(saved);
    } catch (error) {
      card.error.replaceChildren(`The picture could not be saved in this chat: ${error.message}`);
      card.error.hidden = false;
    }
  }

  async create(prompt) {
    const model = this.models.find((m) => m.id === this.modelSelect.value);
    const size = this.sizeSelect.value;
    const card = new ImageCard({ prompt, size });
    card.onLoad = () => this.thread.scrollToBottom();
    this.thread.add(card);
    this.thread.scrollToBottom();
    try {
      const submitted = await submitJob("/v1/media/images", {
        body: { prompt, n: 1, size, model: model ? model.id : undefined },
      });
      const job = await watchJob({ socket: this.socket, job: submitted, onUpdate: (current) => card.update(current) });
      const result = await jobResult(job);
      const used = this.models.find((m) => m.id === job.model);
      const revised = (result.data?.revised_prompts || [])[0];
      card.finish({
        files: result.files,
        prompt,
        modelName: used ? used.display_name || used.id : job.model,
        cost: job.cost,
        revised: typeof revised === "string" ? revised : null,
      });
      this.onSpent();
      await this.save(card, job);
    } catch (error) {
      card.fail(error);
    }
    if (this.thread.nearBottom()) this.thread.scrollToBottom();
  }
}
