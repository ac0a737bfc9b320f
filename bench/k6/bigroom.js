// bigroom: CLIENTS members in one room, TOTAL_RATE messages per second over all of them. Every
// join is announced to every member already there, so joining is the heavy part: the metric
// chat_all_joins_seen is, per member, the time from the start until it saw the room full.
//
//   k6 run -e URL=ws://127.0.0.1:8080/ws -e CLIENTS=2000 -e TOTAL_RATE=20 -e DURATION=30s bench/k6/bigroom.js
//
// Env: URL (comma list), CLIENTS, TOTAL_RATE, DURATION, JOIN_WAIT (before sending starts; make it
// longer than the joins take), DRAIN, SIZE, ROOM_PREFIX, P99_MS, SUMMARY_JSON.
import ws from 'k6/ws';
import { check } from 'k6';
import { Trend } from 'k6/metrics';
import * as c from './common.js';

const CLIENTS = c.envInt('CLIENTS', 2000);
const TOTAL_RATE = c.envFloat('TOTAL_RATE', 20);
const DURATION = c.durationMs(__ENV.DURATION || '30s');
const JOIN_WAIT = c.durationMs(__ENV.JOIN_WAIT || '30s');
const DRAIN = c.durationMs(__ENV.DRAIN || '5s');
const SIZE = c.envInt('SIZE', 0);
const URLS = c.urls();

const allJoinsSeen = new Trend('chat_all_joins_seen', true);

export const options = {
  scenarios: {
    bigroom: {
      executor: 'per-vu-iterations',
      vus: CLIENTS,
      iterations: 1,
      maxDuration: `${Math.ceil((JOIN_WAIT + DURATION + DRAIN) / 1000) + 60}s`,
    },
  },
  thresholds: c.thresholds(),
  summaryTrendStats: c.summaryTrendStats,
};

export function setup() {
  const now = Date.now();
  return { room: __ENV.ROOM_PREFIX ? `${__ENV.ROOM_PREFIX}-0` : `k6-big-${now}`, t0: now, startAt: now + JOIN_WAIT };
}

export default function (data) {
  const me = __VU - 1;
  const url = URLS[me % URLS.length];
  const state = { lastSeq: {}, maxCount: 0 };
  let opened = 0;
  let full = false;
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
      if (!full && state.maxCount >= CLIENTS) {
        full = true;
        allJoinsSeen.add(Date.now() - data.t0);
      }
      if (m.type === 'connected') {
        socket.send(JSON.stringify({ type: 'join', roomId: data.room, username: `k${me}` }));
      } else if (m.type === 'roomJoined') {
        c.joinLatency.add(Date.now() - opened);
        // TOTAL_RATE over CLIENTS members: each sends every CLIENTS/TOTAL_RATE seconds, offsets
        // spread evenly, so the room as a whole gets TOTAL_RATE messages per second.
        const interval = (1000 * CLIENTS) / TOTAL_RATE;
        const first = data.startAt + (interval * me) / CLIENTS;
        const stopAt = data.startAt + DURATION;
        if (first < stopAt) {
          socket.setTimeout(() => {
            const tick = () => {
              if (Date.now() >= stopAt) {
                return;
              }
              socket.send(JSON.stringify({ type: 'message', content: c.makeContent(me, seq++, SIZE) }));
              c.sent.add(1);
              c.expected.add(CLIENTS - 1);
            };
            tick();
            socket.setInterval(tick, interval);
          }, Math.max(0, first - Date.now()));
        }
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
