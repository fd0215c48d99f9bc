// An answer over Server-Sent Events (POST /v1/ai/chat/stream), for when the WebSocket cannot
// connect. Events come out in the WebSocket's frame shape ({type: "text", text}, ...), so the
// page handles both alike. Stopping aborts the request; the server then stops the model and
// keeps (and charges) what was generated.

import { csrfToken, errorFrom } from "./api.js";

function frameOf(data) {
  if (data.meta) return { type: "meta", ...data.meta };
  if (typeof data.text === "string") return { type: "text", text: data.text };
  if (typeof data.reasoning === "string") return { type: "reasoning", text: data.reasoning };
  if (data.usage && !data.done) return { type: "usage", usage: data.usage };
  if (data.done) return { type: "done", ...data };
  if (data.error) return { type: "error", error: data.error, code: data.code };
  return null;
}

export async function streamOverSse(body, { signal, onFrame }) {
  let response;
  try {
    response = await fetch("/v1/ai/chat/stream", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "text/event-stream",
        "X-CSRFToken": csrfToken(),
      },
      body: JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") return;
    onFrame({ type: "error", code: "network_error", error: "Could not reach the server. Check your connection." });
    return;
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    onFrame({
      type: "error",
      code: error.code,
      error: error.message,
      status: error.status,
      retryAfter: error.retryAfter,
    });
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let ended = false;
  try {
    while (!ended) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart())
          .join("\n");
        if (!data) continue; // a heartbeat comment
        const frame = frameOf(JSON.parse(data));
        if (!frame) continue;
        onFrame(frame);
        if (frame.type === "done" || frame.type === "error") ended = true;
      }
    }
  } catch (error) {
    if (error.name === "AbortError") return;
    onFrame({ type: "error", code: "network_error", error: "The connection dropped before the answer finished." });
    return;
  }
  if (!ended && !signal.aborted) {
    onFrame({ type: "error", code: "network_error", error: "The connection dropped before the answer finished." });
  }
}
