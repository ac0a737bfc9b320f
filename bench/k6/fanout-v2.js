// fanout-v2: protocol v2 (see the README), several rooms per connection. CLIENTS connections; connection
// i joins ROOMS_PER_CLIENT of the ROOMS rooms, (i + k) % ROOMS for k < ROOMS_PER_CLIENT, and
// publishes RATE messages per second, round-robin over its rooms, for DURATION.
//
//   k6 run -e URL=ws://127.0.0.1:8080/ws -e CLIENTS=1000 -e ROOMS=10 -e ROOMS_PER_CLIENT=3 -e RATE=1 -e DURATION=30s bench/k6/fanout-v2.js
//
// Env: as fanout.js, plus ROOMS_PER_CLIENT. A v2 server pushes a message to every member
// connection of the room but the publishing one, which gets the `ok` of its request instead.
// Accounting is per room and sender: content is "k6:<sender>:<seq>:<unixMillis>:r<room>:" with
// seq counting the sender's messages to that room, so a push in the wrong room is caught.
import ws from 'k6/ws';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import * as c from './common.js';

const CLIENTS = c.envInt('CLIENTS', 100);
const ROOMS = c.envInt('ROOMS', 10);
const PER = Math.max(1, Math.min(c.envInt('ROOMS_PER_CLIENT', 3), ROOMS));
const RATE = c.envFloat('RATE', 1);
const DURATION = c.durationMs(__ENV.DURATION || '30s');
const JOIN_WAIT = c.durationMs(__ENV.JOIN_WAIT || '5s');
const DRAIN = c.durationMs(__ENV.DRAIN || '5s');
const SIZE = c.envInt('SIZE', 0);
const URLS = c.urls();

const acks = new Counter('chat_acks'); // `ok` replies to publish
const unanswered = new Counter('chat_unanswered'); // requests without a reply when the socket closed
const badReplies = new Counter('chat_bad_replies'); // a reply whose id matches no open request
const stray = new Counter('chat_stray'); // a push in a room other than the one it was published to
const ackLatency = new Trend('chat_ack_latency', true); // publish to its `ok`

export const options = {
  scenarios: {
    fanout_v2: {
      executor: 'per-vu-iterations',
      vus: CLIENTS,
      iterations: 1,
      maxDuration: `${Math.ceil((JOIN_WAIT + DURATION + DRAIN) / 1000) + 60}s`,
    },
  },
  thresholds: c.thresholds(),
  summaryTrendStats: c.summaryTrendStats,
};

function roomsOf(i) {
  const out = [];
  for (let k = 0; k < PER; k++) {
    out.push((i + k) % ROOMS);
  }
  return out;
}

// MEMBERS[r] is the number of connections in room r.
const MEMBERS = new Array(ROOMS).fill(0);
for (let i = 0; i < CLIENTS; i++) {
  roomsOf(i).forEach((r) => MEMBERS[r]++);
}

// content is makeContent's with the room appended, padded to size bytes.
function content(sender, seq, room, size) {
  let s = `k6:${sender}:${seq}:${Date.now()}:r${room}:`;
  if (s.length < size) {
    s += 'x'.repeat(size - s.length);
  }
  return s;
}

