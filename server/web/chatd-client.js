// @chatd/client 0.1.0: generated from clients/js/src by "npm run build:web" (esbuild); do not edit.

// src/backoff.ts
var DEFAULT_RECONNECT = {
  minDelayMs: 500,
  maxDelayMs: 15e3,
  stableAfterMs: 1e4
};
function backoffDelay(attempt, o, random = Math.random) {
  const step = Math.min(o.maxDelayMs, o.minDelayMs * 2 ** Math.min(attempt, 30));
  return step / 2 + random() * step / 2;
}
var Pacer = class {
  constructor(rate, burst, now2) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = now2;
  }
  /** Takes a token at `now`; returns 0, or the ms to wait before one is there (nothing taken then). */
  take(now2) {
    this.tokens = Math.min(this.burst, this.tokens + (now2 - this.last) * this.rate / 1e3);
    this.last = now2;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) * 1e3 / this.rate);
  }
};

// src/host.ts
var host = globalThis;
function setTimer(fn, ms) {
  return host.setTimeout(fn, Math.max(0, ms));
}
function clearTimer(handle) {
  if (handle !== void 0) host.clearTimeout(handle);
}
function nextTask() {
  return new Promise((resolve) => {
    if (typeof host.setImmediate === "function") {
      host.setImmediate(resolve);
    } else if (typeof host.MessageChannel === "function") {
      const ch = new host.MessageChannel();
      ch.port1.onmessage = () => {
        ch.port1.close();
        resolve();
      };
      ch.port2.postMessage(null);
    } else {
      host.setTimeout(resolve, 0);
    }
  });
}
function now() {
  return Date.now();
}
function hostWebSocket() {
  return host.WebSocket;
}
function decodeText(data) {
  if (typeof data === "string") return data;
  if (host.TextDecoder) return new host.TextDecoder().decode(data);
  return String(data);
}
function byteLength(text) {
  if (host.TextEncoder) return new host.TextEncoder().encode(text).length;
  return text.length * 3;
}
function base64Decode(data) {
  try {
    return host.atob ? host.atob(data) : void 0;
  } catch {
    return void 0;
  }
}
function onWindowEvent(type, fn) {
  if (typeof host.addEventListener !== "function" || typeof host.removeEventListener !== "function") {
    return () => {
    };
  }
  host.addEventListener(type, fn);
  return () => host.removeEventListener?.(type, fn);
}
function hostFetch() {
  const f = host.fetch;
  return typeof f === "function" ? f.bind(globalThis) : void 0;
}
function hostAbortController() {
  return typeof host.AbortController === "function" ? new host.AbortController() : void 0;
}
function utf8Decoder() {
  if (!host.TextDecoder) return (chunk) => String(chunk);
  const d = new host.TextDecoder();
  return (chunk) => d.decode(chunk, { stream: true });
}

