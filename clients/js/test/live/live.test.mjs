// The live scenarios (scenarios.mjs) under Node, on the ws package, against the nodes that
// server/sdk_typescript_test.go (TestJSClientLive) starts and names in the environment:
//   CHATD_SDK_MODE     single | cluster
//   CHATD_SDK_URLS     the nodes' WebSocket URLs, comma-separated
//   CHATD_SDK_CONTROL  the control endpoint (kill, start, freeze and thaw a node; restart Redis; tokens)
//   CHATD_SDK_TRANSPORT  http-stream: every client's WebSocket fails to open, so that it falls back to
//                      HTTP streaming by itself (server/stream_sdk_test.go); empty: WebSockets
import { test, afterEach } from 'node:test';
import WebSocket from 'ws';
import { ChatClient } from '../../dist/index.js';
import { scenariosFor } from './scenarios.mjs';

const mode = process.env.CHATD_SDK_MODE;
const urls = (process.env.CHATD_SDK_URLS || '').split(',').filter(Boolean);
const control = process.env.CHATD_SDK_CONTROL;
if (!mode || urls.length === 0 || !control) {
  throw new Error('run by server/sdk_typescript_test.go (go test -run TestJSClientLive ./server/), which starts the nodes');
}

const transport = process.env.CHATD_SDK_TRANSPORT || 'websocket';

// BlockedWebSocket stands for a network that breaks WebSockets: none ever opens.
class BlockedWebSocket {
  constructor() { throw new Error('WebSockets are blocked here'); }
}

const clients = [];
afterEach(() => {
  for (const c of clients.splice(0)) {
    c.close();
    if (c.transportName && c.transportName !== transport) {
      throw new Error(`a client used ${c.transportName}, want ${transport}`);
    }
  }
});

const env = {
  mode,
  urls,
  clients,
  client: (options) => new ChatClient({ WebSocket: transport === 'http-stream' ? BlockedWebSocket : WebSocket, ...options }),
  async control(path) {
    const res = await fetch(control + path, { method: 'POST' });
    if (!res.ok) throw new Error(`control ${path}: ${res.status} ${await res.text()}`);
  },
  async token(sub, ttl, name = '') {
    const res = await fetch(`${control}/token?sub=${encodeURIComponent(sub)}&ttl=${ttl}&name=${encodeURIComponent(name)}`);
    if (!res.ok) throw new Error(`token: ${res.status}`);
    return res.text();
  },
  log: (...a) => console.log(...a),
};

let n = 0;
const run = Math.random().toString(36).slice(2, 8);
for (const s of scenariosFor(mode)) {
  test(s.name, { timeout: 120000 }, () => s.run({ ...env, tag: `node-${mode}-${run}-${++n}` }));
}
