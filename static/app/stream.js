// One answer being generated: sent as a `chat` frame on the WebSocket when it is up, over SSE
// when it is not. Frames reach `onFrame` once each and in order (`seq`), whatever the socket
// does meanwhile: after a drop the answer is resumed with the last seq seen. `onFrame` also
// gets {type: "connection", state: "lost" | "restored"} while that happens.

import { streamOverSse } from "./sse.js";

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function startStream({ socket, body, onFrame }) {
  const id = newId();
  let lastSeq = -1;
  let finished = false;
  let cancelRequested = false;
  let transport = null;
  let abort = null;
  let resolveFinished;
  const done = new Promise((resolve) => (resolveFinished = resolve));

  function finish() {
    if (finished) return;
    finished = true;
    socket.off(id);
    socket.removeEventListener("drop", onDrop);
    socket.removeEventListener("reopen", onReopen);
    resolveFinished();
  }

  function deliver(frame) {
    if (finished) return;
    if (typeof frame.seq === "number") {
      if (frame.seq <= lastSeq) return; // already seen (a resume replays from `after`)
      lastSeq = frame.seq;
    }
    onFrame(frame);
    if (frame.type === "done" || frame.type === "error") finish();
  }

  function onDrop() {
    if (!finished) onFrame({ type: "connection", state: "lost" });
  }

  function onReopen() {
    if (finished) return;
    socket.send({ type: "resume", id, after: lastSeq });
    if (cancelRequested) socket.send({ type: "cancel", id });
    onFrame({ type: "connection", state: "restored" });
  }

  async function begin() {
    if (await socket.ready()) {
      transport = "websocket";
      socket.on(id, deliver);
      socket.addEventListener("drop", onDrop);
      socket.addEventListener("reopen", onReopen);
      if (socket.send({ type: "chat", id, ...body })) {
        if (cancelRequested) socket.send({ type: "cancel", id });
        return;
      }
      // Closed between ready() and send(): the drop handler will not resume a chat the
      // server never saw, so start over on SSE.
      socket.off(id);
      socket.removeEventListener("drop", onDrop);
      socket.removeEventListener("reopen", onReopen);
    }
    transport = "sse";
    abort = new AbortController();
    if (cancelRequested) abort.abort();
    await streamOverSse(body, { signal: abort.signal, onFrame: deliver });
    if (!finished && abort.signal.aborted) {
      // Stopped by the user: the server keeps and charges the partial answer.
      deliver({ type: "done", cancelled: true, local: true });
    }
    finish();
  }

  begin();

  return {
    id,
    done,
    get transport() {
      return transport;
    },
    cancel() {
      if (finished) return;
      cancelRequested = true;
      if (transport === "sse" && abort) abort.abort();
      else if (transport === "websocket") socket.send({ type: "cancel", id });
    },
  };
}