// src/emitter.ts
var Emitter = class {
  constructor() {
    this.listeners = /* @__PURE__ */ new Map();
  }
  /** Adds a listener; returns a function that removes it. */
  on(event, listener) {
    let set = this.listeners.get(event);
    if (!set) {
      set = /* @__PURE__ */ new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }
  /** Removes a listener added with {@link on}. */
  off(event, listener) {
    this.listeners.get(event)?.delete(listener);
  }
  /** @internal */
  emit(event, value) {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return;
    for (const fn of [...set]) {
      try {
        fn(value);
      } catch (err) {
        setTimer(() => {
          throw err;
        }, 0);
      }
    }
  }
};

// src/errors.ts
var LocalErrorCode = {
  /** Not connected: the request was not sent (nothing is queued), or the connection closed before its reply. */
  Disconnected: "disconnected",
  /** No reply within `requestTimeoutMs`. */
  Timeout: "timeout",
  /** The client was closed by the application. */
  Closed: "closed",
  /** The room is not joined (join it first, or wait for it to be re-joined). */
  NotJoined: "not_joined",
  /** The room was left while its join was on its way. */
  Left: "left",
  /** The request would be over the server's message size limit: not sent. */
  TooLarge: "too_large",
  /** Too many requests waiting for their reply on this connection: not sent. */
  TooManyRequests: "too_many_requests",
  /** No WebSocket implementation: pass `WebSocket` (e.g. from the `ws` package) or use `@chatd/client/node`. */
  NoWebSocket: "no_websocket",
  /** Neither a WebSocket nor fetch (for HTTP streaming) in this runtime. */
  NoTransport: "no_transport",
  /** `getToken` threw or returned something that is not a non-empty string. */
  TokenUnavailable: "token_unavailable"
};
var ChatError = class extends Error {
  constructor(code, message, request) {
    super(message);
    this.name = "ChatError";
    this.code = code;
    this.request = request;
  }
};
function serverError(m, request) {
  const code = typeof m.code === "string" && m.code ? m.code : "error";
  const text = typeof m.message === "string" && m.message ? m.message : code;
  return new ChatError(code, text, request);
}

// src/room.ts
var MAX_BUFFERED = 2e3;
var MAX_OWN_AHEAD = 1e3;
var MAX_RETIRED = 8;
var MAX_EARLY = 1024;
var FIRST_JOIN_RETRIES = 5;
var TRANSIENT = /* @__PURE__ */ new Set(["rate_limited", "busy", "cluster_unavailable", "join_failed", "draining"]);
var RETRY = { minDelayMs: 500, maxDelayMs: 5e3, stableAfterMs: DEFAULT_RECONNECT.stableAfterMs };
var offsetOf = (m) => {
  const o = m.offset;
  return typeof o === "number" && o > 0 ? o : 0;
};
var str = (v) => typeof v === "string" ? v : "";
var num = (v) => typeof v === "number" && Number.isFinite(v) ? v : 0;
var Room = class extends Emitter {
  /** @internal */
  constructor(host2, id) {
    super();
    this.count = 0;
    this._state = "idle";
    this.opts = { history: 0 };
    this.epoch = null;
    // null until joined (or given a since)
    this.offset = 0;
    this.ownAhead = /* @__PURE__ */ new Set();
    this.ownInFlight = 0;
    this.recovering = false;
    this.holding = false;
    // a hole that our own unacknowledged publishes may fill
    // Messages pushed while this session's join is on its way: taken after the reply (those at or
    // below its offset are copies and dropped), so that none is lost if a push overtakes the reply.
    this.early = [];
    this.buffer = [];
    this.overflow = false;
    this.retired = [];
    this.typingUsers = /* @__PURE__ */ new Map();
    this.typingLast = -Infinity;
    this.typingPending = false;
    this.firstJoin = true;
    // no join of this room has succeeded since join() was called
    this.session = -1;
    // the connection the room was (or is being) joined on
    this.retries = 0;
    this.host = host2;
    this.id = id;
  }
  /** Where the room stands: see {@link RoomState}. */
  get state() {
    return this._state;
  }
  /** The room's member count (users, cluster-wide), as of the last join, presence or member event. */
  get memberCount() {
    return this.count;
  }
  /** The room's display name given at join, if any. */
  get name() {
    return this.opts.name;
  }
  /**
   * Where the room's message stream stands (the epoch and the newest offset delivered in order);
   * undefined before the first join. Keep it to continue later with {@link JoinOptions.since}.
   */
  get position() {
    return this.epoch === null ? void 0 : { epoch: this.epoch, offset: this.offset };
  }
  /** The users typing in the room now (their notices are younger than `typingTimeoutMs`). */
  get typers() {
    return this.typerList();
  }
  /**
   * Joins the room: resolves with the join's result once the server answered (at once if the room
   * is joined). While the client is not connected the join waits for the connection. Rejects when
   * the server refuses it (e.g. `forbidden`, `too_many_rooms`), on `timeout`, when the client is
   * closed, or when {@link leave} comes first. Add listeners before joining: events may follow the
   * join's reply at once.
   */
  join(options = {}) {
    if (this._state === "joined") {
      return Promise.resolve({
        roomId: this.id,
        memberCount: this.memberCount,
        epoch: this.epoch ?? "",
        offset: this.offset,
        messages: []
      });
    }
    if (this.pendingJoin) return this.pendingJoin.promise;
    if (this.host._closed) {
      return Promise.reject(new ChatError(LocalErrorCode.Closed, "The client is closed", "join"));
    }
    const taken = this.host._track(this);
    if (taken) return Promise.reject(taken);
    this.opts = { history: Math.max(0, Math.floor(options.history ?? 0)), name: options.name || void 0 };
    this.resetStream();
    if (options.since) {
      this.epoch = str(options.since.epoch);
      this.offset = Math.max(0, Math.floor(num(options.since.offset)));
    }
    this.firstJoin = true;
    this.retries = 0;
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.pendingJoin = { promise, resolve, reject };
    if (this.host._connected) this.sendJoin();
    else this.setState("offline");
    return promise;
  }
  /**
   * Leaves the room: no more events come from it. Resolves once the server confirmed it (at once
   * when not connected: a closed connection leaves every room). A pending join rejects with `left`.
   */
  leave() {
    const onServer = (this._state === "joined" || this._state === "joining") && this.session === this.host._session && this.host._connected;
    if (this._state === "left") return Promise.resolve();
    this.setState("left");
    this.settleJoin(void 0, new ChatError(LocalErrorCode.Left, `Left room ${this.id} before its join was answered`, "join"));
    this.clearLocal();
    this.resetStream();
    this.host._forget(this);
    if (!onServer) return Promise.resolve();
    return this.host._request({ type: "leave", roomId: this.id }).then(() => void 0, (err) => {
      if (err.code === LocalErrorCode.Disconnected || err.code === LocalErrorCode.Closed || err.code === "not_in_room") return;
      throw err;
    });
  }
  /**
   * Sends a message to the room. Resolves with its offset and timestamp once the server stored it.
   * Rejects at once, sending nothing, when the client is not connected (`disconnected`) or the
   * room is not joined (`not_joined`): nothing is queued. Cancels a pending typing notice.
   */
  publish(content) {
    const refused = this.refusal("publish");
    if (refused) return Promise.reject(refused);
    this.typingPending = false;
    clearTimer(this.typingTimer);
    this.typingTimer = void 0;
    const session = this.host._session;
    this.ownInFlight++;
    const done = () => {
      this.ownInFlight--;
      if (this.ownInFlight === 0 && this.holding) {
        this.holding = false;
        if (this._state === "joined") this.flush();
      }
    };
    return this.host._request({ type: "publish", roomId: this.id, content }).then((res) => {
      const offset = offsetOf(res);
      if (session === this.host._session && this._state === "joined") this.ownAcked(offset);
      done();
      const out = { timestamp: str(res.timestamp) };
      if (offset) out.offset = offset;
      return out;
    }, (err) => {
      done();
      throw err;
    });
  }
  /** A page of the room's stored messages, oldest first: the newest ones, or those below `before`. */
  history(options = {}) {
    const refused = this.refusal("history");
    if (refused) return Promise.reject(refused);
    const req = { type: "history", roomId: this.id };
    if (options.before !== void 0) req.before = options.before;
    if (options.limit !== void 0) req.limit = options.limit;
    return this.host._request(req).then((res) => Array.isArray(res.messages) ? res.messages : []);
  }
  /** The room's members, cluster-wide (the server may cut a long list: `truncated`). */
  presence() {
    const refused = this.refusal("presence");
    if (refused) return Promise.reject(refused);
    return this.host._request({ type: "presence", roomId: this.id }).then((res) => {
      const out = {
        roomId: this.id,
        memberCount: num(res.memberCount),
        members: Array.isArray(res.members) ? res.members : [],
        truncated: res.truncated === true
      };
      this.count = out.memberCount;
      return out;
    });
  }
  /**
   * Tells the room's other members that the user is typing; call it on every keystroke. At most one
   * notice goes out per `typingIntervalMs`; calls in between send one trailing notice at the end of
   * the interval, so that others see "is typing" without a pause while the user types. Returns
   * false (and sends nothing) when the room is not joined or the client not connected.
   */
  typing() {
    if (!this.host._connected || this._state !== "joined") return false;
    const t = now();
    const interval = this.host._typingIntervalMs;
    if (t - this.typingLast >= interval && !this.typingTimer) {
      this.typingLast = t;
      this.host._notify({ type: "typing", roomId: this.id });
      return true;
    }
    this.typingPending = true;
    if (!this.typingTimer) {
      this.typingTimer = setTimer(() => {
        this.typingTimer = void 0;
        if (!this.typingPending || !this.host._connected || this._state !== "joined") return;
        this.typingPending = false;
        this.typingLast = now();
        this.host._notify({ type: "typing", roomId: this.id });
      }, this.typingLast + interval - t);
    }
    return true;
  }
  // ---- driven by the client -------------------------------------------------------------------
  /** @internal Whether the room should be (re-)joined when the client connects. */
  _wanted() {
    return this._state === "offline";
  }
  /** @internal The client connected (hello answered): join again, with since when the room has a position. */
  _rejoin() {
    if (this._wanted()) this.sendJoin();
  }
  /** @internal The connection went away: the server forgot our membership. */
  _offline() {
    if (this._state === "joined" || this._state === "joining") this.setState("offline");
    this.clearLocal();
  }
  /** @internal The client stopped: closed by the application, or refused for good (`err`). */
  _closed(err) {
    this._offline();
    this.settleJoin(void 0, err ?? new ChatError(LocalErrorCode.Closed, "The client was closed", "join"));
  }
  /** @internal A push for this room. */
  _push(m) {
    if (this._state === "joining" && m.type === "message" && this.session === this.host._session) {
      if (this.early.length < MAX_EARLY) this.early.push(m);
      return;
    }
    if (this._state !== "joined") return;
    switch (m.type) {
      case "message":
        this.onMessage(m);
        break;
      case "joined":
      case "left": {
        const ev = { roomId: this.id, userId: str(m.userId), name: str(m.name), memberCount: num(m.memberCount) };
        this.count = ev.memberCount;
        if (m.type === "left") this.stopTyper(ev.userId);
        this.emit(m.type, ev);
        break;
      }
      case "typing":
        if (str(m.userId) && m.userId !== this.host._userId) this.startTyper(str(m.userId), str(m.name));
        break;
      case "resync":
        this.resyncReason = str(m.reason) || "resync";
        this.recover();
        break;
      default:
    }
  }
  // ---- joining --------------------------------------------------------------------------------
  sendJoin() {
    clearTimer(this.retryTimer);
    this.retryTimer = void 0;
    const session = this.host._session;
    this.session = session;
    this.early = [];
    this.setState("joining");
    const since = this.position;
    const req = { type: "join", roomId: this.id };
    if (this.opts.history) req.history = this.opts.history;
    if (this.opts.name) req.roomName = this.opts.name;
    if (since) req.since = since;
    this.host._request(req).then((res) => {
      if (session !== this.host._session || this._state !== "joining") return;
      this.retries = 0;
      this.applyJoin(res, since);
    }, (err) => {
      if (session !== this.host._session || this._state !== "joining") return;
      this.joinFailed(err);
    });
  }
  joinFailed(err) {
    const code = err.code;
    if (code === LocalErrorCode.Disconnected || code === LocalErrorCode.Closed) return;
    if (code === "already_in_room" || code === LocalErrorCode.Timeout) {
      this.host._notify({ type: "leave", roomId: this.id });
      if (code === LocalErrorCode.Timeout && this.firstJoin) return this.fail(err);
      return this.retryJoin();
    }
    const firstRetry = (code === "rate_limited" || code === "busy") && this.retries < FIRST_JOIN_RETRIES;
    if (TRANSIENT.has(code) && (!this.firstJoin || firstRetry)) return this.retryJoin();
    this.fail(err);
  }
  retryJoin() {
    const session = this.host._session;
    const delay = backoffDelay(this.retries++, RETRY);
    this.retryTimer = setTimer(() => {
      this.retryTimer = void 0;
      if (session === this.host._session && this._state === "joining") this.sendJoin();
    }, delay);
  }
  fail(err) {
    this.clearLocal();
    this.setState("failed", err);
    this.settleJoin(void 0, err);
  }
  // applyJoin takes a join reply: a plain join, a re-join with since, or an in-place recovery.
  applyJoin(res, since) {
    const epoch = str(res.epoch);
    const offset = num(res.offset);
    const msgs = Array.isArray(res.messages) ? res.messages : [];
    this.count = num(res.memberCount);
    if (this._state !== "joined") this.setState("joined");
    const result = { roomId: this.id, memberCount: this.memberCount, epoch, offset, messages: msgs };
    if (!since) {
      this.epoch = epoch;
      this.offset = offset;
      this.ownAhead.clear();
    } else {
      result.recovered = res.recovered === true;
      const sameLife = epoch === since.epoch || since.epoch === "" && since.offset === 0;
      if (res.recovered === true && sameLife) {
        this.epoch = epoch;
        let count = 0;
        let hole = false;
        for (const m of msgs) {
          const o = offsetOf(m);
          if (o && o > this.offset + 1 && !this.ownAhead.has(o)) hole = true;
          if (this.take(m, true)) count++;
        }
        if (hole || this.offset < offset) {
          this.gap("incomplete", since, { epoch, offset }, []);
        } else {
          this.emit("recovered", { roomId: this.id, count, position: { epoch, offset: this.offset } });
        }
      } else {
        this.gap(sameLife ? "trimmed" : "epoch", since, { epoch, offset }, msgs);
      }
    }
    this.resyncReason = void 0;
    this.firstJoin = false;
    this.settleJoin(result);
    this.recovering = false;
    this.flush();
    const early = this.early;
    this.early = [];
    for (const m of early) if (this._state === "joined") this.onMessage(m);
  }
  gap(reason, previous, position, messages) {
    if (previous.epoch && previous.epoch !== position.epoch) {
      this.retired.push(previous.epoch);
      if (this.retired.length > MAX_RETIRED) this.retired.shift();
    }
    this.epoch = position.epoch;
    this.offset = position.offset;
    this.ownAhead.clear();
    const ev = { roomId: this.id, reason, previous: { ...previous }, position: { ...position }, messages };
    if (this.resyncReason) ev.resync = this.resyncReason;
    this.emit("gap", ev);
  }
  settleJoin(result, err) {
    const p = this.pendingJoin;
    if (!p) return;
    this.pendingJoin = void 0;
    if (err) p.reject(err);
    else if (result) p.resolve(result);
  }
  // recover re-joins the room in place with since: the server answers with what we missed (or
  // says it cannot), and pushes that come meanwhile wait in the buffer until then.
  recover() {
    if (this.recovering || this._state !== "joined" || !this.host._connected || this.epoch === null) return;
    this.recovering = true;
    const session = this.host._session;
    const since = { epoch: this.epoch, offset: this.offset };
    const req = { type: "join", roomId: this.id, since };
    if (this.opts.history) req.history = this.opts.history;
    this.host._request(req).then((res) => {
      if (session !== this.host._session || this._state !== "joined" || !this.recovering) return;
      this.retries = 0;
      this.applyJoin(res, since);
    }, (err) => {
      if (session !== this.host._session || this._state !== "joined" || !this.recovering) return;
      if (err.code === LocalErrorCode.Disconnected || err.code === LocalErrorCode.Closed) return;
      const delay = backoffDelay(this.retries++, RETRY);
      clearTimer(this.retryTimer);
      this.retryTimer = setTimer(() => {
        this.retryTimer = void 0;
        if (session !== this.host._session || this._state !== "joined") return;
        this.recovering = false;
        this.recover();
      }, delay);
    });
  }
  // ---- the message stream ---------------------------------------------------------------------
  onMessage(m) {
    if (this.recovering || this.holding) this.hold(m);
    else this.deliver(m);
    this.stopTyper(str(m.userId));
  }
  // deliver takes one live message: in order, once; a hole or a new epoch starts a recovery.
  deliver(m) {
    const o = offsetOf(m);
    if (!o) {
      this.emit("message", m);
      return;
    }
    const e = str(m.epoch) || this.epoch;
    if (e !== this.epoch) {
      if (e !== null && this.retired.includes(e)) return;
      if (this.epoch === "" && e !== null) {
        this.epoch = e;
      } else {
        this.hold(m);
        this.recover();
        return;
      }
    }
    if (o <= this.offset) return;
    if (o !== this.offset + 1) {
      this.hold(m);
      if (this.ownInFlight > 0) this.holding = true;
      else this.recover();
      return;
    }
    this.take(m, false);
    this.emit("message", m);
  }
  // take moves the position past m if it is the next one (or own and ahead); returns whether m
  // is news to emit (recovered messages are emitted here, live ones by the caller).
  take(m, emit) {
    const o = offsetOf(m);
    if (!o) {
      if (emit) this.emit("message", m);
      return emit;
    }
    if (o <= this.offset) return false;
    if (this.ownAhead.delete(o)) {
      this.offset = Math.max(this.offset, o);
      this.advanceOwn();
      return false;
    }
    this.offset = o;
    this.advanceOwn();
    if (emit) this.emit("message", m);
    return true;
  }
  ownAcked(offset) {
    if (!offset || offset <= this.offset) return;
    if (offset === this.offset + 1) {
      this.offset = offset;
      this.advanceOwn();
    } else if (this.ownAhead.size < MAX_OWN_AHEAD) {
      this.ownAhead.add(offset);
    }
  }
  advanceOwn() {
    while (this.ownAhead.delete(this.offset + 1)) this.offset++;
    for (const o of this.ownAhead) if (o <= this.offset) this.ownAhead.delete(o);
  }
  hold(m) {
    if (this.buffer.length >= MAX_BUFFERED) this.overflow = true;
    else this.buffer.push(m);
  }
  // flush delivers what was held, in order; a new hole holds the rest again.
  flush() {
    const list = this.buffer;
    const over = this.overflow;
    this.buffer = [];
    this.overflow = false;
    for (const m of list) {
      if (this.recovering || this.holding) this.hold(m);
      else this.deliver(m);
    }
    if (over) this.recover();
  }
  resetStream() {
    this.epoch = null;
    this.offset = 0;
    this.ownAhead.clear();
    this.retired = [];
  }
  // clearLocal forgets what only lives while joined on one connection.
  clearLocal() {
    this.recovering = false;
    this.holding = false;
    this.buffer = [];
    this.overflow = false;
    this.resyncReason = void 0;
    clearTimer(this.retryTimer);
    this.retryTimer = void 0;
    clearTimer(this.typingTimer);
    this.typingTimer = void 0;
    this.typingPending = false;
    this.typingLast = -Infinity;
    for (const userId of [...this.typingUsers.keys()]) this.stopTyper(userId);
  }
  refusal(request) {
    if (!this.host._connected) {
      return new ChatError(LocalErrorCode.Disconnected, `Not connected: ${request} was not sent`, request);
    }
    const joinedHere = this._state === "joined" || this._state === "joining" && this.session === this.host._session;
    if (!joinedHere) {
      return new ChatError(LocalErrorCode.NotJoined, `Room ${this.id} is not joined (${this._state}): ${request} was not sent`, request);
    }
    return void 0;
  }
  // ---- typing of others -----------------------------------------------------------------------
  startTyper(userId, name) {
    const t = this.typingUsers.get(userId);
    if (t) clearTimer(t.timer);
    const timer = setTimer(() => this.stopTyper(userId), this.host._typingTimeoutMs);
    this.typingUsers.set(userId, { name, timer });
    this.emit("typing", { roomId: this.id, userId, name, typing: true, typers: this.typerList() });
  }
  stopTyper(userId) {
    const t = this.typingUsers.get(userId);
    if (!t) return;
    clearTimer(t.timer);
    this.typingUsers.delete(userId);
    this.emit("typing", { roomId: this.id, userId, name: t.name, typing: false, typers: this.typerList() });
  }
  typerList() {
    return [...this.typingUsers.entries()].map(([userId, t]) => ({ userId, name: t.name }));
  }
  setState(state, error) {
    const previous = this._state;
    if (previous === state && !error) return;
    this._state = state;
    const ev = { roomId: this.id, state, previous };
    if (error) ev.error = error;
    this.emit("state", ev);
  }
};

// src/stream.ts
var MAX_BATCH = 64;
var MAX_BODY = 6e4;
var RETRY_MS = [250, 500, 1e3, 2e3, 4e3, 4e3];
function streamURL(wsURL) {
  const m = /^(wss?):\/\/([^/?#]+)([^?#]*)(\?[^#]*)?/i.exec(wsURL);
  if (!m) return wsURL;
  const scheme = m[1].toLowerCase() === "wss" ? "https" : "http";
  let path = m[3] || "/";
  if (/\/ws$/.test(path)) path = path.slice(0, -3) + "/stream";
  else path = path.replace(/\/?$/, "/stream");
  return `${scheme}://${m[2]}${path}${m[4] ?? ""}`;
}
function httpStreamTransport(fetchImpl) {
  const f = fetchImpl ?? hostFetch();
  if (typeof f !== "function") {
    throw new ChatError(LocalErrorCode.NoTransport, "No fetch in this runtime: HTTP streaming needs it");
  }
  return (url, handlers) => new StreamConnection(f, url, handlers).transport;
}
var StreamConnection = class {
  constructor(fetch, url, h) {
    this.fetch = fetch;
    this.h = h;
    this.sid = "";
    this.seq = 0;
    this.lastID = 0;
    this.heartbeatMs = 3e4;
    this.resumeMs = 0;
    this.outbox = [];
    this.posting = false;
    this.done = false;
    this.lastPost = 0;
    this.postURL = url.replace(/\?.*$/, "");
    this.transport = {
      name: "http-stream",
      send: (text) => this.send(text),
      close: () => this.close()
    };
    void this.run(url, false);
  }
  // run reads one GET of the stream (the first, or a resume) to its end.
  async run(url, resuming) {
    const ctl = hostAbortController();
    this.abort = ctl;
    let resp;
    try {
      resp = await this.fetch(url, { method: "GET", headers: { Accept: "text/event-stream" }, cache: "no-store", signal: ctl?.signal });
    } catch (err) {
      this.finish(1006, err instanceof Error ? err.message : String(err));
      return;
    }
    if (this.done) {
      ctl?.abort();
      return;
    }
    if (resp.status !== 200 || !resp.body) {
      let reason = `HTTP ${resp.status}`;
      try {
        const e = JSON.parse(await resp.text());
        if (e.error?.code) reason = e.error.code;
      } catch {
      }
      this.finish(1006, resuming ? `resume refused: ${reason}` : reason);
      return;
    }
    const reader = resp.body.getReader();
    const decode = utf8Decoder();
    let buf = "";
    let ev = {};
    let gotSession = false;
    try {
      for (; ; ) {
        const { done, value } = await reader.read();
        if (done || this.done) break;
        buf += decode(value);
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, buf[nl - 1] === "\r" ? nl - 1 : nl);
          buf = buf.slice(nl + 1);
          if (line === "") {
            if (ev.event === "session") gotSession = true;
            const delivered = this.dispatch(ev);
            ev = {};
            if (this.done) return;
            if (delivered && buf !== "") {
              await nextTask();
              if (this.done) return;
            }
            continue;
          }
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const name = colon < 0 ? line : line.slice(0, colon);
          const value2 = colon < 0 ? "" : line.slice(colon + (line[colon + 1] === " " ? 2 : 1));
          if (name === "id" || name === "event" || name === "data") ev[name] = value2;
        }
      }
    } catch (err) {
      if (this.done) return;
      void err;
    }
    if (this.done) return;
    if (gotSession && this.resumeMs > 0 && this.sid) {
      void this.run(`${this.postURL}?session=${encodeURIComponent(this.sid)}&lastEventId=${this.lastID}`, true);
      return;
    }
    this.finish(1006, "the stream ended");
  }
  dispatch(ev) {
    if (ev.event === "session") {
      let info;
      try {
        info = JSON.parse(ev.data ?? "");
      } catch {
        this.finish(1006, "bad session event");
        return false;
      }
      if (info.resumed === true) return false;
      if (typeof info.session !== "string" || !info.session) {
        this.finish(1006, "bad session event");
        return false;
      }
      this.sid = info.session;
      if (typeof info.heartbeat === "number" && info.heartbeat > 0) this.heartbeatMs = info.heartbeat;
      if (typeof info.resumeWindow === "number") this.resumeMs = info.resumeWindow;
      this.lastPost = now();
      this.scheduleHeartbeat();
      this.h.open();
      return true;
    }
    if (ev.event === "close") {
      let code = 1006;
      let reason = "";
      try {
        const c = JSON.parse(ev.data ?? "");
        if (typeof c.code === "number") code = c.code;
        if (typeof c.reason === "string") reason = c.reason;
      } catch {
      }
      this.finish(code, reason);
      return false;
    }
    if (ev.data === void 0 || ev.event) return false;
    if (ev.id) this.lastID = Number(ev.id) || this.lastID;
    this.h.message(ev.data);
    return true;
  }
  send(text) {
    if (this.done || !this.sid) throw new Error("the stream is not open");
    this.outbox.push(text);
    this.pump();
  }
  // pump sends the next POST when none is on its way: what queued meanwhile goes in one batch.
  pump(heartbeat = false) {
    if (this.posting || this.done || !heartbeat && this.outbox.length === 0) return;
    const batch = [];
    let bytes = 0;
    while (this.outbox.length > 0 && batch.length < MAX_BATCH && (batch.length === 0 || bytes + this.outbox[0].length <= MAX_BODY)) {
      const t = this.outbox.shift();
      bytes += t.length;
      batch.push(t);
    }
    const body = `{"session":${JSON.stringify(this.sid)},"seq":${this.seq + 1},"requests":[${batch.join(",")}]}`;
    this.posting = true;
    this.lastPost = now();
    void this.post(body, 0);
  }
  // post sends one batch until the server took it (or the transport ends).
  async post(body, attempt) {
    let status = 0;
    let code = "";
    try {
      const resp = await this.fetch(this.postURL, { method: "POST", headers: { "Content-Type": "text/plain;charset=UTF-8" }, body, cache: "no-store", keepalive: body.length < 6e4 });
      status = resp.status;
      if (status !== 200) {
        try {
          code = JSON.parse(await resp.text()).error?.code ?? "";
        } catch {
        }
      } else {
        await resp.text().catch(() => "");
      }
    } catch {
      status = 0;
    }
    if (this.done) return;
    if (status === 200) {
      this.seq++;
      this.posting = false;
      this.pump();
      return;
    }
    const retriable = status === 0 || status === 503 || status === 429 || status === 502 || status === 504;
    if (retriable && attempt < RETRY_MS.length && !this.done) {
      setTimer(() => void this.post(body, attempt + 1), RETRY_MS[attempt]);
      return;
    }
    this.posting = false;
    this.finish(1006, `requests not delivered: ${code || (status ? `HTTP ${status}` : "network error")}`);
  }
  // The server closes a session whose client POSTed nothing for its idle timeout: an empty POST
  // every heartbeat interval (unless a real one went) keeps it.
  scheduleHeartbeat() {
    clearTimer(this.heartbeat);
    if (this.done) return;
    const due = this.lastPost + this.heartbeatMs - now();
    this.heartbeat = setTimer(() => {
      if (this.done) return;
      if (now() - this.lastPost >= this.heartbeatMs) this.pump(true);
      this.scheduleHeartbeat();
    }, Math.max(due, 1e3));
  }
  // close ends the session from the client's side: a last POST says so (close: true), so that the
  // server does not keep it for a resume.
  close() {
    if (this.done) return;
    this.done = true;
    clearTimer(this.heartbeat);
    this.abort?.abort();
    if (this.sid && !this.posting) {
      const body = `{"session":${JSON.stringify(this.sid)},"seq":${this.seq + 1},"requests":[],"close":true}`;
      this.fetch(this.postURL, { method: "POST", headers: { "Content-Type": "text/plain;charset=UTF-8" }, body, keepalive: true }).then((r) => r.text(), () => "").catch(() => "");
    }
  }
  finish(code, reason) {
    if (this.done) return;
    this.done = true;
    clearTimer(this.heartbeat);
    this.abort?.abort();
    this.h.close(code, reason);
  }
};

// src/token.ts
function tokenExpiry(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return void 0;
  let b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
  while (b64.length % 4) b64 += "=";
  const json = base64Decode(b64);
  if (json === void 0) return void 0;
  try {
    const claims = JSON.parse(json);
    return typeof claims.exp === "number" && Number.isFinite(claims.exp) ? claims.exp * 1e3 : void 0;
  } catch {
    return void 0;
  }
}
function refreshAt(from, exp) {
  const margin = Math.min(3e4, Math.max(1e3, (exp - from) / 3));
  return Math.max(from, exp - margin);
}

// src/wire.ts
var SUBPROTOCOL = "chatd.v2";

// src/transport.ts
var OPEN = 1;
function webSocketTransport(impl) {
  const WS = impl ?? hostWebSocket();
  if (typeof WS !== "function") {
    throw new ChatError(
      LocalErrorCode.NoWebSocket,
      'No WebSocket in this runtime: pass the WebSocket option (e.g. from the "ws" package) or import "@chatd/client/node"'
    );
  }
  return (url, handlers) => {
    let done = false;
    const finish = (code, reason) => {
      if (done) return;
      done = true;
      handlers.close(code, reason);
    };
    let ws;
    try {
      ws = new WS(url, SUBPROTOCOL);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const t = { name: "websocket", send() {
        throw new Error("not open");
      }, close() {
      } };
      Promise.resolve().then(() => finish(1006, reason));
      return t;
    }
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      if (!done) handlers.open();
    };
    ws.onmessage = (ev) => {
      if (!done) handlers.message(decodeText(ev.data));
    };
    ws.onerror = () => {
    };
    ws.onclose = (ev) => finish(typeof ev.code === "number" ? ev.code : 1006, typeof ev.reason === "string" ? ev.reason : "");
    return {
      name: "websocket",
      send(text) {
        if (ws.readyState !== OPEN) throw new Error("WebSocket is not open");
        ws.send(text);
      },
      close(code = 1e3, reason = "") {
        done = true;
        ws.onopen = ws.onmessage = ws.onclose = null;
        ws.onerror = () => {
        };
        try {
          ws.close(code, reason);
        } catch {
          try {
            ws.close();
          } catch {
          }
        }
      }
    };
  };
}

