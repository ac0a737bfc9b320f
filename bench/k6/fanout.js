// fanout: CLIENTS members in ROOMS rooms, each sending RATE messages per second for DURATION.
//
//   k6 run -e URL=ws://127.0.0.1:8080/ws -e CLIENTS=1000 -e ROOMS=10 -e RATE=1 -e DURATION=30s bench/k6/fanout.js
//
// Env: URL (comma list; a room's members alternate between them), CLIENTS, ROOMS, RATE (msg/s per
// member), DURATION, JOIN_WAIT (time for every VU to connect and join before sending starts),
// DRAIN (wait after sending), SIZE (content bytes), ROOM_PREFIX, P99_MS (latency threshold, default
// 100), SUMMARY_JSON (file for k6's data).
import ws from 'k6/ws';
import { check } from 'k6';
import * as c from './common.js';

const CLIENTS = c.envInt('CLIENTS', 100);
const ROOMS = c.envInt('ROOMS', 10);
const RATE = c.envFloat('RATE', 1);
const DURATION = c.durationMs(__ENV.DURATION || '30s');
const JOIN_WAIT = c.durationMs(__ENV.JOIN_WAIT || '5s');
const DRAIN = c.durationMs(__ENV.DRAIN || '5s');
const SIZE = c.envInt('SIZE', 0);
const URLS = c.urls();

export const options = {
  scenarios: {
    fanout: {
      executor: 'per-vu-iterations',
      vus: CLIENTS,
      iterations: 1,
      maxDuration: `${Math.ceil((JOIN_WAIT + DURATION + DRAIN) / 1000) + 60}s`,
    },
  },
  thresholds: c.thresholds(),
  summaryTrendStats: c.summaryTrendStats,
};

// setup runs once: every VU gets the same room prefix and the same start time.
export function setup() {
  return { prefix: __ENV.ROOM_PREFIX || `k6-${Date.now()}`, startAt: Date.now() + JOIN_WAIT };
}

export default function (data) {
  const me = __VU - 1;
  const room = me % ROOMS;
  const url = URLS[Math.floor(me / ROOMS) % URLS.length];
  const others = c.roomSize(CLIENTS, ROOMS, room) - 1;
  const state = { lastSeq: {}, maxCount: 0 };
  let opened = 0;
  let seq = 0;
  const res = ws.connect(url, {}, function (socket) {
    socket.on('open', () => {
      opened = Date.now();
    });
    socket.on('message', (raw) => {
      const m = c.account(me, raw, state);
      if (!m) {
        return;
      }
      if (m.type === 'connected') {
        socket.send(JSON.stringify({ type: 'join', roomId: `${data.prefix}-${room}`, username: `k${me}` }));
      } else if (m.type === 'roomJoined') {
        c.joinLatency.add(Date.now() - opened);
        // Spread the members' sends over one interval, like chatbench.
        const interval = 1000 / RATE;
        const first = data.startAt + (interval * me) / CLIENTS;
        const stopAt = data.startAt + DURATION;
        socket.setTimeout(() => {
          const tick = () => {
            if (Date.now() >= stopAt) {
              return;
            }
            socket.send(JSON.stringify({ type: 'message', content: c.makeContent(me, seq++, SIZE) }));
            c.sent.add(1);
            c.expected.add(others);
          };
          tick();
          socket.setInterval(tick, interval);
        }, Math.max(0, first - Date.now()));
      }
    });
    socket.on('error', (e) => {
      console.error(`vu ${__VU}: ${e.error()}`);
    });
    socket.setTimeout(() => socket.close(), Math.max(0, data.startAt + DURATION + DRAIN - Date.now()));
  });
  check(res, { 'upgraded (101)': (r) => r && r.status === 101 });
}

export function handleSummary(data) {
  return c.summary(data);
}
