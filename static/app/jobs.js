// Media jobs (POST /v1/media/...: conversion, transcription, image generation) followed to
// their end. Progress is pushed over the chat WebSocket: a `job` frame asks for the job, and
// the server sends it as it is, then every change, until it finishes. After a dropped socket
// the job is asked for again; where no socket can open at all, the job API is asked instead.

import { api, ApiError } from "./api.js";

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const CHECK_WITHOUT_SOCKET_MS = 1000;

export function submitJob(path, { form, body }) {
  return api(path, { method: "POST", form, body });
}

// The job once finished (succeeded, failed or cancelled); `onUpdate` gets every state seen.
export function watchJob({ socket, job, onUpdate = () => {} }) {
  onUpdate(job);
  if (FINISHED.has(job.status)) return Promise.resolve(job);
  return new Promise((resolve, reject) => {
    let done = false;
    let timer = null;
    const ask = () => socket.send({ type: "job", id: job.id });
    // While the socket is down, the job API answers instead.
    const dropped = () => {
      clearTimeout(timer);
      timer = setTimeout(check, CHECK_WITHOUT_SOCKET_MS);
    };
    const reopened = () => {
      clearTimeout(timer);
      ask();
    };
    const end = () => {
      done = true;
      clearTimeout(timer);
      socket.off(job.id);
      socket.removeEventListener("drop", dropped);
      socket.removeEventListener("reopen", reopened);
    };
    socket.on(job.id, (frame) => {
      if (done) return;
      if (frame.type === "job") {
        onUpdate(frame.job);
        if (FINISHED.has(frame.job.status)) {
          end();
          resolve(frame.job);
        }
      } else if (frame.type === "error") {
        end();
        reject(new ApiError(frame.status || 400, frame.code, frame.error));
      }
    });
    socket.addEventListener("drop", dropped);
    socket.addEventListener("reopen", reopened);

    const check = async () => {
      if (done) return;
      try {
        const current = await api(`/v1/media/jobs/${job.id}`);
        if (done) return;
        onUpdate(current);
        if (FINISHED.has(current.status)) {
          end();
          resolve(current);
          return;
        }
      } catch (error) {
        if (error.status === 404) {
          end();
          reject(error);
          return;
        }
      }
      if (!socket.isOpen()) timer = setTimeout(check, CHECK_WITHOUT_SOCKET_MS);
    };
    socket.ready().then((open) => {
      if (done) return;
      if (!(open && ask())) check();
    });
  });
}

// What a succeeded job made: {text, files: [{url, content_type, bytes}], data}.
export async function jobResult(job) {
  if (job.status !== "succeeded") {
    throw new ApiError(409, job.error?.code || `job_${job.status}`, job.error?.message || `The job was ${job.status}.`);
  }
  return api(job.result);
}

// A result file's address on this site (the API names it absolutely).
export function sameSite(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.pathname + parsed.search;
  } catch {
    return url;
  }
}