// src/client.ts
var FATAL_HELLO = /* @__PURE__ */ new Set(["unauthorized", "forbidden", "missing_field", "bad_field", "too_long", "control_chars"]);
var REJOIN_RATE = 16;
var REJOIN_BURST = 32;
var LIST_RETRIES = 5;
var LIST_RETRY_MS = 1100;
var REFRESH_RETRY_MS = 2e3;
var SOCKET_FAILURES_BEFORE_FALLBACK = 5;
function connect(options) {
  return new ChatClient(options).connect();
}
var ChatClient = class extends Emitter {
  /** A client that is not connected yet: call {@link connect}. */
  constructor(options) {
    super();
    this.onStream = false;
    // the next attempts use HTTP streaming
    this.streamWorked = false;
    // HTTP streaming said hello since connect(): keep to it
    this.socketWorked = false;
    // the WebSocket said hello since connect(): keep to it a while
    this.socketFailures = 0;
    this.carrier = "";
    this.urlIndex = 0;
    this.session = 0;
    this.helloDone = false;
    this.running = false;
    this.current = "disconnected";
    this.everConnected = false;
    this.connectedAt = 0;
    this.received = 0;
    // messages received on the current transport
    this.attempt = 0;
    this.pending = /* @__PURE__ */ new Map();
    this.nextId = 1;
    this.tokenFrom = 0;
    this.authRetried = false;
    this.rooms = /* @__PURE__ */ new Map();
    this.rejoinQueue = [];
    this.pacer = new Pacer(REJOIN_RATE, REJOIN_BURST, 0);
    this.waiters = [];
    this.offOnline = () => {
    };
    const urls = Array.isArray(options.url) ? options.url : [options.url];
    if (urls.length === 0 || urls.some((u) => typeof u !== "string" || !/^wss?:\/\/[^/]/i.test(u))) {
      throw new TypeError("ChatClient: url must be a ws:// or wss:// URL, or a non-empty list of them");
    }
    if (!options.name && !options.token && !options.getToken) {
      throw new TypeError("ChatClient: give a name, a token or getToken");
    }
    this.urls = [...urls];
    const streams = options.streamUrl === void 0 ? urls.map(streamURL) : Array.isArray(options.streamUrl) ? options.streamUrl : [options.streamUrl];
    if (streams.length !== urls.length || streams.some((u) => typeof u !== "string" || !/^https?:\/\/[^/]/i.test(u))) {
      throw new TypeError("ChatClient: streamUrl must be an http:// or https:// URL per url");
    }
    this.streamURLs = [...streams];
    this.opts = { ...options };
    this.token = options.token;
    if (this.token) {
      this.tokenFrom = now();
      this.tokenExp = tokenExpiry(this.token);
    }
    this.reconnectOpts = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.timeoutMs = options.requestTimeoutMs ?? 1e4;
  }
  /** The connection's state. */
  get state() {
    return this.current;
  }
  /** Who the server says the user is, once connected (kept while reconnecting). */
  get user() {
    return this.me;
  }
  /** The transport in use or last used (`websocket` or `http-stream`), empty before the first connection. */
  get transportName() {
    return this.carrier;
  }
  /**
   * Starts connecting (again, after {@link close}); rooms joined before are re-joined. Returns the
   * client. A runtime without a WebSocket (Node 20 without the `WebSocket` option) connects with
   * HTTP streaming, unless `fallback` is false: then it ends in `disconnected` with the error
   * `no_websocket`.
   */
  connect() {
    if (this.running) return this;
    this.running = true;
    this.attempt = 0;
    this.everConnected = false;
    this.authRetried = false;
    this.streamWorked = this.socketWorked = false;
    this.socketFailures = 0;
    this.factory = this.streamFactory = void 0;
    let failure;
    try {
      this.factory = this.opts.transport ?? webSocketTransport(this.opts.WebSocket);
    } catch (err) {
      failure = err;
    }
    if (!this.opts.transport && this.opts.fallback !== false) {
      try {
        this.streamFactory = httpStreamTransport(this.opts.fetch);
      } catch {
      }
    }
    this.onStream = !this.factory && !!this.streamFactory;
    if (!this.factory && !this.streamFactory) {
      this.running = false;
      const e = failure instanceof ChatError ? failure : new ChatError(LocalErrorCode.NoWebSocket, String(failure));
      this.setState("disconnected", { error: e }, true);
      this.settleWaiters(void 0, e);
      return this;
    }
    this.offOnline = onWindowEvent("online", () => this.retryNow());
    void this.open();
    return this;
  }
  /**
   * Resolves with the user once connected (at once if connected); rejects if the client ends up
   * `disconnected` first (closed, or refused for good).
   */
  ready() {
    if (this.current === "connected" && this.me) return Promise.resolve(this.me);
    if (!this.running) {
      return Promise.reject(new ChatError(LocalErrorCode.Disconnected, "The client is not connecting: call connect()"));
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
  /**
   * Closes the connection and stops reconnecting: state `disconnected` (code 1000). Requests still
   * waiting fail with `closed`. Rooms stay known and are re-joined by a later {@link connect}.
   */
  close() {
    if (!this.running && !this.transport) return;
    this.stop();
    const err = new ChatError(LocalErrorCode.Closed, "The client was closed");
    for (const room of this.rooms.values()) room._closed();
    this.settleWaiters(void 0, err);
    this.setState("disconnected", { code: 1e3, reason: "closed by the client" });
  }
  /**
   * The room with this id: the same object each time, until it is left. Add listeners, then
   * {@link Room.join} it.
   */
  room(id) {
    if (typeof id !== "string" || id.trim() === "") throw new TypeError("ChatClient.room: the room id must be a non-empty string");
    let room = this.rooms.get(id);
    if (!room) {
      room = new Room(this, id);
      this.rooms.set(id, room);
    }
    return room;
  }
  /** The rooms joined or being joined (in the order they were joined). */
  joinedRooms() {
    return [...this.rooms.values()].filter((r) => r.state === "joined" || r.state === "joining" || r.state === "offline");
  }
  /** One page of the server's room list, by room id. */
  listRooms(options = {}) {
    const req = { type: "rooms" };
    if (options.after) req.after = options.after;
    if (options.limit !== void 0) req.limit = options.limit;
    if (options.prefix) req.prefix = options.prefix;
    return this._request(req).then((res) => {
      const page = { rooms: Array.isArray(res.rooms) ? res.rooms : [] };
      if (typeof res.next === "string" && res.next) page.next = res.next;
      return page;
    });
  }
  /**
   * Every page of the room list, one after the other (from `after`, if given). A page refused as
   * asked for too often (`rate_limited`) is asked again a second later, a few times.
   */
  async *roomPages(options = {}) {
    let after = options.after;
    for (; ; ) {
      let page;
      for (let tries = 0; !page; tries++) {
        try {
          page = await this.listRooms({ ...options, after });
        } catch (err) {
          if (!(err instanceof ChatError) || err.code !== "rate_limited" || tries >= LIST_RETRIES) throw err;
          await new Promise((r) => setTimer(r, LIST_RETRY_MS));
        }
      }
      yield page;
      if (!page.next) return;
      after = page.next;
    }
  }
  // ---- for rooms (internal) -------------------------------------------------------------------
  /** @internal */
  get _connected() {
    return this.helloDone;
  }
  /** @internal */
  get _session() {
    return this.session;
  }
  /** @internal */
  get _closed() {
    return !this.running;
  }
  /** @internal */
  get _userId() {
    return this.me?.userId;
  }
  /** @internal */
  get _typingIntervalMs() {
    return this.opts.typingIntervalMs ?? 1e3;
  }
  /** @internal */
  get _typingTimeoutMs() {
    return this.opts.typingTimeoutMs ?? 3e3;
  }
  /** @internal */
  _forget(room) {
    if (this.rooms.get(room.id) === room) this.rooms.delete(room.id);
  }
  /** @internal */
  _track(room) {
    const other = this.rooms.get(room.id);
    if (other && other !== room && other.state !== "left" && other.state !== "idle" && other.state !== "failed") {
      return new ChatError("already_in_room", `Room ${room.id} is joined through another Room object`, "join");
    }
    this.rooms.set(room.id, room);
    return void 0;
  }
  /**
   * @internal A request with an id: resolves with its `ok`, rejects with its error, or locally with
   * `disconnected` (not connected, or the connection closed first), `timeout`, `too_large`,
   * `too_many_requests`. Nothing is queued.
   */
  _request(req) {
    const type = String(req.type);
    const t = this.transport;
    if (!t || !this.helloDone && type !== "hello") {
      return Promise.reject(new ChatError(LocalErrorCode.Disconnected, `Not connected: ${type} was not sent`, type));
    }
    if (this.pending.size >= (this.opts.maxPendingRequests ?? 1e3)) {
      return Promise.reject(new ChatError(LocalErrorCode.TooManyRequests, `Too many requests waiting for a reply: ${type} was not sent`, type));
    }
    const id = this.nextId++;
    const text = JSON.stringify({ ...req, id });
    const max = this.opts.maxMessageBytes ?? 65536;
    if (byteLength(text) > max) {
      return Promise.reject(new ChatError(LocalErrorCode.TooLarge, `The ${type} request is over ${max} bytes: not sent`, type));
    }
    try {
      t.send(text);
    } catch {
      return Promise.reject(new ChatError(LocalErrorCode.Disconnected, `Not connected: ${type} was not sent`, type));
    }
    const receivedBefore = this.received;
    const session = this.session;
    return new Promise((resolve, reject) => {
      const timer = setTimer(() => {
        if (!this.pending.delete(id)) return;
        reject(new ChatError(LocalErrorCode.Timeout, `No reply to ${type} within ${this.timeoutMs} ms`, type));
        this.requestTimedOut(receivedBefore, session);
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer, type });
    });
  }
  /** @internal A request without an id (typing): no reply; returns whether it was sent. */
  _notify(req) {
    if (!this.transport || !this.helloDone) return false;
    try {
      this.transport.send(JSON.stringify(req));
      return true;
    } catch {
      return false;
    }
  }
  // ---- the connection -------------------------------------------------------------------------
  async open() {
    this.reconnectTimer = void 0;
    const url = this.urls[this.urlIndex];
    this.setState(
      this.everConnected ? "reconnecting" : "connecting",
      this.opts.transport ? { url } : { url, transport: this.onStream ? "http-stream" : "websocket" }
    );
    const epoch = ++this.session;
    if (this.opts.getToken && (!this.token || this.tokenExp !== void 0 && now() >= refreshAt(this.tokenFrom, this.tokenExp))) {
      try {
        await this.fetchToken();
      } catch (err) {
        if (epoch !== this.session || !this.running) return;
        this.emit("error", err);
        this.scheduleReconnect();
        return;
      }
      if (epoch !== this.session || !this.running) return;
    }
    const session = ++this.session;
    this.received = 0;
    const streaming = this.onStream && !!this.streamFactory;
    const factory = streaming ? this.streamFactory : this.factory;
    const target = streaming ? this.streamURLs[this.urlIndex] : url;
    const limit = this.opts.connectTimeoutMs ?? 1e4;
    this.connectTimer = setTimer(() => {
      this.connectTimer = void 0;
      if (session !== this.session || this.helloDone) return;
      const switched = this.switchCarrier();
      this.drop(4e3, "connect timeout");
      this.scheduleReconnect(4e3, `no answer within ${limit} ms`, switched ? 0 : void 0, switched);
    }, limit);
    try {
      this.transport = factory(target, {
        open: () => {
          if (session === this.session) this.sayHello(session);
        },
        message: (text) => {
          if (session === this.session) this.receive(text);
        },
        close: (code, reason) => {
          if (session === this.session) this.lost(code, reason);
        }
      });
      this.carrier = this.transport.name;
    } catch (err) {
      this.emit("error", new ChatError(LocalErrorCode.Disconnected, `Cannot open ${target}: ${String(err)}`));
      this.scheduleReconnect();
    }
  }
  // switchCarrier picks the carrier of the next attempt after one that received nothing: a
  // WebSocket that failed before its first message gives way to HTTP streaming, tried at once (it
  // returns true); when that fails too before HTTP streaming ever worked, the network may be down
  // altogether, and the attempts go on from the WebSocket. A carrier that received something
  // failed as any connection can: it is kept. So is, for SOCKET_FAILURES_BEFORE_FALLBACK
  // attempts, a WebSocket that has worked since connect(): this network let WebSockets through, and
  // one that cannot open now is most likely a node down or restarting, which HTTP streaming would
  // only reach in the moment it came back, and then be kept on the slower carrier for good. Past
  // that many, the network may have changed (a laptop moved behind a proxy that strips Upgrade).
  switchCarrier() {
    if (this.opts.transport || !this.streamFactory || !this.factory || this.received > 0) return false;
    if (!this.onStream) {
      if (this.socketWorked && ++this.socketFailures < SOCKET_FAILURES_BEFORE_FALLBACK) return false;
      this.socketFailures = 0;
      this.onStream = true;
      return true;
    }
    if (!this.streamWorked) this.onStream = false;
    return false;
  }
  sayHello(session) {
    const hello = { type: "hello" };
    if (this.opts.name) hello.name = this.opts.name;
    if (this.token) hello.token = this.token;
    this._request(hello).then((res) => {
      if (session !== this.session) return;
      clearTimer(this.connectTimer);
      this.connectTimer = void 0;
      this.helloDone = true;
      if (this.onStream) this.streamWorked = true;
      else {
        this.socketWorked = true;
        this.socketFailures = 0;
      }
      this.me = { userId: String(res.userId ?? ""), name: String(res.name ?? ""), node: String(res.node ?? "") };
      this.connectedAt = now();
      this.everConnected = true;
      this.authRetried = false;
      this.setState("connected", { user: this.me, url: this.urls[this.urlIndex], transport: this.carrier });
      this.settleWaiters(this.me);
      this.scheduleRefresh();
      this.rejoinAll();
    }, (err) => {
      if (session !== this.session) return;
      if (err.code === LocalErrorCode.Disconnected) return;
      if (err.code === "unauthorized" && this.opts.getToken && !this.authRetried) {
        this.authRetried = true;
        this.token = void 0;
        this.drop(4e3, "token refused");
        this.scheduleReconnect(void 0, void 0, 0);
        return;
      }
      if (FATAL_HELLO.has(err.code)) {
        this.fail(err);
        return;
      }
      this.drop(4e3, `hello failed: ${err.code}`);
      this.scheduleReconnect(void 0, `hello failed: ${err.code}`);
    });
  }
  receive(text) {
    this.received++;
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (!m || typeof m !== "object" || Array.isArray(m)) return;
    if (m.id !== void 0 && m.id !== null) {
      const p = this.pending.get(m.id);
      if (p) {
        this.pending.delete(m.id);
        clearTimer(p.timer);
        if (m.type === "ok") p.resolve(m);
        else p.reject(serverError(m, p.type));
        return;
      }
    }
    if (m.type === "error") {
      this.emit("error", serverError(m));
      return;
    }
    if (typeof m.roomId === "string") this.rooms.get(m.roomId)?._push(m);
  }
  // lost handles the end of the current transport, closed by the server or the network.
  lost(code, reason) {
    const stable = this.helloDone && now() - this.connectedAt >= this.reconnectOpts.stableAfterMs;
    this.drop(code, reason, false);
    if (!this.running) return;
    if (stable) this.attempt = 0;
    if (code === 4001) {
      if (!this.opts.getToken) {
        this.fail(new ChatError("token_expired", "The token expired and there is no getToken to renew it"), code, reason);
        return;
      }
      this.token = void 0;
    }
    const switched = this.switchCarrier();
    this.scheduleReconnect(code, reason, switched ? 0 : void 0, switched);
  }
  // requestTimedOut: a request got no reply. If nothing at all came from the server since it was
  // sent, the connection is dead (a hung node, a silent network): drop it and reconnect.
  requestTimedOut(receivedBefore, session) {
    if (session !== this.session || !this.transport || this.received !== receivedBefore) return;
    this.drop(4e3, "no reply from the server");
    this.scheduleReconnect(4e3, "no reply from the server");
  }
  // drop forgets the current transport (closing it if asked), fails the requests waiting on it and
  // takes every room offline.
  drop(code, reason, close = true) {
    const t = this.transport;
    this.transport = void 0;
    this.session++;
    this.helloDone = false;
    clearTimer(this.connectTimer);
    this.connectTimer = void 0;
    if (t && close) t.close(code >= 4e3 || code === 1e3 ? code : 1e3, reason);
    clearTimer(this.refreshTimer);
    this.refreshTimer = void 0;
    clearTimer(this.rejoinTimer);
    this.rejoinTimer = void 0;
    this.rejoinQueue = [];
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) {
      clearTimer(p.timer);
      p.reject(new ChatError(LocalErrorCode.Disconnected, `The connection closed before the reply to ${p.type}`, p.type));
    }
    for (const room of this.rooms.values()) room._offline();
  }
  scheduleReconnect(code, reason, delay, sameURL = false) {
    if (!this.running || this.reconnectTimer !== void 0) return;
    const ms = delay ?? backoffDelay(this.attempt++, this.reconnectOpts);
    if (!sameURL) this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.reconnectTimer = setTimer(() => void this.open(), ms);
    const detail = { delayMs: ms, url: this.urls[this.urlIndex] };
    if (!this.opts.transport) detail.transport = this.onStream ? "http-stream" : "websocket";
    if (code !== void 0) detail.code = code;
    if (reason !== void 0) detail.reason = reason;
    this.setState(this.everConnected ? "reconnecting" : "connecting", detail, true);
  }
  // After the browser says the network is back, waiting out the backoff only delays the user.
  retryNow() {
    if (this.running && this.reconnectTimer !== void 0) {
      clearTimer(this.reconnectTimer);
      void this.open();
    }
  }
  stop() {
    this.running = false;
    clearTimer(this.reconnectTimer);
    this.reconnectTimer = void 0;
    this.offOnline();
    this.offOnline = () => {
    };
    this.drop(1e3, "closed by the client");
  }
  // fail stops for good after a refusal that retrying cannot fix.
  fail(err, code, reason) {
    this.stop();
    for (const room of this.rooms.values()) room._closed(err);
    const detail = { error: err };
    if (code !== void 0) detail.code = code;
    if (reason !== void 0) detail.reason = reason;
    this.setState("disconnected", detail);
    this.settleWaiters(void 0, err);
  }
  // rejoinAll re-joins every room that was joined (or asked to be), paced under the server's rate.
  rejoinAll() {
    this.rejoinQueue = [...this.rooms.values()].filter((r) => r._wanted());
    this.pumpRejoins();
  }
  pumpRejoins() {
    this.rejoinTimer = void 0;
    while (this.rejoinQueue.length > 0) {
      const wait = this.pacer.take(now());
      if (wait > 0) {
        this.rejoinTimer = setTimer(() => this.pumpRejoins(), wait);
        return;
      }
      const room = this.rejoinQueue.shift();
      if (this.rooms.get(room.id) === room) room._rejoin();
    }
  }
  // ---- tokens ---------------------------------------------------------------------------------
  async fetchToken() {
    let tok;
    try {
      tok = await this.opts.getToken();
    } catch (err) {
      throw new ChatError(LocalErrorCode.TokenUnavailable, `getToken failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (typeof tok !== "string" || tok === "") {
      throw new ChatError(LocalErrorCode.TokenUnavailable, "getToken returned no token");
    }
    this.token = tok;
    this.tokenFrom = now();
    this.tokenExp = tokenExpiry(tok);
    return tok;
  }
  // scheduleRefresh arranges for a new token before the current one's exp (with getToken only).
  scheduleRefresh(delay) {
    clearTimer(this.refreshTimer);
    this.refreshTimer = void 0;
    if (!this.opts.getToken || this.tokenExp === void 0) return;
    const ms = delay ?? refreshAt(this.tokenFrom, this.tokenExp) - now();
    const session = this.session;
    this.refreshTimer = setTimer(() => void this.refresh(session), ms);
  }
  async refresh(session) {
    this.refreshTimer = void 0;
    const retry = () => {
      if (session === this.session && this.tokenExp !== void 0 && now() + REFRESH_RETRY_MS < this.tokenExp) {
        this.scheduleRefresh(REFRESH_RETRY_MS);
      }
    };
    const old = { token: this.token, from: this.tokenFrom, exp: this.tokenExp };
    let tok;
    try {
      tok = await this.fetchToken();
    } catch (err) {
      if (session !== this.session) return;
      this.emit("error", err);
      retry();
      return;
    }
    if (session !== this.session || !this.helloDone) return;
    try {
      await this._request({ type: "refresh", token: tok });
    } catch (err) {
      if (session !== this.session) return;
      const e = err;
      if (e.code === LocalErrorCode.Disconnected || e.code === LocalErrorCode.Closed) return;
      if (this.token === tok) {
        this.token = old.token;
        this.tokenFrom = old.from;
        this.tokenExp = old.exp;
      }
      this.emit("error", e);
      retry();
      return;
    }
    if (session === this.session) this.scheduleRefresh();
  }
  // ---- state ----------------------------------------------------------------------------------
  setState(state, detail = {}, repeat = false) {
    const previous = this.current;
    if (previous === state && !repeat) return;
    this.current = state;
    this.emit("state", { ...detail, state, previous });
  }
  settleWaiters(user, err) {
    const list = this.waiters;
    this.waiters = [];
    for (const w of list) {
      if (user) w.resolve(user);
      else w.reject(err ?? new ChatError(LocalErrorCode.Disconnected, "Disconnected"));
    }
  }
};
export {
  ChatClient,
  ChatError,
  LocalErrorCode,
  Room,
  SUBPROTOCOL,
  connect,
  httpStreamTransport,
  streamURL,
  webSocketTransport
};
