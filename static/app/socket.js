// The page's one WebSocket to /v1/ai/chat/ws (authenticated by the session cookie). Frames
// are routed to whoever registered their stream id. When the socket drops it reconnects with
// backoff and says so ("drop", then "reopen"), so running answers can be resumed; a socket
// that never opened at all reports itself unavailable, and answers go over SSE instead.

const PING_EVERY_MS = 25000;
const PONG_WITHIN_MS = 10000;

export class ChatSocket extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.everOpened = false;
    this.failures = 0;
    this.handlers = new Map();
    this.waiters = [];
    this.reconnectTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    window.addEventListener("online", () => {
      if (!this.isOpen()) {
        this.failures = 0;
        this.connect();
      }
    });
  }

  isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.reconnectTimer);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.lost(null, false);
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      opened = true;
      const again = this.everOpened;
      this.everOpened = true;
      this.failures = 0;
      this.settleWaiters(true);
      this.schedulePing();
      this.dispatchEvent(new Event(again ? "reopen" : "open"));
    });
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "pong") {
        clearTimeout(this.pongTimer);
        return;
      }
      const handler = this.handlers.get(frame.id);
      if (handler) handler(frame);
    });
    ws.addEventListener("close", (event) => this.lost(ws, opened, event.code));
  }

  // The socket is gone (closed, failed to open, or silent past its pong deadline).
  lost(ws, wasOpen, code) {
    if (ws !== null && this.ws !== ws) return;
    this.ws = null;
    clearTimeout(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.settleWaiters(false);
    this.failures += 1;
    if (wasOpen) this.dispatchEvent(new Event("drop"));
    if (code === 4401) {
      // Signed out (or the session expired): reconnecting will not help.
      this.dispatchEvent(new Event("unauthorised"));
      return;
    }
    // Quick retries after a drop; slower ones while the socket has never worked at all.
    const base = this.everOpened ? 400 : 5000;
    const delay = Math.min(this.everOpened ? 8000 : 60000, base * 2 ** Math.min(this.failures - 1, 5));
    this.reconnectTimer = setTimeout(() => this.connect(), delay * (0.8 + Math.random() * 0.4));
  }

  schedulePing() {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      const ws = this.ws;
      if (!this.send({ type: "ping" })) return;
      this.pongTimer = setTimeout(() => {
        // No answer: the connection is dead even if the browser has not noticed yet.
        try {
          ws.close();
        } catch {
          // already closing
        }
        this.lost(ws, true);
      }, PONG_WITHIN_MS);
      this.schedulePing();
    }, PING_EVERY_MS);
  }

  settleWaiters(ok) {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve(ok);
  }

  // True once the socket is open; false when it could not open in time (use SSE then).
  ready(timeoutMs = 4000) {
    if (this.isOpen()) return Promise.resolve(true);
    if (!this.everOpened && this.failures > 0 && !this.ws) return Promise.resolve(false);
    if (!this.ws) this.connect();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (ok) => {
        clearTimeout(timer);
        resolve(ok);
      };
      this.waiters.push(done);
    });
  }

  send(frame) {
    if (!this.isOpen()) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  on(id, handler) {
    this.handlers.set(id, handler);
  }

  off(id) {
    this.handlers.delete(id);
  }
}