// header looks a response header up by name in any case (k6 gives Go's canonical names).
function header(headers, name) {
  const k = Object.keys(headers || {}).find((h) => h.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : headers[k];
}

export function setup() {
  return { prefix: __ENV.ROOM_PREFIX || `k6v2-${Date.now()}`, startAt: Date.now() + JOIN_WAIT };
}

export default function (data) {
  const me = __VU - 1;
  const rooms = roomsOf(me);
  const roomIds = rooms.map((r) => `${data.prefix}-${r}`);
  const url = URLS[me % URLS.length];
  const st = { pending: new Map(), nextId: 1, first: null, joined: 0, lastSeq: {}, seq: rooms.map(() => 0) };
  let opened = 0;

  // account handles one `message` push.
  const account = (m) => {
    const p = String(m.content).split(':');
    if (p.length < 5 || p[0] !== 'k6') {
      c.foreign.add(1);
      return;
    }
    const sender = parseInt(p[1], 10);
    const seq = parseInt(p[2], 10);
    const at = parseInt(p[3], 10);
    const room = parseInt(p[4].slice(1), 10);
    if (sender === me) {
      c.echoes.add(1); // v2 never pushes to the publishing connection
      return;
    }
    if (roomIds.indexOf(m.roomId) !== rooms.indexOf(room) || rooms.indexOf(room) < 0) {
      stray.add(1);
      return;
    }
    c.received.add(1);
    c.latency.add(Date.now() - at);
    const key = `${room}/${sender}`;
    const last = st.lastSeq[key];
    if (last !== undefined && seq <= last) {
      c.outOfOrder.add(1);
    } else {
      st.lastSeq[key] = seq;
    }
  };

  const res = ws.connect(url, { headers: { 'Sec-WebSocket-Protocol': 'chatd.v2' } }, function (socket) {
    const request = (msg) => {
      const id = st.nextId++;
      st.pending.set(id, { type: msg.type, at: Date.now() });
      socket.send(JSON.stringify(Object.assign({ id }, msg)));
    };

    // publish from data.startAt to startAt+DURATION, members spread over one interval.
    const startPublishing = () => {
      const interval = 1000 / RATE;
      const first = data.startAt + (interval * me) / CLIENTS;
      const stopAt = data.startAt + DURATION;
      let k = 0;
      socket.setTimeout(() => {
        const tick = () => {
          if (Date.now() >= stopAt) {
            return;
          }
          const slot = k++ % PER;
          request({ type: 'publish', roomId: roomIds[slot], content: content(me, st.seq[slot]++, rooms[slot], SIZE) });
          c.sent.add(1);
          c.expected.add(MEMBERS[rooms[slot]] - 1);
        };
        tick();
        socket.setInterval(tick, interval);
      }, Math.max(0, first - Date.now()));
    };

    // reply handles an `ok` or `error` that carries an id.
    const reply = (m) => {
      const req = st.pending.get(m.id);
      if (!req) {
        badReplies.add(1);
        return;
      }
      st.pending.delete(m.id);
      if (m.type === 'error') {
        c.serverErrors.add(1);
        console.error(`vu ${__VU}: ${req.type} refused: ${m.code} ${m.message}`);
        return;
      }
      if (req.type === 'hello') {
        roomIds.forEach((roomId) => request({ type: 'join', roomId }));
      } else if (req.type === 'join') {
        st.joined++;
        if (st.joined === PER) {
          c.joinLatency.add(Date.now() - opened);
          startPublishing();
        }
      } else if (req.type === 'publish') {
        acks.add(1);
        ackLatency.add(Date.now() - req.at);
      }
    };

    socket.on('open', () => {
      opened = Date.now();
      request({ type: 'hello', name: `k${me}` });
    });
    socket.on('message', (raw) => {
      let m;
      try {
        m = JSON.parse(raw);
      } catch (e) {
        c.foreign.add(1);
        return;
      }
      if (st.first === null) {
        st.first = m;
      }
      if (m.id !== undefined && (m.type === 'ok' || m.type === 'error')) {
        reply(m);
      } else if (m.type === 'error') {
        c.serverErrors.add(1);
        console.error(`vu ${__VU}: ${m.code} ${m.message}`);
      } else if (m.type === 'message') {
        account(m);
      }
      // joined, left, typing and resync pushes are not accounted.
    });
    socket.on('error', (e) => {
      console.error(`vu ${__VU}: ${e.error()}`);
    });
    socket.setTimeout(() => socket.close(), Math.max(0, data.startAt + DURATION + DRAIN - Date.now()));
  });
  unanswered.add(st.pending.size);
  check(res, {
    'upgraded (101)': (r) => r && r.status === 101,
    'subprotocol chatd.v2': (r) => r && header(r.headers, 'Sec-WebSocket-Protocol') === 'chatd.v2',
  });
  check(st, {
    'hello answered first': (s) => s.first !== null && s.first.type === 'ok' && s.first.id === 1,
    'joined every room': (s) => s.joined === PER,
    'every request answered': (s) => s.pending.size === 0,
  });
}

export function handleSummary(data) {
  return c.summary(data);
}
