// Voice input: the microphone button records in the browser (MediaRecorder), a second press
// stops, and the recording is transcribed by a media job (POST /v1/media/transcriptions);
// its progress is pushed over the socket, and the words land in the message box. Esc while
// recording throws the recording away.

import { jobResult, submitJob, watchJob } from "./jobs.js";
import { refusalText } from "./refusals.js";

const TYPES = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
const EXTENSIONS = { "audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a" };

function minutesAndSeconds(ms) {
  const seconds = Math.floor(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

export class VoiceInput {
  // `onText` gets the words; `say(text, kind)` tells what is happening.
  constructor({ button, socket, onText, say }) {
    this.button = button;
    this.socket = socket;
    this.onText = onText;
    this.say = say;
    this.recorder = null;
    this.discard = false;
    this.timer = null;
    this.working = false;
    if (!window.MediaRecorder || !navigator.mediaDevices?.getUserMedia) {
      button.disabled = true;
      button.title = "Voice input needs a browser that can record audio";
      return;
    }
    button.addEventListener("click", () => (this.recorder ? this.finish() : this.start()));
  }

  recording() {
    return this.recorder !== null;
  }

  show(recording) {
    this.button.setAttribute("aria-pressed", String(recording));
    this.button.classList.toggle("recording", recording);
    const label = recording ? "Stop recording and transcribe" : "Dictate: record your voice";
    this.button.setAttribute("aria-label", label);
    this.button.title = label;
  }

  async start() {
    if (this.working) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      this.say(
        error.name === "NotAllowedError"
          ? "The microphone is blocked. Allow it for this site to dictate."
          : "No microphone could be opened.",
        "error",
      );
      return;
    }
    const mimeType = TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || "";
    const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
    const chunks = [];
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data.size) chunks.push(event.data);
    });
    recorder.addEventListener("stop", () => {
      for (const track of stream.getTracks()) track.stop();
      clearInterval(this.timer);
      this.recorder = null;
      this.show(false);
      if (this.discard) {
        this.say("");
        return;
      }
      const type = (recorder.mimeType || mimeType || "audio/webm").split(";")[0];
      this.transcribe(new Blob(chunks, { type }), type);
    });
    this.discard = false;
    this.recorder = recorder;
    recorder.start(250);
    this.show(true);
    const began = Date.now();
    const tell = () => this.say(`Listening… ${minutesAndSeconds(Date.now() - began)}. Press the microphone again to stop.`, "info");
    tell();
    this.timer = setInterval(tell, 1000);
  }

  finish() {
    if (this.recorder && this.recorder.state !== "inactive") this.recorder.stop();
  }

  // Stops without transcribing; true when there was a recording to stop.
  cancel() {
    if (!this.recorder) return false;
    this.discard = true;
    this.finish();
    return true;
  }

  async transcribe(blob, type) {
    if (!blob.size) {
      this.say("Nothing was recorded.", "error");
      return;
    }
    this.working = true;
    this.button.disabled = true;
    this.say("Transcribing…", "info");
    try {
      const form = new FormData();
      form.append("file", blob, `dictation.${EXTENSIONS[type] || "webm"}`);
      const submitted = await submitJob("/v1/media/transcriptions", { form });
      const job = await watchJob({
        socket: this.socket,
        job: submitted,
        onUpdate: (current) => {
          if (current.status === "running" || current.status === "queued") {
            this.say(`Transcribing… ${current.progress || 0}%`, "info");
          }
        },
      });
      const result = await jobResult(job);
      const text = (result.text || "").trim();
      if (text) {
        this.say("");
        this.onText(text);
      } else {
        this.say("No speech was heard in the recording.", "error");
      }
    } catch (error) {
      this.say(`The recording could not be transcribed: ${refusalText(error.code, error.message)}`, "error");
    } finally {
      this.working = false;
      this.button.disabled = false;
    }
  }
}
