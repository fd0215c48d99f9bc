// The model picker: the active chat models from the catalogue (GET /v1/models, handed to the
// page at load), each with its vision / reasoning badges and its price per million tokens.
// A listbox popup driven by the keyboard (arrows, Home/End, Enter, Esc) or the mouse. Models
// the user's plan does not include (pro_only without premium models) are listed, disabled,
// with a way to the plan page: choosing one goes there.

import { pricePerMillion } from "./format.js";
import { icon } from "./icons.js";

const REMEMBERED = "chuk-model";
const UPGRADE_URL = "/billing";

function badge(kind, label, iconName) {
  const span = document.createElement("span");
  span.className = `badge badge-${kind}`;
  if (iconName) span.append(icon(iconName, "icon icon-tiny"));
  span.append(label);
  return span;
}

export class ModelPicker {
  constructor({ root, models, fallback, premium = true, canBuy = true, onChange }) {
    this.canBuy = canBuy; // payments set up: a locked model leads to the plan page
    this.button = root.querySelector("#model-button");
    this.list = root.querySelector("#model-list");
    this.name = root.querySelector("[data-model-name]");
    this.models = models;
    this.premium = premium;
    this.onChange = onChange;
    this.active = -1;
    const remembered = localStorage.getItem(REMEMBERED);
    this.value =
      [remembered, fallback].find((id) => this.usable(id)) || models.find((m) => this.allowed(m))?.id;
    this.build();
    this.show();

    this.button.addEventListener("click", () => (this.list.hidden ? this.open() : this.close()));
    this.button.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        this.open();
      }
    });
    this.list.addEventListener("keydown", (event) => this.key(event));
    this.list.addEventListener("click", (event) => {
      if (event.target.closest("a")) return; // the Upgrade link goes by itself
      const option = event.target.closest('[role="option"]');
      if (option) this.choose(option.dataset.model);
    });
    document.addEventListener("click", (event) => {
      if (!root.contains(event.target)) this.close(false);
    });
  }

  find(id) {
    return this.models.find((model) => model.id === id) || null;
  }

  allowed(model) {
    return !model.pro_only || this.premium;
  }

  usable(id) {
    const model = this.find(id);
    return model !== null && this.allowed(model);
  }

  get current() {
    return this.find(this.value);
  }

  build() {
    this.options = this.models.map((model, index) => {
      const option = document.createElement("li");
      option.id = `model-option-${index}`;
      option.setAttribute("role", "option");
      option.dataset.model = model.id;
      const head = document.createElement("span");
      head.className = "option-head";
      const name = document.createElement("span");
      name.className = "option-name";
      name.textContent = model.display_name || model.id;
      head.append(name);
      if (model.vision) head.append(badge("vision", "vision", "eye"));
      if (model.reasoning) head.append(badge("reasoning", "reasoning", "brain"));
      if (model.pro_only) head.append(badge("pro", "pro"));
      if (model.servedByDemo) head.append(badge("demo", "demo"));
      const price = document.createElement("span");
      price.className = "option-price";
      const pricing = model.pricing || {};
      // Without its provider's key the built-in demo answers instead, free: it must not pass
      // for the real model, nor be priced like it.
      price.textContent = model.servedByDemo
        ? "Demo answers: no provider key is set up on this site, so canned text, free"
        : `${pricePerMillion(pricing.input_per_million_tokens)} in · ` +
          `${pricePerMillion(pricing.output_per_million_tokens)} out per 1M tokens`;
      option.append(head, price);
      if (!this.allowed(model) && !this.canBuy) {
        option.setAttribute("aria-disabled", "true");
        option.classList.add("locked");
        const why = document.createElement("span");
        why.className = "option-why";
        why.textContent = "Not on your plan. Ask the operator of this site for access.";
        option.append(why);
      } else if (!this.allowed(model)) {
        option.setAttribute("aria-disabled", "true");
        option.classList.add("locked");
        const upgrade = document.createElement("a");
        upgrade.className = "option-upgrade";
        upgrade.href = UPGRADE_URL;
        upgrade.tabIndex = -1;
        upgrade.textContent = "Upgrade";
        const why = document.createElement("span");
        why.className = "option-why";
        why.textContent = "Not on your plan. ";
        why.append(upgrade, " to use it.");
        option.append(why);
      }
      return option;
    });
    this.list.replaceChildren(...this.options);
    if (!this.models.length) {
      const none = document.createElement("li");
      none.className = "option-none";
      none.textContent = "No chat models are active.";
      this.list.append(none);
    }
  }

  show() {
    const model = this.current;
    this.name.textContent = model ? model.display_name || model.id : "No model";
    this.button.dataset.model = model ? model.id : "";
    for (const option of this.options) {
      option.setAttribute("aria-selected", String(option.dataset.model === this.value));
    }
  }

  // Selects a model without announcing it (an opened conversation's own model).
  set(id) {
    if (!this.usable(id) || id === this.value) return;
    this.value = id;
    this.show();
    this.onChange(this.current, { byUser: false });
  }

  choose(id) {
    if (this.find(id) && !this.usable(id)) {
      if (this.canBuy) location.assign(UPGRADE_URL); // the plan page, where it can be unlocked
      return;
    }
    this.close();
    if (!this.find(id)) return;
    const changed = id !== this.value;
    this.value = id;
    localStorage.setItem(REMEMBERED, id);
    this.show();
    if (changed) this.onChange(this.current, { byUser: true });
  }

  open() {
    if (!this.models.length) return;
    this.list.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.highlight(Math.max(0, this.models.findIndex((m) => m.id === this.value)));
    this.list.focus();
  }

  close(returnFocus = true) {
    if (this.list.hidden) return;
    this.list.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    this.list.removeAttribute("aria-activedescendant");
    if (returnFocus) this.button.focus();
  }

  highlight(index) {
    this.active = (index + this.options.length) % this.options.length;
    this.options.forEach((option, i) => option.classList.toggle("active", i === this.active));
    const option = this.options[this.active];
    this.list.setAttribute("aria-activedescendant", option.id);
    option.scrollIntoView({ block: "nearest" });
  }

  key(event) {
    const moves = { ArrowDown: this.active + 1, ArrowUp: this.active - 1, Home: 0, End: this.options.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      this.highlight(moves[event.key]);
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      this.choose(this.options[this.active].dataset.model);
    } else if (event.key === "Escape" || event.key === "Tab") {
      event.stopPropagation();
      if (event.key === "Escape") event.preventDefault();
      this.close(event.key === "Escape");
    }
  }
}
