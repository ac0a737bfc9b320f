// The 'k6/ws' module: ws.connect(url, params, callback), blocking for the VU until the socket is
// closed, with the socket's events and timers run in between, as in k6.
//
// What it follows from k6: the handshake completes before the callback runs; a failed handshake
// returns a response with the error and status (0 without an HTTP answer) and never calls the
// callback; the callback registers handlers, then 'open' fires; messages are dispatched in
// arrival order; socket.close([code]) (default 1001) sends the close frame, fires 'close'
// at once and ends connect() (later messages are dropped); setInterval drops ticks it is late
// for; an exception in a handler closes the socket and propagates out of connect().
// A close frame from the server fires 'error' first unless its code is 1000, then 'close'.
import { rt } from '../runtime.mjs';
import * as ch from '../channel.mjs';

const EVENTS = new Set(['open', 'message', 'binaryMessage', 'close', 'error']);
const PARAMS = new Set(['headers', 'tags']);

let lastSocket = 0;

// wsError mimics the Go error value k6 hands to 'error' handlers (scripts call e.error()).
function wsError(msg) {
  return { error: () => msg, toString: () => msg };
}

class Socket {
  constructor(id) {
    this._id = id;
    this._handlers = {};
    this._timers = [];
    this._closed = false;
    this._errored = false;
  }

  on(event, fn) {
    if (!EVENTS.has(event)) {
      throw new Error(`socket.on('${event}') is not emulated by the shim`);
    }
    (this._handlers[event] ||= []).push(fn);
  }

  send(data) {
    if (this._closed) {
      return;
    }
    ch.post({ t: 'send', id: this._id, data: String(data) });
    rt.emit('ws_msgs_sent', 1);
  }

  setTimeout(fn, ms) {
    const d = Number(ms);
    if (!(d >= 0)) {
      throw new Error(`setTimeout requires a >=0 timeout parameter, received ${ms}`);
    }
    this._timers.push({ at: Date.now() + d, every: 0, fn });
  }

  setInterval(fn, ms) {
    const d = Number(ms);
    if (!(d > 0)) {
      throw new Error(`setInterval requires a >0 timeout parameter, received ${ms}`);
    }
    this._timers.push({ at: Date.now() + d, every: d, fn });
  }

  close(code) {
    if (this._closed) {
      return;
    }
    const c = code === undefined ? 1001 : Number(code);
    this._closed = true;
    ch.post({ t: 'close', id: this._id, code: c });
    this._emit('close', c);
  }

  ping() {
    throw new Error('socket.ping is not emulated by the shim');
  }

  sendBinary() {
    throw new Error('socket.sendBinary is not emulated by the shim');
  }

  setLoop() {
    throw new Error('socket.setLoop is not emulated by the shim');
  }

  _emit(event, ...args) {
    for (const fn of this._handlers[event] || []) {
      fn(...args);
    }
  }

  // _runTimers runs every timer that is due, earliest first; an interval fires once however late
  // it is and then keeps its phase (missed ticks are dropped, like Go's ticker).
  _runTimers() {
    for (;;) {
      if (this._closed || this._timers.length === 0) {
        return;
      }
      const now = Date.now();
      let t = null;
      for (const x of this._timers) {
        if (x.at <= now && (t === null || x.at < t.at)) {
          t = x;
        }
      }
      if (t === null) {
        return;
      }
      if (t.every > 0) {
        while (t.at <= now) {
          t.at += t.every;
        }
      } else {
        this._timers.splice(this._timers.indexOf(t), 1);
      }
      t.fn();
    }
  }

  _nextDeadline() {
    let d = Infinity;
    for (const x of this._timers) {
      d = Math.min(d, x.at);
    }
    return d;
  }

  // _run is the socket's event loop: due timers, then the next event or the next timer.
  _run() {
    while (!this._closed) {
      this._runTimers();
      if (this._closed) {
        return;
      }
      const ev = ch.next(this._nextDeadline());
      if (ev === ch.STOP) {
        this.close(1001);
        throw new ch.Interrupted();
      }
      if (ev === null || ev.id !== this._id) {
        continue; // a timer is due, or an event of an earlier socket
      }
      switch (ev.t) {
        case 'message':
          rt.emit('ws_msgs_received', 1);
          this._emit('message', ev.data);
          break;
        case 'binary':
          rt.emit('ws_msgs_received', 1);
          this._emit('binaryMessage', ev.data);
          break;
        case 'error':
          this._errored = true;
          this._emit('error', wsError(ev.error));
          break;
        case 'close':
          if (ev.code !== 1000 && !this._errored) {
            this._emit('error', wsError(`websocket: close ${ev.code} ${ev.reason || ''}`.trim()));
          }
          this._closed = true;
          this._emit('close', ev.code);
          break;
        default:
          throw new Error(`shim: unexpected socket event ${ev.t}`);
      }
    }
  }
}

export function connect(url, params, callback) {
  if (typeof params === 'function') {
    callback = params;
    params = null;
  }
  if (rt.phase !== 'vu') {
    throw new Error(`ws.connect in the ${rt.phase} context is not emulated by the shim (only in a VU's iteration)`);
  }
  if (typeof callback !== 'function') {
    throw new Error('ws.connect: the last argument must be a function');
  }
  for (const k of Object.keys(params || {})) {
    if (!PARAMS.has(k)) {
      throw new Error(`ws.connect param ${k} is not emulated by the shim`);
    }
  }
  const headers = {};
  for (const [k, v] of Object.entries((params && params.headers) || {})) {
    headers[k] = String(v);
  }
  const id = ++lastSocket;
  const t0 = Date.now();
  ch.post({ t: 'connect', id, url: String(url), headers });
  let ev;
  do {
    ev = ch.next(Infinity);
    if (ev === ch.STOP) {
      ch.post({ t: 'close', id, code: 1001 });
      throw new ch.Interrupted();
    }
  } while (ev.id !== id);
  rt.emit('ws_connecting', Date.now() - t0);
  const res = { url: String(url), status: ev.status, headers: ev.headers || {}, body: '', error: ev.error || '' };
  if (ev.t !== 'open') {
    console.warn(`Attempt to establish a WebSocket connection failed: ${res.error}`);
    return res;
  }
  rt.emit('ws_sessions', 1);
  const socket = new Socket(id);
  try {
    callback(socket);
    socket._emit('open');
    socket._run();
  } catch (e) {
    if (!socket._closed) {
      socket._closed = true;
      ch.post({ t: 'close', id, code: 1001 });
    }
    throw e;
  }
  rt.emit('ws_session_duration', Date.now() - t0);
  return res;
}

export default { connect };
