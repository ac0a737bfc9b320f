// Scenarios of the TypeScript client against live chatd nodes, written once for two runners:
// live.test.mjs (Node, on the ws package) and scripts/browser/sdk-live.mjs (Chromium, on the
// bundle chatd serves). server/sdk_typescript_test.go starts the nodes and the control endpoint.
//
// A scenario gets an env and uses nothing else (no Node or browser API but timers), so that it
// runs the same in both:
//   env.mode                single (one node, embedded broker) | cluster (two nodes, one Redis)
//   env.urls                the nodes' WebSocket URLs
//   env.client(options)     a ChatClient, not connected yet (the runner supplies the WebSocket)
//   env.control(path)       POST to the control endpoint (/node/kill?i=0, /redis/restart, ...)
//   env.token(sub, ttl, name)  a token the nodes accept, valid for ttl seconds
//   env.tag                 unique per run, for room names
//   env.log(...)            progress lines
// Each wait is for an event or a state, bounded by WAIT_MS (the machine may be loaded).

const WAIT_MS = 20000;

// ---- checks (node:assert is not in the browser) -----------------------------------------------

export class CheckError extends Error {}

function fail(msg) {
  throw new CheckError(msg);
}
const show = (v) => JSON.stringify(v);
const check = {
  ok(v, msg) { if (!v) fail(msg); },
  equal(a, b, msg) { if (a !== b) fail(`${msg}: got ${show(a)}, want ${show(b)}`); },
  same(a, b, msg) { if (show(a) !== show(b)) fail(`${msg}: got ${show(a)}, want ${show(b)}`); },
  async rejects(p, code, msg) {
    try {
      await p;
    } catch (e) {
      if (e && e.code === code) return e;
      fail(`${msg}: rejected with ${e && e.code} (${e && e.message}), want ${code}`);
    }
    fail(`${msg}: resolved, want a ${code} rejection`);
  },
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

// until polls cond (for states no event announces in order) until it holds.
async function until(cond, what, ms = WAIT_MS) {
  const end = Date.now() + ms;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > end) fail(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(20);
  }
}

// within bounds a promise in time.
async function within(p, what, ms = WAIT_MS) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new CheckError(`timed out after ${ms} ms: ${what}`)), ms); });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

// track records a room's events.
function track(room) {
  const t = { messages: [], gaps: [], recovered: [], joined: [], left: [], typing: [], states: [] };
  room.on('message', (m) => t.messages.push(m));
  room.on('gap', (g) => t.gaps.push(g));
  room.on('recovered', (r) => t.recovered.push(r));
  room.on('joined', (e) => t.joined.push(e));
  room.on('left', (e) => t.left.push(e));
  room.on('typing', (e) => t.typing.push({ ...e, at: Date.now() }));
  room.on('state', (e) => t.states.push(e.state));
  return t;
}

// contiguous checks that a room's messages are in order with no hole and no copy within each
// epoch, and that every change of epoch or hole came after a gap event.
function contiguous(t, what, from) {
  let epoch = from.epoch || null; // "": an empty room on a server that did not name its epoch
  let offset = from.offset;
  let gaps = 0;
  for (const m of t.messages) {
    if (!m.offset) continue;
    if (epoch === null && offset === 0) epoch = m.epoch;
    if (m.epoch !== epoch || m.offset !== offset + 1) {
      const g = t.gaps[gaps];
      check.ok(g && g.position.epoch === m.epoch && g.position.offset === m.offset - 1,
        `${what}: ${m.epoch}/${m.offset} after ${epoch}/${offset} without a gap event before it`);
      gaps++;
    }
    epoch = m.epoch;
    offset = m.offset;
  }
}

// ---- helpers over the env ---------------------------------------------------------------------

// user connects a client named name, to the nodes in order from node `first`, and waits until it is
// connected.
async function user(env, name, { first = 0, only = false, ...opts } = {}) {
  const urls = only ? [env.urls[first]] : [...env.urls.slice(first), ...env.urls.slice(0, first)];
  const c = env.client({ url: urls, name, requestTimeoutMs: 5000, reconnect: { minDelayMs: 100, maxDelayMs: 1000 }, ...opts });
  const states = [];
  c.on('state', (s) => states.push(s));
  c.states = states;
  env.clients.push(c);
  c.connect();
  await within(c.ready(), `${name} connected to ${urls[0]}`);
  return c;
}

