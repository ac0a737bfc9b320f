// chatd web client: the connection (no DOM here).
//
// One WebSocket speaking protocol v2 (README, "Protocol v2 (chatd's own)"): hello first, then
// requests with numeric ids whose replies settle promises, and pushes handed to the app. It
// reconnects by itself with exponential backoff and jitter, and says hello again each time; the
// app re-joins its rooms when it hears onReady.

export const SUBPROTOCOL = 'chatd.v2';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
// A connection that stayed up this long was a good one: the next drop starts the backoff over.
const STABLE_AFTER_MS = 10000;
// No reply this long means the server lost the request; the promise must not hang forever.
const REQUEST_TIMEOUT_MS = 20000;
// Refusals of hello that retrying cannot fix: the user has to change the name or the token.
const FATAL_HELLO_CODES = new Set(['unauthorized', 'forbidden', 'missing_field', 'bad_field',
  'too_long', 'control_chars']);

// The WebSocket URL of this page's server: same host, wss: when the page came over https:.
export function defaultURL(loc = window.location) {
  return (loc.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + loc.host + '/ws';
}

// The error every pending request gets when its connection goes away.
function closedError() {
  return { type: 'error', code: 'disconnected', message: 'Connection closed before the reply' };
}

export class Connection {
  // handlers: onState(state, detail), onReady(helloResult), onPush(msg), onFatal(error).
  // state is 'disconnected', 'connecting', 'connected' or 'reconnecting'.
  constructor(url, handlers) {
    this.url = url;
    this.h = handlers;
    this.ws = null;
    this.creds = null;       // {name, token}; null while stopped
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.attempt = 0;
    this.timer = null;
    this.ready = false;       // hello answered ok on the current socket
    this.session = 0;         // counts good connections, so callers can tell one from the next
    this.readyAt = 0;
    this.everReady = false;   // distinguishes "connecting" from "reconnecting"
    this.state = 'disconnected';
    window.addEventListener('online', () => this.retryNow());
  }

  start(creds) {
    this.creds = creds;
    this.attempt = 0;
    this.everReady = false;
    this.open();
  }

  // Stop for good (sign out, or a refusal that retrying cannot fix).
  stop() {
    this.creds = null;
    clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.drop();
    if (ws) ws.close(1000, 'bye');
    this.setState('disconnected');
  }

  // A request with an id: resolves with its ok, rejects with its error (or a local
  // 'disconnected' / 'timeout' error, so that no caller waits across a reconnect).
  call(req) {
    if (!this.ready && req.type !== 'hello') return Promise.reject(closedError());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject({ type: 'error', code: 'timeout', message: 'No reply from the server' });
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ ...req, id }));
    });
  }

  // A request without an id (typing): no reply; errors come as pushes.
  notify(req) {
    if (!this.ready) return false;
    this.ws.send(JSON.stringify(req));
    return true;
  }

  get isReady() { return this.ready; }

  // After the browser says the network is back, waiting out the backoff only delays the user.
  retryNow() {
    if (this.creds && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.open();
    }
  }

  open() {
    this.timer = null;
    this.setState(this.everReady ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this.url, SUBPROTOCOL);
    } catch (e) {
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => this.sayHello(ws);
    ws.onmessage = (ev) => { if (this.ws === ws) this.receive(ev.data); };
    // onerror is always followed by onclose, which does the work.
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.drop();
      if (this.creds) this.scheduleReconnect(ev.code);
    };
  }

  async sayHello(ws) {
    const hello = { type: 'hello' };
    if (this.creds.name) hello.name = this.creds.name;
    if (this.creds.token) hello.token = this.creds.token;
    let res;
    try {
      res = await this.call(hello);
    } catch (err) {
      if (this.ws !== ws) return;
      if (FATAL_HELLO_CODES.has(err.code)) {
        // Retrying would be refused the same way, again and again: stop and tell the user.
        this.stop();
        this.h.onFatal(err);
      } else {
        ws.close(4000, 'hello failed');
      }
      return;
    }
    if (this.ws !== ws) return;
    this.ready = true;
    this.session++;
    this.readyAt = Date.now();
    this.everReady = true;
    this.setState('connected');
    this.h.onReady(res);
  }

  receive(data) {
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
    let m;
    try { m = JSON.parse(text); } catch (e) { return; }
    if (!m || typeof m !== 'object') return;
    if (m.id !== undefined && this.pending.has(m.id)) {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.type === 'ok') p.resolve(m); else p.reject(m);
      return;
    }
    this.h.onPush(m);
  }

  // Forget the socket and fail every request still waiting on it.
  drop() {
    const ws = this.ws;
    this.ws = null;
    if (ws) { ws.onopen = ws.onmessage = ws.onclose = null; }
    if (this.ready && Date.now() - this.readyAt >= STABLE_AFTER_MS) this.attempt = 0;
    this.ready = false;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) {
      clearTimeout(p.timer);
      p.reject(closedError());
    }
  }

  // Exponential backoff with "equal jitter" (half the step fixed, half random), so that the many
  // clients of a restarted server do not all come back in the same instant.
  scheduleReconnect(code) {
    if (this.timer) return;
    const step = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    this.attempt++;
    const delay = step / 2 + Math.random() * step / 2;
    this.timer = setTimeout(() => this.open(), delay);
    this.setState(this.everReady ? 'reconnecting' : 'connecting', { delay, code });
  }

  setState(state, detail) {
    this.state = state;
    this.h.onState(state, detail || {});
  }
}
