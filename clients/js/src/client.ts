import { backoffDelay, DEFAULT_RECONNECT, Pacer, type ReconnectOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { ChatError, LocalErrorCode, serverError } from './errors.js';
import { byteLength, clearTimer, now, onWindowEvent, setTimer, type FetchLike, type TimerHandle } from './host.js';
import { Room } from './room.js';
import { httpStreamTransport, streamURL } from './stream.js';
import { refreshAt, tokenExpiry } from './token.js';
import { webSocketTransport, type Transport, type TransportFactory, type WebSocketConstructor } from './transport.js';
import type { HelloResult, Incoming, RoomInfo, RoomPage } from './wire.js';

/**
 * The connection's state:
 * - `connecting`: the first connection (or the first after {@link ChatClient.connect}) is being made;
 * - `connected`: the server answered hello; rooms are (re-)joined;
 * - `reconnecting`: the connection was lost (or refused) and the client tries again with backoff;
 * - `disconnected`: not trying: closed by the application, or a refusal that retrying cannot fix
 *   (a bad name, a refused token): see the event's `error`.
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

/** A change of the connection's state (also sent for each new reconnect attempt while reconnecting). */
export interface StateEvent {
  state: ConnectionState;
  previous: ConnectionState;
  /** The close code of the connection that ended (4001: its token expired; 1006: lost without a close). */
  code?: number;
  /** The close reason of the connection that ended. */
  reason?: string;
  /** While reconnecting: ms until the next attempt. */
  delayMs?: number;
  /** When `disconnected` for good by a refusal: why (e.g. `unauthorized`, `missing_field`). */
  error?: ChatError;
  /** When `connected`: who the server says the user is. */
  user?: HelloResult;
  /** The URL of the node being connected to, or connected. */
  url?: string;
  /** The transport in use or being tried: `websocket`, or `http-stream` (see {@link ClientOptions.fallback}). */
  transport?: string;
}

/** The client's own events (each room has its own: see {@link RoomEvents}). */
export interface ClientEvents {
  state: StateEvent;
  /**
   * An error no request waits for: a server error without an id (e.g. a refused typing notice), a
   * token refresh or `getToken` that failed, a request the client made by itself.
   */
  error: ChatError;
}

/** How to connect. Give a `name`, a `token` or a `getToken`. */
export interface ClientOptions {
  /**
   * The node's WebSocket URL, e.g. `ws://localhost:8080/ws` (`wss://` behind TLS). With several, the
   * client starts with the first and moves to the next one at each reconnect attempt.
   */
  url: string | string[];
  /** The display name (1–64 bytes; ignored by the server when a token names the user). */
  name?: string;
  /** A JWT naming the user. Without `getToken` the client cannot renew it: when it expires (close 4001) the client stops. */
  token?: string;
  /**
   * Returns a fresh token (e.g. from your backend). Called before connecting, again before the
   * token's `exp` (the connection is kept with a `refresh` request), and when the server refuses
   * one (`unauthorized`) or closes for expiry (4001).
   */
  getToken?: () => string | Promise<string>;
  /** The WebSocket constructor to use; default: the runtime's global `WebSocket` (browsers, Node 22+). */
  WebSocket?: WebSocketConstructor;
  /** The transport to use; default: the WebSocket transport, with HTTP streaming as its {@link fallback}. */
  transport?: TransportFactory;
  /**
   * When the WebSocket cannot be opened, or closes before its first message (a proxy that strips
   * `Upgrade`, TLS inspection), switch at once to HTTP streaming (Server-Sent Events down, POSTs
   * up, at the node's `/stream`) and stay on it while it works. After a WebSocket has worked since
   * `connect()`, a later one that cannot open is taken for a node down or restarting for five
   * attempts in a row (~8-15 s of backoff), then HTTP streaming is tried (the network may have
   * changed). The state events and {@link ChatClient.transportName} say which is in use. In a
   * runtime without a WebSocket the client starts on HTTP streaming. Default true; not used with
   * `transport`.
   */
  fallback?: boolean;
  /**
   * The HTTP streaming URLs, one per `url`, e.g. `https://chat.example.com/stream`. Default: each
   * derived from its `url` (`wss://host/ws` → `https://host/stream`).
   */
  streamUrl?: string | string[];
  /** The `fetch` HTTP streaming uses; default: the runtime's (browsers, Node 18+). */
  fetch?: FetchLike;
  /** A request without a reply after this long fails with `timeout`. Default 10000. */
  requestTimeoutMs?: number;
  /** A connection attempt not answered (open and hello) within this long is given up and retried. Default 10000. */
  connectTimeoutMs?: number;
  /** Reconnect backoff. */
  reconnect?: ReconnectOptions;
  /** {@link Room.typing} sends at most one notice per this many ms. Default 1000. */
  typingIntervalMs?: number;
  /** Someone else's "is typing" lasts this long without a new notice. Default 3000. */
  typingTimeoutMs?: number;
  /** Requests larger than this (bytes of JSON) are refused locally with `too_large`: the server would close the connection. Default 65536. */
  maxMessageBytes?: number;
  /** Requests waiting for their reply at most; more are refused locally with `too_many_requests`. Default 1000. */
  maxPendingRequests?: number;
}

/** A page request of the room list. */
export interface ListRoomsOptions {
  /** Start after this room id (the `next` of the previous page). */
  after?: string;
  /** Rooms per page at most (the server caps it). */
  limit?: number;
  /** Only room ids that start with this. */
  prefix?: string;
}

interface Pending {
  resolve: (m: Incoming) => void;
  reject: (e: ChatError) => void;
  timer: TimerHandle;
  type: string;
}

// Hello refusals that retrying cannot fix: the user must change the name or the token.
const FATAL_HELLO = new Set(['unauthorized', 'forbidden', 'missing_field', 'bad_field', 'too_long', 'control_chars']);
// Re-joins after a reconnect are paced under the server's per-connection request rate (20/s, burst 40).
const REJOIN_RATE = 16;
const REJOIN_BURST = 32;
// Room list pages refused as too frequent are asked again this often at most, this far apart.
const LIST_RETRIES = 5;
const LIST_RETRY_MS = 1100;
// A token refresh that failed is tried again after this, while the token is still valid.
const REFRESH_RETRY_MS = 2000;
// After a WebSocket has worked, this many attempts in a row whose WebSocket failed before its first
// message (~8-15 s of backoff) pass for a node down or restarting; the next tries HTTP streaming (a
// network that now blocks WebSockets).
const SOCKET_FAILURES_BEFORE_FALLBACK = 5;

/** Connects with `options` at once; see {@link ChatClient}. */
export function connect(options: ClientOptions): ChatClient {
  return new ChatClient(options).connect();
}

/**
 * A chatd protocol v2 client: one connection, any number of {@link Room}s. It says hello with the
 * name or token, reconnects by itself with exponential backoff and jitter, re-joins every room with
 * `since` so that each room's messages stay contiguous (or a `gap` event says they cannot), keeps a
 * token fresh with `getToken`, and fails requests that get no reply in time. It never queues a
 * request while disconnected: such requests fail at once with `disconnected`.
 */
export class ChatClient extends Emitter<ClientEvents> {
  private readonly urls: string[];
  private readonly opts: ClientOptions;
  private readonly reconnectOpts: Required<ReconnectOptions>;
  private readonly timeoutMs: number;
  private factory: TransportFactory | undefined; // the application's transport option, or the WebSocket's
  private streamFactory: TransportFactory | undefined; // HTTP streaming, the fallback
  private readonly streamURLs: string[];
  private onStream = false; // the next attempts use HTTP streaming
  private streamWorked = false; // HTTP streaming said hello since connect(): keep to it
  private socketWorked = false; // the WebSocket said hello since connect(): keep to it a while
  private socketFailures = 0; // attempts in a row since, whose WebSocket failed before its first message
  private transport: Transport | undefined;
  private carrier = '';
  private urlIndex = 0;
  private session = 0;
  private helloDone = false;
  private running = false;
  private current: ConnectionState = 'disconnected';
  private everConnected = false;
  private connectedAt = 0;
  private received = 0; // messages received on the current transport
  private attempt = 0;
  private reconnectTimer: TimerHandle | undefined;
  private connectTimer: TimerHandle | undefined;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private me: HelloResult | undefined;
  private token: string | undefined;
  private tokenFrom = 0;
  private tokenExp: number | undefined;
  private authRetried = false;
  private refreshTimer: TimerHandle | undefined;
  private rooms = new Map<string, Room>();
  private rejoinQueue: Room[] = [];
  private rejoinTimer: TimerHandle | undefined;
  private pacer = new Pacer(REJOIN_RATE, REJOIN_BURST, 0);
  private waiters: { resolve: (u: HelloResult) => void; reject: (e: ChatError) => void }[] = [];
  private offOnline: () => void = () => {};

  /** A client that is not connected yet: call {@link connect}. */
  constructor(options: ClientOptions) {
    super();
    const urls = Array.isArray(options.url) ? options.url : [options.url];
    if (urls.length === 0 || urls.some((u) => typeof u !== 'string' || !/^wss?:\/\/[^/]/i.test(u))) {
      throw new TypeError('ChatClient: url must be a ws:// or wss:// URL, or a non-empty list of them');
    }
    if (!options.name && !options.token && !options.getToken) {
      throw new TypeError('ChatClient: give a name, a token or getToken');
    }
    this.urls = [...urls];
    const streams = options.streamUrl === undefined ? urls.map(streamURL)
      : Array.isArray(options.streamUrl) ? options.streamUrl : [options.streamUrl];
    if (streams.length !== urls.length || streams.some((u) => typeof u !== 'string' || !/^https?:\/\/[^/]/i.test(u))) {
      throw new TypeError('ChatClient: streamUrl must be an http:// or https:// URL per url');
    }
    this.streamURLs = [...streams];
    this.opts = { ...options };
    this.token = options.token;
    if (this.token) {
      this.tokenFrom = now();
      this.tokenExp = tokenExpiry(this.token);
    }
    this.reconnectOpts = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.timeoutMs = options.requestTimeoutMs ?? 10000;
  }

  /** The connection's state. */
  get state(): ConnectionState {
    return this.current;
  }

  /** Who the server says the user is, once connected (kept while reconnecting). */
  get user(): HelloResult | undefined {
    return this.me;
  }

  /** The transport in use or last used (`websocket` or `http-stream`), empty before the first connection. */
  get transportName(): string {
    return this.carrier;
  }

  /**
   * Starts connecting (again, after {@link close}); rooms joined before are re-joined. Returns the
   * client. A runtime without a WebSocket (Node 20 without the `WebSocket` option) connects with
   * HTTP streaming, unless `fallback` is false: then it ends in `disconnected` with the error
   * `no_websocket`.
   */
  connect(): this {
    if (this.running) return this;
    this.running = true;
    this.attempt = 0;
    this.everConnected = false;
    this.authRetried = false;
    this.streamWorked = this.socketWorked = false;
    this.socketFailures = 0;
    this.factory = this.streamFactory = undefined;
    let failure: unknown;
    try {
      this.factory = this.opts.transport ?? webSocketTransport(this.opts.WebSocket);
    } catch (err) {
      failure = err;
    }
    if (!this.opts.transport && this.opts.fallback !== false) {
      try {
        this.streamFactory = httpStreamTransport(this.opts.fetch);
      } catch { /* no fetch: WebSocket only */ }
    }
    this.onStream = !this.factory && !!this.streamFactory;
    if (!this.factory && !this.streamFactory) {
      this.running = false;
      const e = failure instanceof ChatError ? failure : new ChatError(LocalErrorCode.NoWebSocket, String(failure));
      this.setState('disconnected', { error: e }, true);
      this.settleWaiters(undefined, e);
      return this;
    }
    this.offOnline = onWindowEvent('online', () => this.retryNow());
    void this.open();
    return this;
  }

  /**
   * Resolves with the user once connected (at once if connected); rejects if the client ends up
   * `disconnected` first (closed, or refused for good).
   */
  ready(): Promise<HelloResult> {
    if (this.current === 'connected' && this.me) return Promise.resolve(this.me);
    if (!this.running) {
      return Promise.reject(new ChatError(LocalErrorCode.Disconnected, 'The client is not connecting: call connect()'));
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /**
   * Closes the connection and stops reconnecting: state `disconnected` (code 1000). Requests still
   * waiting fail with `closed`. Rooms stay known and are re-joined by a later {@link connect}.
   */
  close(): void {
    if (!this.running && !this.transport) return;
    this.stop();
    const err = new ChatError(LocalErrorCode.Closed, 'The client was closed');
    for (const room of this.rooms.values()) room._closed();
    this.settleWaiters(undefined, err);
    this.setState('disconnected', { code: 1000, reason: 'closed by the client' });
  }

  /**
   * The room with this id: the same object each time, until it is left. Add listeners, then
   * {@link Room.join} it.
   */
  room(id: string): Room {
    if (typeof id !== 'string' || id.trim() === '') throw new TypeError('ChatClient.room: the room id must be a non-empty string');
    let room = this.rooms.get(id);
    if (!room) {
      room = new Room(this, id);
      this.rooms.set(id, room);
    }
    return room;
  }

  /** The rooms joined or being joined (in the order they were joined). */
  joinedRooms(): Room[] {
    return [...this.rooms.values()].filter((r) => r.state === 'joined' || r.state === 'joining' || r.state === 'offline');
  }

  /** One page of the server's room list, by room id. */
  listRooms(options: ListRoomsOptions = {}): Promise<RoomPage> {
    const req: Record<string, unknown> = { type: 'rooms' };
    if (options.after) req.after = options.after;
    if (options.limit !== undefined) req.limit = options.limit;
    if (options.prefix) req.prefix = options.prefix;
    return this._request(req).then((res) => {
      const page: RoomPage = { rooms: Array.isArray(res.rooms) ? (res.rooms as RoomInfo[]) : [] };
      if (typeof res.next === 'string' && res.next) page.next = res.next;
      return page;
    });
  }

  /**
   * Every page of the room list, one after the other (from `after`, if given). A page refused as
   * asked for too often (`rate_limited`) is asked again a second later, a few times.
   */
  async *roomPages(options: ListRoomsOptions = {}): AsyncGenerator<RoomPage, void, undefined> {
    let after = options.after;
    for (;;) {
      let page: RoomPage | undefined;
      for (let tries = 0; !page; tries++) {
        try {
          page = await this.listRooms({ ...options, after });
        } catch (err) {
          if (!(err instanceof ChatError) || err.code !== 'rate_limited' || tries >= LIST_RETRIES) throw err;
          await new Promise<void>((r) => setTimer(r, LIST_RETRY_MS));
        }
      }
      yield page;
      if (!page.next) return;
      after = page.next;
    }
  }

  // ---- for rooms (internal) -------------------------------------------------------------------

  /** @internal */
  get _connected(): boolean {
    return this.helloDone;
  }

  /** @internal */
  get _session(): number {
    return this.session;
  }

  /** @internal */
  get _closed(): boolean {
    return !this.running;
  }

  /** @internal */
  get _userId(): string | undefined {
    return this.me?.userId;
  }

  /** @internal */
  get _typingIntervalMs(): number {
    return this.opts.typingIntervalMs ?? 1000;
  }

  /** @internal */
  get _typingTimeoutMs(): number {
    return this.opts.typingTimeoutMs ?? 3000;
  }

  /** @internal */
  _forget(room: Room): void {
    if (this.rooms.get(room.id) === room) this.rooms.delete(room.id);
  }

  /** @internal */
  _track(room: Room): ChatError | undefined {
    const other = this.rooms.get(room.id);
    if (other && other !== room && other.state !== 'left' && other.state !== 'idle' && other.state !== 'failed') {
      return new ChatError('already_in_room', `Room ${room.id} is joined through another Room object`, 'join');
    }
    this.rooms.set(room.id, room);
    return undefined;
  }

  /**
   * @internal A request with an id: resolves with its `ok`, rejects with its error, or locally with
   * `disconnected` (not connected, or the connection closed first), `timeout`, `too_large`,
   * `too_many_requests`. Nothing is queued.
   */
  _request(req: Record<string, unknown>): Promise<Incoming> {
    const type = String(req.type);
    const t = this.transport;
    if (!t || (!this.helloDone && type !== 'hello')) {
      return Promise.reject(new ChatError(LocalErrorCode.Disconnected, `Not connected: ${type} was not sent`, type));
    }
    if (this.pending.size >= (this.opts.maxPendingRequests ?? 1000)) {
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
    return new Promise<Incoming>((resolve, reject) => {
      const timer = setTimer(() => {
        if (!this.pending.delete(id)) return;
        reject(new ChatError(LocalErrorCode.Timeout, `No reply to ${type} within ${this.timeoutMs} ms`, type));
        this.requestTimedOut(receivedBefore, session);
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer, type });
    });
  }

  /** @internal A request without an id (typing): no reply; returns whether it was sent. */
  _notify(req: Record<string, unknown>): boolean {
    if (!this.transport || !this.helloDone) return false;
    try {
      this.transport.send(JSON.stringify(req));
      return true;
    } catch {
      return false;
    }
  }

  // ---- the connection -------------------------------------------------------------------------

  private async open(): Promise<void> {
    this.reconnectTimer = undefined;
    const url = this.urls[this.urlIndex];
    this.setState(this.everConnected ? 'reconnecting' : 'connecting',
      this.opts.transport ? { url } : { url, transport: this.onStream ? 'http-stream' : 'websocket' });
    const epoch = ++this.session; // nothing of an earlier attempt may act from here on
    if (this.opts.getToken && (!this.token || (this.tokenExp !== undefined && now() >= refreshAt(this.tokenFrom, this.tokenExp)))) {
      try {
        await this.fetchToken();
      } catch (err) {
        if (epoch !== this.session || !this.running) return;
        this.emit('error', err as ChatError);
        this.scheduleReconnect();
        return;
      }
      if (epoch !== this.session || !this.running) return;
    }
    const session = ++this.session;
    this.received = 0;
    const streaming = this.onStream && !!this.streamFactory;
    const factory = streaming ? this.streamFactory! : this.factory!;
    const target = streaming ? this.streamURLs[this.urlIndex]! : url;
    const limit = this.opts.connectTimeoutMs ?? 10000;
    this.connectTimer = setTimer(() => {
      this.connectTimer = undefined;
      if (session !== this.session || this.helloDone) return;
      const switched = this.switchCarrier();
      this.drop(4000, 'connect timeout');
      this.scheduleReconnect(4000, `no answer within ${limit} ms`, switched ? 0 : undefined, switched);
    }, limit);
    try {
      this.transport = factory(target, {
        open: () => { if (session === this.session) this.sayHello(session); },
        message: (text) => { if (session === this.session) this.receive(text); },
        close: (code, reason) => { if (session === this.session) this.lost(code, reason); },
      });
      this.carrier = this.transport.name;
    } catch (err) {
      this.emit('error', new ChatError(LocalErrorCode.Disconnected, `Cannot open ${target}: ${String(err)}`));
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
  private switchCarrier(): boolean {
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

  private sayHello(session: number): void {
    const hello: Record<string, unknown> = { type: 'hello' };
    if (this.opts.name) hello.name = this.opts.name;
    if (this.token) hello.token = this.token;
    this._request(hello).then((res) => {
      if (session !== this.session) return;
      clearTimer(this.connectTimer);
      this.connectTimer = undefined;
      this.helloDone = true;
      if (this.onStream) this.streamWorked = true;
      else {
        this.socketWorked = true;
        this.socketFailures = 0;
      }
      this.me = { userId: String(res.userId ?? ''), name: String(res.name ?? ''), node: String(res.node ?? '') };
      this.connectedAt = now();
      this.everConnected = true;
      this.authRetried = false;
      this.setState('connected', { user: this.me, url: this.urls[this.urlIndex], transport: this.carrier });
      this.settleWaiters(this.me);
      this.scheduleRefresh();
      this.rejoinAll();
    }, (err: ChatError) => {
      if (session !== this.session) return;
      if (err.code === LocalErrorCode.Disconnected) return; // lost() does the work
      if (err.code === 'unauthorized' && this.opts.getToken && !this.authRetried) {
        // A token the server refuses (expired meanwhile, keys rotated): one more try with a new one.
        this.authRetried = true;
        this.token = undefined;
        this.drop(4000, 'token refused');
        this.scheduleReconnect(undefined, undefined, 0);
        return;
      }
      if (FATAL_HELLO.has(err.code)) {
        this.fail(err);
        return;
      }
      this.drop(4000, `hello failed: ${err.code}`);
      this.scheduleReconnect(undefined, `hello failed: ${err.code}`);
    });
  }

  private receive(text: string): void {
    this.received++;
    let m: Incoming;
    try {
      m = JSON.parse(text) as Incoming;
    } catch {
      return;
    }
    if (!m || typeof m !== 'object' || Array.isArray(m)) return;
    if (m.id !== undefined && m.id !== null) {
      const p = this.pending.get(m.id as number);
      if (p) {
        this.pending.delete(m.id as number);
        clearTimer(p.timer);
        if (m.type === 'ok') p.resolve(m);
        else p.reject(serverError(m, p.type));
        return;
      }
    }
    if (m.type === 'error') {
      this.emit('error', serverError(m));
      return;
    }
    if (typeof m.roomId === 'string') this.rooms.get(m.roomId)?._push(m);
  }

  // lost handles the end of the current transport, closed by the server or the network.
  private lost(code: number, reason: string): void {
    const stable = this.helloDone && now() - this.connectedAt >= this.reconnectOpts.stableAfterMs;
    this.drop(code, reason, false);
    if (!this.running) return;
    if (stable) this.attempt = 0;
    if (code === 4001) {
      if (!this.opts.getToken) {
        this.fail(new ChatError('token_expired', 'The token expired and there is no getToken to renew it'), code, reason);
        return;
      }
      this.token = undefined; // expired: get a new one before the next hello
    }
    const switched = this.switchCarrier(); // the same node over HTTP streaming, at once
    this.scheduleReconnect(code, reason, switched ? 0 : undefined, switched);
  }

  // requestTimedOut: a request got no reply. If nothing at all came from the server since it was
  // sent, the connection is dead (a hung node, a silent network): drop it and reconnect.
  private requestTimedOut(receivedBefore: number, session: number): void {
    if (session !== this.session || !this.transport || this.received !== receivedBefore) return;
    this.drop(4000, 'no reply from the server');
    this.scheduleReconnect(4000, 'no reply from the server');
  }

  // drop forgets the current transport (closing it if asked), fails the requests waiting on it and
  // takes every room offline.
  private drop(code: number, reason: string, close = true): void {
    const t = this.transport;
    this.transport = undefined;
    this.session++;
    this.helloDone = false;
    clearTimer(this.connectTimer);
    this.connectTimer = undefined;
    if (t && close) t.close(code >= 4000 || code === 1000 ? code : 1000, reason);
    clearTimer(this.refreshTimer);
    this.refreshTimer = undefined;
    clearTimer(this.rejoinTimer);
    this.rejoinTimer = undefined;
    this.rejoinQueue = [];
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) {
      clearTimer(p.timer);
      p.reject(new ChatError(LocalErrorCode.Disconnected, `The connection closed before the reply to ${p.type}`, p.type));
    }
    for (const room of this.rooms.values()) room._offline();
  }

  private scheduleReconnect(code?: number, reason?: string, delay?: number, sameURL = false): void {
    if (!this.running || this.reconnectTimer !== undefined) return;
    const ms = delay ?? backoffDelay(this.attempt++, this.reconnectOpts);
    if (!sameURL) this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.reconnectTimer = setTimer(() => void this.open(), ms);
    const detail: Partial<StateEvent> = { delayMs: ms, url: this.urls[this.urlIndex] };
    if (!this.opts.transport) detail.transport = this.onStream ? 'http-stream' : 'websocket'; // the next attempt's
    if (code !== undefined) detail.code = code;
    if (reason !== undefined) detail.reason = reason;
    this.setState(this.everConnected ? 'reconnecting' : 'connecting', detail, true);
  }

  // After the browser says the network is back, waiting out the backoff only delays the user.
  private retryNow(): void {
    if (this.running && this.reconnectTimer !== undefined) {
      clearTimer(this.reconnectTimer);
      void this.open();
    }
  }

  private stop(): void {
    this.running = false;
    clearTimer(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.offOnline();
    this.offOnline = () => {};
    this.drop(1000, 'closed by the client');
  }

  // fail stops for good after a refusal that retrying cannot fix.
  private fail(err: ChatError, code?: number, reason?: string): void {
    this.stop();
    for (const room of this.rooms.values()) room._closed(err);
    const detail: Partial<StateEvent> = { error: err };
    if (code !== undefined) detail.code = code;
    if (reason !== undefined) detail.reason = reason;
    this.setState('disconnected', detail);
    this.settleWaiters(undefined, err);
  }

  // rejoinAll re-joins every room that was joined (or asked to be), paced under the server's rate.
  private rejoinAll(): void {
    this.rejoinQueue = [...this.rooms.values()].filter((r) => r._wanted());
    this.pumpRejoins();
  }

  private pumpRejoins(): void {
    this.rejoinTimer = undefined;
    while (this.rejoinQueue.length > 0) {
      const wait = this.pacer.take(now());
      if (wait > 0) {
        this.rejoinTimer = setTimer(() => this.pumpRejoins(), wait);
        return;
      }
      const room = this.rejoinQueue.shift()!;
      if (this.rooms.get(room.id) === room) room._rejoin();
    }
  }

  // ---- tokens ---------------------------------------------------------------------------------

  private async fetchToken(): Promise<string> {
    let tok: unknown;
    try {
      tok = await this.opts.getToken!();
    } catch (err) {
      throw new ChatError(LocalErrorCode.TokenUnavailable, `getToken failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (typeof tok !== 'string' || tok === '') {
      throw new ChatError(LocalErrorCode.TokenUnavailable, 'getToken returned no token');
    }
    this.token = tok;
    this.tokenFrom = now();
    this.tokenExp = tokenExpiry(tok);
    return tok;
  }

  // scheduleRefresh arranges for a new token before the current one's exp (with getToken only).
  private scheduleRefresh(delay?: number): void {
    clearTimer(this.refreshTimer);
    this.refreshTimer = undefined;
    if (!this.opts.getToken || this.tokenExp === undefined) return;
    const ms = delay ?? refreshAt(this.tokenFrom, this.tokenExp) - now();
    const session = this.session;
    this.refreshTimer = setTimer(() => void this.refresh(session), ms);
  }

  private async refresh(session: number): Promise<void> {
    this.refreshTimer = undefined;
    const retry = () => {
      // Try again while the token is valid; past it the server closes 4001 and the reconnect asks anew.
      if (session === this.session && this.tokenExp !== undefined && now() + REFRESH_RETRY_MS < this.tokenExp) {
        this.scheduleRefresh(REFRESH_RETRY_MS);
      }
    };
    const old = { token: this.token, from: this.tokenFrom, exp: this.tokenExp };
    let tok: string;
    try {
      tok = await this.fetchToken();
    } catch (err) {
      if (session !== this.session) return;
      this.emit('error', err as ChatError);
      retry();
      return;
    }
    if (session !== this.session || !this.helloDone) return; // the next hello carries the new token
    try {
      await this._request({ type: 'refresh', token: tok });
    } catch (err) {
      if (session !== this.session) return;
      const e = err as ChatError;
      if (e.code === LocalErrorCode.Disconnected || e.code === LocalErrorCode.Closed) return;
      // The connection still runs on the old token: keep its expiry for the next try.
      if (this.token === tok) { this.token = old.token; this.tokenFrom = old.from; this.tokenExp = old.exp; }
      this.emit('error', e);
      retry();
      return;
    }
    if (session === this.session) this.scheduleRefresh();
  }

  // ---- state ----------------------------------------------------------------------------------

  private setState(state: ConnectionState, detail: Partial<StateEvent> = {}, repeat = false): void {
    const previous = this.current;
    if (previous === state && !repeat) return;
    this.current = state;
    this.emit('state', { ...detail, state, previous });
  }

  private settleWaiters(user?: HelloResult, err?: ChatError): void {
    const list = this.waiters;
    this.waiters = [];
    for (const w of list) {
      if (user) w.resolve(user);
      else w.reject(err ?? new ChatError(LocalErrorCode.Disconnected, 'Disconnected'));
    }
  }
}