// second is the node index of a second user: the other node in the cluster.
const second = (env) => (env.urls.length > 1 ? 1 : 0);

// joined joins room id on c with options and returns [room, tracker, join result].
async function joined(c, id, options = {}) {
  const room = c.room(id);
  const t = track(room);
  const res = await within(room.join(options), `join ${id}`);
  return [room, t, res];
}

// ---- the scenarios ----------------------------------------------------------------------------

const scenarios = [];
const scenario = (name, modes, run) => scenarios.push({ name, modes, run });
const BOTH = ['single', 'cluster'];

scenario('multi-room chat: messages reach the right rooms, in order, once', BOTH, async (env) => {
  const shared = `${env.tag}-shared`;
  const aRoom = `${env.tag}-alice`;
  const bRoom = `${env.tag}-bob`;
  const alice = await user(env, 'alice');
  const bob = await user(env, 'bob', { first: second(env) });
  const [aShared, ta] = await joined(alice, shared, { history: 10 });
  const [aOwn, tao] = await joined(alice, aRoom);
  const [bShared, tb] = await joined(bob, shared, { history: 10 });
  const [bOwn, tbo] = await joined(bob, bRoom);
  check.equal(bob.user.node, env.mode === 'cluster' ? 'B' : 'A', 'bob is on the second node');

  const first = await aShared.publish('hello bob');
  check.equal(first.offset, 1, 'the first message of a new room');
  check.ok(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(first.timestamp), `timestamp ${first.timestamp}`);
  await until(() => tb.messages.length === 1, 'bob to get the first message');
  check.same([tb.messages[0].content, tb.messages[0].name, tb.messages[0].offset], ['hello bob', 'alice', 1], 'what bob got');

  await aOwn.publish('alice alone');
  await bOwn.publish('bob alone');
  const sent = [];
  for (let i = 0; i < 4; i++) {
    sent.push((await aShared.publish(`a${i}`)).offset);
    sent.push((await bShared.publish(`b${i}`)).offset);
  }
  check.same(sent, range(2, 9), 'offsets of the shared room, as the publishers were told');
  await until(() => ta.messages.length === 4 && tb.messages.length === 5,
    () => `both to get the other's messages (alice ${show(ta.messages.map((m) => m.offset))}, gaps ${show(ta.gaps)}; bob ${show(tb.messages.map((m) => m.offset))}, gaps ${show(tb.gaps)})`);
  check.same(ta.messages.map((m) => `${m.offset}:${m.content}`), ['3:b0', '5:b1', '7:b2', '9:b3'], 'alice got bob\'s');
  check.same(tb.messages.map((m) => m.offset), [1, 2, 4, 6, 8], 'bob got alice\'s');
  check.same([tao.messages.length, tbo.messages.length], [0, 0], 'own rooms: nobody else, and no echo');
  check.same(aShared.position, { epoch: aShared.position.epoch, offset: 9 }, 'alice\'s position in the shared room');
  check.ok(aShared.position.epoch !== '', 'the shared room has an epoch');
});

scenario('presence: members join and leave; presence lists them cluster-wide', BOTH, async (env) => {
  const id = `${env.tag}-presence`;
  const alice = await user(env, 'alice');
  const [aRoom, ta] = await joined(alice, id);
  const bob = await user(env, 'bob', { first: second(env) });
  const [bRoom] = await joined(bob, id);
  await until(() => ta.joined.length === 1, 'alice to hear bob join');
  check.same([ta.joined[0].name, ta.joined[0].memberCount], ['bob', 2], 'the joined event');
  const p = await aRoom.presence();
  check.same(p.members.map((m) => m.name).sort(), ['alice', 'bob'], 'presence');
  check.same([p.memberCount, p.truncated, aRoom.memberCount], [2, false, 2], 'counts');
  await bRoom.leave();
  check.equal(bRoom.state, 'left', 'bob\'s room state');
  await until(() => ta.left.length === 1, 'alice to hear bob leave');
  check.same([ta.left[0].userId, ta.left[0].memberCount], [bob.user.userId, 1], 'the left event');
  check.same((await aRoom.presence()).members.map((m) => m.name), ['alice'], 'presence after');
});

