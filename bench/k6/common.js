// Shared pieces of the chatd k6 scripts (fanout.js, bigroom.js). k6 is not a dependency of chatd:
// run these with your own k6 (see bench/README.md). They mirror chatbench's workloads, with the
// accounting k6 can do: per-sender order and counts, not exact per-pair dedup.
import { Counter, Trend } from 'k6/metrics';

export const sent = new Counter('chat_sent');
export const expected = new Counter('chat_expected'); // each message times (room members - 1)
export const received = new Counter('chat_received'); // messages from other members
export const echoes = new Counter('chat_echoes');
export const outOfOrder = new Counter('chat_out_of_order'); // seq not above the sender's last (late or duplicate)
export const foreign = new Counter('chat_foreign');
export const serverErrors = new Counter('chat_server_errors');
export const latency = new Trend('chat_latency', true); // ms, from the send time in the content
export const joinLatency = new Trend('chat_join_latency', true); // open to roomJoined

// The trend stats handleSummary gets. k6's default stops at p(95): without p(99) here the
// summary below prints "p99 -". count says how many members reported (e.g. joined).
export const summaryTrendStats = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'];

// thresholds: the run fails when the p99 delivery latency reaches P99_MS (default 100 ms).
export function thresholds() {
  return { chat_latency: [`p(99)<${envFloat('P99_MS', 100)}`] };
}

export function envInt(name, def) {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : parseInt(v, 10);
}

export function envFloat(name, def) {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : parseFloat(v);
}

// durationMs parses "500ms", "30s", "2m" or a number of seconds.
export function durationMs(s) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(s).trim());
  if (!m) {
    throw new Error(`bad duration ${s}`);
  }
  const n = parseFloat(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60000 : n * 1000;
}

export function urls() {
  return (__ENV.URL || 'ws://127.0.0.1:8080/ws').split(',').map((u) => u.trim()).filter((u) => u);
}

// Same layout as chatbench: member i is in room i % rooms at position floor(i / rooms), and
// position p connects to URL p % urls.length.
export function roomSize(clients, rooms, r) {
  return Math.floor((clients - r - 1) / rooms) + 1;
}

// content is "k6:<sender>:<seq>:<unixMillis>" padded with 'x' to size bytes.
export function makeContent(sender, seq, size) {
  let c = `k6:${sender}:${seq}:${Date.now()}:`;
  if (c.length < size) {
    c += 'x'.repeat(size - c.length);
  }
  return c;
}

// account handles one server message for member `me`; state holds lastSeq per sender and the
// largest memberCount seen.
export function account(me, raw, state) {
  let m;
  try {
    m = JSON.parse(raw);
  } catch (e) {
    foreign.add(1);
    return null;
  }
  if (m.type === 'error') {
    serverErrors.add(1);
  }
  if (m.memberCount !== undefined && m.memberCount > state.maxCount) {
    state.maxCount = m.memberCount;
  }
  if (m.type !== 'message') {
    return m;
  }
  const p = String(m.content).split(':');
  if (p.length < 4 || p[0] !== 'k6') {
    foreign.add(1);
    return m;
  }
  const sender = parseInt(p[1], 10);
  const seq = parseInt(p[2], 10);
  const at = parseInt(p[3], 10);
  if (sender === me) {
    echoes.add(1);
    return m;
  }
  received.add(1);
  latency.add(Date.now() - at);
  const last = state.lastSeq[sender];
  if (last !== undefined && seq <= last) {
    outOfOrder.add(1);
  } else {
    state.lastSeq[sender] = seq;
  }
  return m;
}

// summary prints the delivery accounting after k6's run (replaces k6's default summary).
export function summary(data) {
  const count = (name) => (data.metrics[name] ? data.metrics[name].values.count : 0);
  const trend = (name) => (data.metrics[name] ? data.metrics[name].values : {});
  const lat = trend('chat_latency');
  const exp = count('chat_expected');
  const got = count('chat_received');
  const fmt = (v) => (v === undefined ? '-' : `${v.toFixed(2)}ms`);
  const lines = [
    `sent ${count('chat_sent')}, expected ${exp}, received ${got}, missing ${Math.max(0, exp - got)}, ` +
      `out-of-order/duplicate ${count('chat_out_of_order')}, echoes ${count('chat_echoes')}, ` +
      `foreign ${count('chat_foreign')}, server errors ${count('chat_server_errors')}`,
    `latency p50 ${fmt(lat['med'])} p90 ${fmt(lat['p(90)'])} p95 ${fmt(lat['p(95)'])} p99 ${fmt(lat['p(99)'])} max ${fmt(lat['max'])}`,
  ];
  const seen = trend('chat_all_joins_seen');
  if (seen.max !== undefined) {
    lines.push(`all joins seen by every member after ${fmt(seen.max)} (slowest member)`);
  }
  if (data.metrics['chat_acks'] !== undefined) {
    lines.push(
      `v2: acks ${count('chat_acks')}, unanswered ${count('chat_unanswered')}, bad replies ${count('chat_bad_replies')}, ` +
        `stray ${count('chat_stray')}, ack latency p99 ${fmt(trend('chat_ack_latency')['p(99)'])}`,
    );
  }
  const out = { stdout: lines.join('\n') + '\n' };
  if (__ENV.SUMMARY_JSON) {
    out[__ENV.SUMMARY_JSON] = JSON.stringify(data);
  }
  return out;
}
