// The main thread's side of one VU: starts its worker (a JS runtime of its own, as each k6 VU
// is), holds its real WebSocket (the ws package), forwards socket events to it and takes its
// metric samples into the registry.
import { Worker, MessageChannel } from 'node:worker_threads';
import WebSocket from 'ws';

// canonicalHeader writes a header name as Go's net/http does ("sec-websocket-protocol" ->
// "Sec-Websocket-Protocol"): k6 hands scripts the Go response's header map.
function canonicalHeader(name) {
  return name
    .split('-')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1).toLowerCase())
    .join('-');
}

function goHeaders(h) {
  const out = {};
  for (const [k, v] of Object.entries(h || {})) {
    out[canonicalHeader(k)] = Array.isArray(v) ? v[0] : String(v);
  }
  return out;
}

export class VUHost {
  constructor({ vu, script, env, registry }) {
    this.vu = vu;
    this.registry = registry;
    this.sab = new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT);
    this.ctl = new Int32Array(this.sab);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.sockets = new Map();
    this.closing = new Set(); // promises of sockets the script closed, settled once they are gone
    this.result = null;
    this.ready = new Promise((resolve, reject) => {
      this._ready = resolve;
      this._initFailed = reject;
    });
    this.done = new Promise((resolve) => {
      this._done = resolve;
    });
    this.worker = new Worker(new URL('./vu.mjs', import.meta.url), {
      workerData: { vu, script, env, port: port2, ctl: this.sab },
      transferList: [port2],
    });
    this.worker.on('error', (e) => this._finish({ fatal: `vu ${vu}: ${e && e.stack ? e.stack : e}` }));
    // The worker has ended when it has exited and its port has closed: the port delivers every
    // message the worker posted (its 'done' included) before it closes.
    let exited = false;
    let portClosed = false;
    const ended = () => exited && portClosed && this._finish({ fatal: `vu ${vu}: worker ended without reporting` });
    this.worker.on('exit', () => {
      exited = true;
      ended();
    });
    this.port.on('close', () => {
      portClosed = true;
      ended();
    });
    this.port.on('message', (m) => this._onMessage(m));
  }

  // send posts a message to the VU and wakes it (see channel.mjs).
  send(msg, transfer) {
    this.port.postMessage(msg, transfer);
    Atomics.add(this.ctl, 0, 1);
    Atomics.notify(this.ctl, 0);
  }

  start(setupJSON, iterations) {
    this.send({ t: 'start', data: setupJSON, iterations });
  }

  // noMoreIterations: maxDuration passed; interrupt: gracefulStop passed too.
  noMoreIterations() {
    Atomics.store(this.ctl, 2, 1);
  }

  interrupt() {
    Atomics.store(this.ctl, 1, 1);
    Atomics.add(this.ctl, 0, 1);
    Atomics.notify(this.ctl, 0);
  }

  _finish(result) {
    if (this.result) {
      return;
    }
    this.result = result;
    for (const s of this.sockets.values()) {
      s.terminate();
    }
    this.sockets.clear();
    this.port.close();
    if (result.fatal) {
      this.worker.terminate();
      this._initFailed(new Error(result.fatal));
    }
    this._done(result);
  }

  _onMessage(m) {
    switch (m.t) {
      case 'ready':
        for (const [name, type, contains] of m.declared) {
          this.registry.declare(name, type, contains);
        }
        this._ready();
        break;
      case 'initError':
        this._finish({ fatal: `vu ${this.vu}: init: ${m.error}` });
        break;
      case 'samples':
        for (const [name, value, check] of m.list) {
          this.registry.add(name, value, check);
        }
        break;
      case 'log':
        process.stderr.write(`${m.level === 'log' ? 'info' : m.level}[vu ${this.vu}] ${m.text}\n`);
        break;
      case 'connect':
        this._connect(m);
        break;
      case 'send': {
        const s = this.sockets.get(m.id);
        if (s && s.readyState === WebSocket.OPEN) {
          s.send(m.data);
        }
        break;
      }
      case 'close':
        this._close(m.id, m.code);
        break;
      case 'done':
        this._finish({ errors: m.errors, interrupted: m.interrupted, iterations: m.iterations });
        break;
      default:
        this._finish({ fatal: `vu ${this.vu}: unknown message ${m.t}` });
    }
  }

  _connect({ id, url, headers }) {
    // k6 offers subprotocols through the Sec-WebSocket-Protocol request header; ws takes them as
    // its protocols argument (and, unlike k6's Go client, fails the handshake when the server
    // does not pick one of them).
    const protocols = [];
    const rest = {};
    for (const [k, v] of Object.entries(headers)) {
      if (k.toLowerCase() === 'sec-websocket-protocol') {
        protocols.push(...v.split(',').map((p) => p.trim()).filter((p) => p));
      } else {
        rest[k] = v;
      }
    }
    let s;
    let settled = false;
    const settle = (msg) => {
      if (!settled) {
        settled = true;
        this.send(msg);
      }
    };
    try {
      // k6 uses no compression unless asked; ws would offer permessage-deflate by default.
      s = new WebSocket(url, protocols, { headers: rest, perMessageDeflate: false, handshakeTimeout: 60000, followRedirects: false });
    } catch (e) {
      settle({ t: 'fail', id, status: 0, error: String(e.message || e) });
      return;
    }
    this.sockets.set(id, s);
    let upgrade = null;
    s.on('upgrade', (res) => {
      upgrade = res;
    });
    s.on('open', () => settle({ t: 'open', id, status: upgrade.statusCode, headers: goHeaders(upgrade.headers) }));
    s.on('unexpected-response', (req, res) => {
      settle({ t: 'fail', id, status: res.statusCode, headers: goHeaders(res.headers), error: `websocket: bad handshake (HTTP ${res.statusCode})` });
      this.sockets.delete(id);
      req.destroy();
    });
    s.on('message', (data, isBinary) => {
      if (isBinary) {
        const ab = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
        this.send({ t: 'binary', id, data: ab }, [ab]);
      } else {
        this.send({ t: 'message', id, data: data.toString('utf8') });
      }
    });
    s.on('error', (e) => {
      if (!settled) {
        settle({ t: 'fail', id, status: 0, error: String(e.message || e) });
      } else if (this.sockets.has(id)) {
        this.send({ t: 'error', id, error: String(e.message || e) });
      }
    });
    s.on('close', (code, reason) => {
      if (!settled) {
        settle({ t: 'fail', id, status: 0, error: `connection closed during the handshake (${code})` });
      } else if (this.sockets.has(id)) {
        this.send({ t: 'close', id, code, reason: reason.toString() });
      }
      this.sockets.delete(id);
    });
  }

  // _close: the script closed the socket. k6 writes the close frame and drops the connection
  // without waiting for the server's reply; ws waits for the reply, so the TCP connection is cut
  // after a second at most.
  _close(id, code) {
    const s = this.sockets.get(id);
    if (!s) {
      return;
    }
    this.sockets.delete(id);
    const gone = new Promise((resolve) => s.once('close', resolve));
    this.closing.add(gone);
    gone.then(() => this.closing.delete(gone));
    try {
      s.close(code);
    } catch {
      s.terminate(); // a code ws refuses to send (1005, 1006, ...)
      return;
    }
    setTimeout(() => s.terminate(), 1000).unref();
  }
}