scenario('typing: the other side sees it within the typing interval and while it goes on', BOTH, async (env) => {
  const id = `${env.tag}-typing`;
  const interval = 1000;
  const alice = await user(env, 'alice', { typingIntervalMs: interval });
  const bob = await user(env, 'bob', { first: second(env), typingTimeoutMs: 1500 });
  const [aRoom] = await joined(alice, id);
  const [, tb] = await joined(bob, id);
  const start = Date.now();
  const typingFor = 1500;
  while (Date.now() - start < typingFor) {
    check.ok(aRoom.typing(), 'typing() in a joined room');
    await sleep(100);
  }
  await until(() => tb.typing.length > 0, 'bob to see alice typing');
  const firstSeen = tb.typing[0].at - start;
  check.ok(firstSeen < interval, `bob saw "alice is typing" ${firstSeen} ms after she started, want within ${interval} ms`);
  check.same([tb.typing[0].name, tb.typing[0].typing], ['alice', true], 'the typing event');
  // Notices while she typed: one at once, then one trailing notice per interval.
  await sleep(interval);
  const notices = tb.typing.filter((e) => e.typing).length;
  check.ok(notices >= 2 && notices <= Math.ceil(typingFor / interval) + 1, `${notices} typing notices in ${typingFor} ms`);
  // While she typed (and her notices kept coming), bob never saw her stop.
  const stops = tb.typing.filter((e) => !e.typing && e.at - start < typingFor);
  check.equal(stops.length, 0, 'typing indicator gaps while alice typed');
  await aRoom.publish('done typing');
  await until(() => tb.typing.some((e) => !e.typing), 'her message (or the timeout) to clear the indicator');
});

scenario('history paging: join with history, then page back with before/limit to offset 1', BOTH, async (env) => {
  const id = `${env.tag}-history`;
  const alice = await user(env, 'alice');
  const [aRoom] = await joined(alice, id);
  for (let i = 1; i <= 25; i++) check.equal((await aRoom.publish(`m${i}`)).offset, i, 'publish offset');
  const carol = await user(env, 'carol', { first: second(env) });
  const [cRoom, , res] = await joined(carol, id, { history: 10 });
  check.same(res.messages.map((m) => m.offset), range(16, 25), 'join with history 10');
  check.equal(res.offset, 25, 'the join\'s offset');
  check.same((await cRoom.history({ before: 16, limit: 10 })).map((m) => m.content), range(6, 15).map((i) => `m${i}`), 'page 2');
  check.same((await cRoom.history({ before: 6, limit: 10 })).map((m) => m.offset), range(1, 5), 'page 3');
  check.same(await cRoom.history({ before: 1 }), [], 'before offset 1');
  check.same((await cRoom.history()).map((m) => m.offset), range(1, 25), 'newest page');
  await check.rejects(alice.room(`${id}-not-joined`).history(), 'not_joined', 'history of a room not joined');
});

scenario('room list: every page of a prefix, by id', BOTH, async (env) => {
  const prefix = `${env.tag}-list-`;
  const alice = await user(env, 'alice');
  const ids = range(1, 12).map((i) => `${prefix}${String(i).padStart(2, '0')}`);
  for (const id of ids) await joined(alice, id);
  const seen = [];
  const sizes = [];
  for await (const page of alice.roomPages({ prefix, limit: 5 })) {
    sizes.push(page.rooms.length);
    seen.push(...page.rooms.map((r) => r.roomId));
  }
  check.same(seen, ids, 'room ids of every page');
  check.same(sizes, [5, 5, 2], 'page sizes');
});

