// Reading an answer aloud: its text goes to POST /v1/audio/speech (with the page's session, as
// the rest of the app calls the API), and the audio that comes back plays in one <audio> for
// the whole page. Pressing the button again stops it; starting another answer stops the first.
// The speech model is the first active one in the catalogue (the page is handed the list).

import { csrfToken, errorFrom, ApiError } from "./api.js";

const MAX_CHARACTERS = 4096; // what one speech request takes
export const READ_ALOUD = "Read aloud"; // the button's name; aria-pressed says whether it reads

export class ReadAloud {
  constructor({ model, voice = "alloy", onError = () => {} }) {
    this.model = model;
    this.voice = voice;
    this.onError = onError;
    this.audio = document.createElement("audio");
    this.audio.className = "read-aloud-audio";
    this.audio.hidden = true;
    document.body.append(this.audio);
    this.button = null;
    this.controller = null;
    this.url = null;
    this.audio.addEventListener("ended", () => this.stop());
  }

  // Called by an answer's speaker button with the answer's words as the reader sees them.
  toggle(button, text) {
    const same = this.button === button;
    this.stop();
    if (!same) this.start(button, text);
  }

  async start(button, text) {
    const input = text.trim().slice(0, MAX_CHARACTERS);
    if (!input) return;
    this.button = button;
    this.mark(button, true);
    const controller = (this.controller = new AbortController());
    try {
      const response = await fetch("/v1/audio/speech", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ model: this.model, input, voice: this.voice, response_format: "mp3" }),
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok) throw await errorFrom(response);
      const blob = await response.blob();
      if (controller.signal.aborted) return;
      this.url = URL.createObjectURL(blob);
      this.audio.src = this.url;
      await this.audio.play();
    } catch (error) {
      if (error.name === "AbortError" || controller.signal.aborted) return;
      this.stop();
      this.onError(
        error instanceof ApiError ? error : new ApiError(0, "playback_failed", "The answer could not be played.")
      );
    }
  }

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
    this.audio.pause();
    this.audio.removeAttribute("src");
    this.audio.load();
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
    if (this.button) this.mark(this.button, false);
    this.button = null;
  }

  mark(button, reading) {
    button.setAttribute("aria-pressed", String(reading));
    button.title = reading ? "Stop reading" : READ_ALOUD;
  }
}
