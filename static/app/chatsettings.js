// The open chat's settings and the person's presets (GET/POST /v1/presets,
// PATCH/DELETE /v1/presets/{id}), in one dialog opened from the chat's header.
//
// A saved chat keeps its system prompt, temperature and max tokens on the server
// (PATCH /v1/conversations/{id}); the server sends the system prompt itself, and the page sends
// the temperature and max tokens with each message. A new chat's settings wait here until its
// first message, which carries them (`system`, `temperature`, `max_tokens`), and are then
// stored on the chat it started. Every rule (names, models, ranges) is the API's: the page
// shows what the API answers.

import { api } from "./api.js";

const EMPTY = { systemPrompt: "", temperature: null, maxTokens: null };

function numberOrNull(input) {
  const text = input.value.trim();
  return text === "" ? null : Number(text);
}

export class ChatSettings {
  constructor({ dialog, button, picker, toast, chatId }) {
    this.dialog = dialog;
    this.button = button;
    this.picker = picker;
    this.toast = toast;
    this.chatId = chatId; // () => the open chat's id, or null for a new chat
    this.settings = { ...EMPTY };
    this.pending = null; // a new chat's settings, stored on the chat once it exists
    this.presets = [];
    this.chosenModel = null; // the model of the preset picked in the dialog

    const $ = (id) => dialog.querySelector(`#${id}`);
    this.select = $("preset-select");
    this.systemPrompt = $("chat-system-prompt");
    this.temperature = $("chat-temperature");
    this.maxTokens = $("chat-max-tokens");
    this.error = $("chat-settings-error");
    this.forText = $("chat-settings-for");
    this.name = $("preset-name");
    this.modelNote = $("preset-model-note");
    this.createButton = $("preset-create");
    this.updateButton = $("preset-update");
    this.deleteButton = $("preset-delete");

    button.addEventListener("click", () => this.open());
    this.select.addEventListener("change", () => this.choose(this.select.value));
    $("chat-settings-apply").addEventListener("click", () => this.apply());
    this.createButton.addEventListener("click", () => this.savePreset());
    this.updateButton.addEventListener("click", () => this.savePreset(this.selected()));
    this.deleteButton.addEventListener("click", () => this.deletePreset());
    this.loadPresets();
  }

  // --- What the chat sends -------------------------------------------------------------------

  // The fields a message of the open chat carries: a new chat's settings in full (the server
  // has nowhere to keep them yet); a saved chat's temperature and max tokens.
  fields() {
    const fields = {};
    const settings = this.chatId() === null ? this.pending || EMPTY : this.settings;
    if (this.chatId() === null && settings.systemPrompt) fields.system = settings.systemPrompt;
    if (settings.temperature !== null) fields.temperature = settings.temperature;
    if (settings.maxTokens !== null) fields.max_tokens = settings.maxTokens;
    return fields;
  }

  // A chat was opened (or a new one started): its own settings.
  show(conversation) {
    if (!conversation) {
      this.settings = { ...EMPTY };
      this.pending = null;
    } else {
      this.settings = {
        systemPrompt: conversation.systemPrompt || "",
        temperature: conversation.temperature ?? null,
        maxTokens: conversation.maxTokens ?? null,
      };
    }
    this.mark();
  }

  // The first message of a new chat made it: keep the settings it was sent with on the chat.
  async created(id) {
    const settings = this.pending;
    this.pending = null;
    if (!settings) return;
    this.settings = settings;
    try {
      await api(`/v1/conversations/${id}`, { method: "PATCH", body: this.body(settings) });
    } catch (error) {
      this.toast(`The chat's settings were not saved: ${error.message}`);
    }
  }

  // --- The dialog ----------------------------------------------------------------------------

  async open() {
    const settings = this.chatId() === null ? this.pending || EMPTY : this.settings;
    this.systemPrompt.value = settings.systemPrompt;
    this.temperature.value = settings.temperature ?? "";
    this.maxTokens.value = settings.maxTokens ?? "";
    this.forText.textContent =
      this.chatId() === null
        ? "For the new chat: they apply from its first message."
        : "For this chat: they apply from its next message.";
    this.chosenModel = null;
    this.select.value = "";
    this.name.value = "";
    this.say("");
    this.updateChoice();
    this.dialog.showModal();
    this.select.focus();
    await this.loadPresets();
  }