scenario('tokens: getToken keeps the connection past exp with refresh; a static token expires (4001)', BOTH, async (env) => {
  const issued = [];
  const getToken = async () => {
    const t = await env.token('dave', 3, 'Dave');
    issued.push(Date.now());
    return t;
  };
  const dave = await user(env, 'dave', { name: undefined, getToken });
  check.same([dave.user.userId, dave.user.name], ['dave', 'Dave'], 'the token names the user');
  const id = `${env.tag}-tokens`;
  const [, td] = await joined(dave, id);
  // Three tokens of about 3 s each: the connection lives through two expiries.
  await until(() => issued.length >= 3, 'two refreshes', 15000);
  await sleep(1500); // past the second token's exp, had it not been refreshed
  // (A client that falls back to HTTP streaming says "connecting" once more, for its second carrier.)
  const states = dave.states.map((s) => s.state).filter((s, i, all) => s !== all[i - 1]);
  check.same(states, ['connecting', 'connected'], 'dave\'s connection states');
  const bob = await user(env, 'bob', { first: second(env) });
  const [bRoom] = await joined(bob, id);
  await bRoom.publish('still there?');
  await until(() => td.messages.some((m) => m.content === 'still there?'), 'dave to get a message after the refreshes');

  const erin = await user(env, 'erin', { name: undefined, token: await env.token('erin', 2) });
  await until(() => erin.state === 'disconnected', 'erin\'s token to expire', 10000);
  const last = erin.states[erin.states.length - 1];
  check.same([last.code, last.error && last.error.code], [4001, 'token_expired'], 'erin\'s end');
});

scenario('request timeout: a frozen node; the request fails with timeout and the client moves on', BOTH, async (env) => {
  const id = `${env.tag}-timeout`;
  const alice = await user(env, 'alice', { requestTimeoutMs: 1500 });
  const [aRoom, ta] = await joined(alice, id);
  await env.control('/node/freeze?i=0');
  try {
    const t0 = Date.now();
    await check.rejects(aRoom.presence(), 'timeout', 'presence on a frozen node');
    const took = Date.now() - t0;
    check.ok(took >= 1400 && took < 6000, `the timeout came after ${took} ms, want about 1500`);
    await until(() => alice.state !== 'connected', 'alice to give the silent connection up');
    if (env.mode === 'single') await env.control('/node/thaw?i=0');
    await until(() => alice.state === 'connected' && aRoom.state === 'joined', 'alice back, the room re-joined');
    check.equal(alice.user.node, env.mode === 'cluster' ? 'B' : 'A', 'the node alice is on now');
    check.ok(ta.recovered.length + ta.gaps.length >= 1, 'the re-join said whether it recovered');
  } finally {
    await env.control('/node/thaw?i=0').catch(() => {});
  }
});

scenario('publish while disconnected: refused at once, never sent later', BOTH, async (env) => {
  const id = `${env.tag}-offline`;
  const alice = await user(env, 'alice', { only: true });
  const [aRoom, ta, res] = await joined(alice, id, { history: 10 });
  // Only her own message is in the room, and a publish result carries no epoch: recovering it
  // needs the join to have named the epoch of the (then empty) room.
  check.ok(res.epoch !== '', 'the join of an empty room names the epoch its messages will carry');
  await aRoom.publish('before');
  await env.control('/node/kill?i=0');
  try {
    await until(() => alice.state === 'reconnecting', 'alice to see the node gone');
    const t0 = Date.now();
    const err = await check.rejects(aRoom.publish('never sent'), 'disconnected', 'a publish while disconnected');
    check.ok(Date.now() - t0 < 1000, `refused after ${Date.now() - t0} ms, want at once`);
    check.equal(err.request, 'publish', 'the error names the request');
    check.equal(aRoom.state, 'offline', 'the room while disconnected');
  } finally {
    await env.control('/node/start?i=0');
  }
  await until(() => aRoom.state === 'joined', 'the room re-joined');
  await aRoom.publish('after');
  const all = await aRoom.history();
  check.ok(!all.some((m) => m.content === 'never sent'), 'the refused message was sent later');
  if (env.mode === 'single') {
    // The node kept its history in memory: it restarted with none, and the client says so.
    check.equal(ta.gaps.length, 1, 'gap events after the node lost its history');
    check.equal(ta.gaps[0].reason, 'epoch', 'the gap\'s reason');
  } else {
    check.same([ta.gaps.length, ta.recovered.length], [0, 1], 'the cluster kept the history: recovered');
  }
});

scenario('node killed: the client reconnects to the other node and recovers every room, contiguous', ['cluster'], async (env) => {
  const ids = [1, 2, 3].map((i) => `${env.tag}-kill-${i}`);
  const alice = await user(env, 'alice'); // on A, then B
  const bob = await user(env, 'bob', { first: 1, only: true }); // on B
  const mine = [];
  const theirs = [];
  for (const id of ids) {
    mine.push(await joined(alice, id, { history: 10 }));
    theirs.push((await joined(bob, id))[0]);
  }
  const per = 12;
  const sendRound = async (i) => { for (const r of theirs) await r.publish(`m${i}`); };
  for (let i = 1; i <= 4; i++) await sendRound(i);
  await until(() => mine.every(([, t]) => t.messages.length === 4), 'alice to get the first messages');
  await env.control('/node/kill?i=0');
  try {
    for (let i = 5; i <= per; i++) await sendRound(i); // while alice is away
    await until(() => alice.state === 'connected' && alice.user.node === 'B', 'alice on node B');
    await until(() => mine.every(([, t]) => t.messages.length === per), () => 'alice to recover every room; she has ' +
      show(mine.map(([room, t]) => ({ room: room.id, state: room.state, offsets: t.messages.map((m) => m.offset),
        gaps: t.gaps.length, recovered: t.recovered.length }))));
  } finally {
    await env.control('/node/start?i=0');
  }
  for (const [room, t, res] of mine) {
    check.same(t.messages.map((m) => m.offset), range(1, per), `${room.id}: offsets`);
    check.same(t.messages.map((m) => m.content), range(1, per).map((i) => `m${i}`), `${room.id}: contents`);
    check.equal(t.gaps.length, 0, `${room.id}: gap events`);
    check.ok(t.recovered.length >= 1, `${room.id}: no recovered event`);
    contiguous(t, room.id, res);
  }
});

scenario('Redis restarted empty: every room reports a gap, nothing is lost silently', ['cluster'], async (env) => {
  const ids = [1, 2].map((i) => `${env.tag}-redis-${i}`);
  const alice = await user(env, 'alice');
  const bob = await user(env, 'bob', { first: 1 });
  const mine = [];
  const theirs = [];
  for (const id of ids) {
    mine.push(await joined(alice, id, { history: 20 }));
    theirs.push((await joined(bob, id))[0]);
  }
  for (const r of theirs) for (let i = 1; i <= 3; i++) await r.publish(`before ${i}`);
  await until(() => mine.every(([, t]) => t.messages.length === 3), 'alice to get the first messages');
  await env.control('/redis/restart');
  // Bob writes again as soon as the cluster takes messages (publishes fail while Redis is away).
  for (const r of theirs) {
    const end = Date.now() + WAIT_MS;
    for (;;) {
      try {
        await r.publish('after');
        break;
      } catch (e) {
        if (Date.now() > end) throw e;
        await sleep(200);
      }
    }
  }
  for (const [room, t, res] of mine) {
    await until(() => t.gaps.length >= 1, `${room.id}: a gap event`);
    await until(() => t.messages.some((m) => m.content === 'after') || t.gaps.some((g) => g.messages.some((m) => m.content === 'after')),
      `${room.id}: the message after the restart (live or in the gap's newest messages)`);
    const g = t.gaps[0];
    check.same(g.previous.offset, 3, `${room.id}: the gap starts where alice stood`);
    check.ok(g.position.epoch !== g.previous.epoch, `${room.id}: a new epoch after Redis lost everything`);
    contiguous(t, room.id, res);
  }
});

/** The scenarios that run in a mode (single or cluster), in order. */
export function scenariosFor(mode) {
  return scenarios.filter((s) => s.modes.includes(mode));
}