  async loadPresets() {
    try {
      this.presets = (await api("/v1/presets")).data;
    } catch {
      return; // offline or signed out: the list stays as it was
    }
    const chosen = this.select.value;
    this.select.replaceChildren(new Option("No preset", ""));
    for (const preset of this.presets) this.select.append(new Option(preset.name, String(preset.id)));
    this.select.value = this.presets.some((p) => String(p.id) === chosen) ? chosen : "";
    this.updateChoice();
  }

  selected() {
    return this.presets.find((p) => String(p.id) === this.select.value) || null;
  }

  choose(id) {
    const preset = this.presets.find((p) => String(p.id) === id);
    this.say("");
    if (preset) {
      this.systemPrompt.value = preset.systemPrompt;
      this.temperature.value = preset.temperature ?? "";
      this.maxTokens.value = preset.maxTokens ?? "";
      this.name.value = preset.name;
      this.chosenModel = preset.model;
    } else {
      this.chosenModel = null;
    }
    this.updateChoice();
  }

  // The model a preset saved now would keep, and whether there is a preset to change.
  model() {
    return this.chosenModel || (this.picker.current ? this.picker.current.id : "");
  }

  updateChoice() {
    const preset = this.selected();
    this.updateButton.disabled = !preset;
    this.deleteButton.disabled = !preset;
    const model = this.picker.find(this.model());
    const name = model ? model.display_name || model.id : this.model();
    this.modelNote.textContent = name ? `The preset keeps the model too: ${name}.` : "";
  }

  readForm() {
    return {
      systemPrompt: this.systemPrompt.value,
      temperature: numberOrNull(this.temperature),
      maxTokens: numberOrNull(this.maxTokens),
    };
  }

  body(settings) {
    return {
      system_prompt: settings.systemPrompt,
      temperature: settings.temperature,
      max_tokens: settings.maxTokens,
    };
  }

  say(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  // "Use for this chat": a saved chat's settings are stored at once; a new chat's wait for
  // its first message. A preset's model becomes the chat's model.
  async apply() {
    const settings = this.readForm();
    for (const [input, value] of [[this.temperature, settings.temperature], [this.maxTokens, settings.maxTokens]]) {
      if (value !== null && !Number.isFinite(value)) {
        this.say(`${input.labels[0].textContent} must be a number.`);
        input.focus();
        return;
      }
    }
    const id = this.chatId();
    if (id !== null) {
      try {
        await api(`/v1/conversations/${id}`, { method: "PATCH", body: this.body(settings) });
      } catch (error) {
        this.say(error.message);
        return;
      }
      this.settings = settings;
    } else {
      this.pending = settings;
    }
    if (this.chosenModel) this.picker.set(this.chosenModel);
    this.mark();
    this.dialog.close();
    this.button.focus();
  }

  async savePreset(preset = null) {
    const settings = this.readForm();
    const body = { name: this.name.value, model: this.model(), ...this.body(settings) };
    let saved;
    try {
      saved = preset
        ? await api(`/v1/presets/${preset.id}`, { method: "PATCH", body })
        : await api("/v1/presets", { method: "POST", body });
    } catch (error) {
      this.say(error.message);
      (error.code === "preset_name_taken" || /^name/.test(error.message) ? this.name : this.systemPrompt).focus();
      return;
    }
    this.say("");
    await this.loadPresets();
    this.select.value = String(saved.id);
    this.chosenModel = saved.model;
    this.updateChoice();
    this.toast(preset ? `Preset "${saved.name}" updated.` : `Preset "${saved.name}" saved.`);
  }

  async deletePreset() {
    const preset = this.selected();
    if (!preset) return;
    try {
      await api(`/v1/presets/${preset.id}`, { method: "DELETE" });
    } catch (error) {
      this.say(error.message);
      return;
    }
    this.select.value = "";
    this.chosenModel = null;
    await this.loadPresets();
    this.select.focus();
    this.toast(`Preset "${preset.name}" deleted.`);
  }

  // The header's button says when the chat has instructions of its own.
  mark() {
    const settings = this.chatId() === null ? this.pending || EMPTY : this.settings;
    const set = Boolean(settings.systemPrompt) || settings.temperature !== null || settings.maxTokens !== null;
    this.button.dataset.set = set ? "true" : "false";
  }
}
