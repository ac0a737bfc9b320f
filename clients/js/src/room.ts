import { Emitter } from './emitter.js';
import { ChatError, LocalErrorCode } from './errors.js';
import { backoffDelay, DEFAULT_RECONNECT } from './backoff.js';
import { clearTimer, now, setTimer, type TimerHandle } from './host.js';
import type { Incoming, JoinResult, Member, Message, Position, PresenceResult, PublishResult } from './wire.js';

/**
 * Where a room stands:
 * - `idle`: created with {@link ChatClient.room}, not asked to join yet;
 * - `joining`: its join is on its way (also a re-join after a reconnect);
 * - `joined`: in the room; messages flow;
 * - `offline`: asked to join, but the client is not connected: it is (re-)joined when it is;
 * - `left`: left with {@link Room.leave};
 * - `failed`: the server refused the join (the state event carries the error); join again to retry.
 */
export type RoomState = 'idle' | 'joining' | 'joined' | 'offline' | 'left' | 'failed';

/** A room's state change. */
export interface RoomStateEvent {
  roomId: string;
  state: RoomState;
  previous: RoomState;
  /** `failed`: why the server refused the join. */
  error?: ChatError;
}

/** Another user joined or left the room. */
export interface MemberEvent {
  roomId: string;
  userId: string;
  name: string;
  /** The room's member count (users, cluster-wide) after the change. */
  memberCount: number;
}

/** Someone started or stopped typing in the room. */
export interface TypingEvent {
  roomId: string;
  userId: string;
  name: string;
  /** True: a typing notice came. False: none came for `typingTimeoutMs`, or they sent a message, or they left. */
  typing: boolean;
  /** Everyone typing now, in the order they started. */
  typers: Member[];
}

/** A re-join (after a reconnect, or a `resync` from the server) recovered every message missed. */
export interface RecoveredEvent {
  roomId: string;
  /** How many missed messages were delivered as `message` events, in order, just before this event. */
  count: number;
  /** Where the room's message stream stands now. */
  position: Position;
}

/**
 * Why a room's stream has a gap: `epoch` (the room's history restarted: a new epoch), `trimmed` (the
 * messages missed are no longer stored: trimmed or expired), `incomplete` (the server vouched for
 * fewer messages than it said there were).
 */
export type GapReason = 'epoch' | 'trimmed' | 'incomplete';

/**
 * A re-join could not recover every message missed: the messages between `previous` and the
 * newest ones are not coming. The application decides what to do (e.g. show "some messages may
 * be missing", or reload the room). Live `message` events continue after `position`.
 */
export interface GapEvent {
  roomId: string;
  reason: GapReason;
  /** Where the stream stood before the gap. */
  previous: Position;
  /** Where it stands now: live messages continue at `position.offset + 1`. */
  position: Position;
  /** The room's newest messages (up to the join's `history`), oldest first; not delivered as `message` events. */
  messages: Message[];
  /** The server's reason, when a `resync` push started the recovery (`gap`, `epoch`). */
  resync?: string;
}

/** The events of a room. */
export interface RoomEvents {
  state: RoomStateEvent;
  /**
   * A message: live, or missed and recovered after a reconnect. Within an epoch each offset comes
   * once and in order; a hole is never silent (a `gap` event says so). Your own messages come back
   * only as the result of {@link Room.publish}, not as events on this connection.
   */
  message: Message;
  joined: MemberEvent;
  left: MemberEvent;
  typing: TypingEvent;
  recovered: RecoveredEvent;
  gap: GapEvent;
}

/** How to join a room. */
export interface JoinOptions {
  /** The newest N messages to return with the join (and with a gap after a failed recovery). Default 0. */
  history?: number;
  /** The room's display name, if the join creates it. */
  name?: string;
  /**
   * Continue from a position saved earlier (e.g. {@link Room.position} kept across a page reload):
   * the messages after it are delivered as `message` events and a `recovered` event, or a `gap`
   * event says they cannot be.
   */
  since?: Position;
}

/** A page of a room's stored history. */
export interface HistoryOptions {
  /** Only messages with an offset below this one (exclusive); default: the newest. */
  before?: number;
  /** At most this many (the server caps it; default: its cap). */
  limit?: number;
}

/** @internal What a room needs of its client. */
export interface RoomHost {
  readonly _connected: boolean;
  readonly _session: number;
  readonly _closed: boolean;
  readonly _userId: string | undefined;
  readonly _typingIntervalMs: number;
  readonly _typingTimeoutMs: number;
  _request(req: Record<string, unknown>): Promise<Incoming>;
  _notify(req: Record<string, unknown>): boolean;
  _forget(room: Room): void;
  _track(room: Room): ChatError | undefined;
}

// Bounds, so that a misbehaving server cannot grow a room's memory without end.
const MAX_BUFFERED = 2000; // pushes held while a recovery is on its way; past it, recover again after
const MAX_OWN_AHEAD = 1000; // own offsets acknowledged ahead of the stream's position
const MAX_RETIRED = 8; // abandoned epochs remembered, to drop their stale pushes
const MAX_EARLY = 1024; // messages kept from pushes that came before a join's reply
const FIRST_JOIN_RETRIES = 5; // a first join refused as rate_limited/busy is retried this often
// Refusals that pass: the request may succeed a moment later on the same connection.
const TRANSIENT = new Set(['rate_limited', 'busy', 'cluster_unavailable', 'join_failed', 'draining']);
const RETRY = { minDelayMs: 500, maxDelayMs: 5000, stableAfterMs: DEFAULT_RECONNECT.stableAfterMs };

const offsetOf = (m: object): number => {
  const o = (m as { offset?: unknown }).offset;
  return typeof o === 'number' && o > 0 ? o : 0;
};
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * One room of a {@link ChatClient}: get it with {@link ChatClient.room}, add listeners, then
 * {@link Room.join}. The room keeps its place in the room's history (epoch and offset), re-joins
 * by itself after a reconnect with `since`, and delivers what was missed as `message` events, or
 * says with a `gap` event that it cannot.
 */
export class Room extends Emitter<RoomEvents> {
  /** The room's id. */
  readonly id: string;

  private host: RoomHost;
  private count = 0;
  private _state: RoomState = 'idle';
  private opts: { history: number; name?: string } = { history: 0 };
  private epoch: string | null = null; // null until joined (or given a since)
  private offset = 0;
  private ownAhead = new Set<number>();
  private ownInFlight = 0;
  private recovering = false;
  private holding = false; // a hole that our own unacknowledged publishes may fill
  // Messages pushed while this session's join is on its way: taken after the reply (those at or
  // below its offset are copies and dropped), so that none is lost if a push overtakes the reply.
  private early: Message[] = [];
  private buffer: Message[] = [];
  private overflow = false;
  private retired: string[] = [];
  private resyncReason: string | undefined;
  private typingUsers = new Map<string, { name: string; timer: TimerHandle }>();
  private typingLast = -Infinity;
  private typingTimer: TimerHandle | undefined;
  private typingPending = false;
  private pendingJoin: { promise: Promise<JoinResult>; resolve: (r: JoinResult) => void; reject: (e: ChatError) => void } | undefined;
  private firstJoin = true; // no join of this room has succeeded since join() was called
  private session = -1; // the connection the room was (or is being) joined on
  private retries = 0;
  private retryTimer: TimerHandle | undefined;

  /** @internal */
  constructor(host: RoomHost, id: string) {
    super();
    this.host = host;
    this.id = id;
  }

  /** Where the room stands: see {@link RoomState}. */
  get state(): RoomState {
    return this._state;
  }

  /** The room's member count (users, cluster-wide), as of the last join, presence or member event. */
  get memberCount(): number {
    return this.count;
  }

  /** The room's display name given at join, if any. */
  get name(): string | undefined {
    return this.opts.name;
  }

  /**
   * Where the room's message stream stands (the epoch and the newest offset delivered in order);
   * undefined before the first join. Keep it to continue later with {@link JoinOptions.since}.
   */
  get position(): Position | undefined {
    return this.epoch === null ? undefined : { epoch: this.epoch, offset: this.offset };
  }

  /** The users typing in the room now (their notices are younger than `typingTimeoutMs`). */
  get typers(): Member[] {
    return this.typerList();
  }

  /**
   * Joins the room: resolves with the join's result once the server answered (at once if the room
   * is joined). While the client is not connected the join waits for the connection. Rejects when
   * the server refuses it (e.g. `forbidden`, `too_many_rooms`), on `timeout`, when the client is
   * closed, or when {@link leave} comes first. Add listeners before joining: events may follow the
   * join's reply at once.
   */
  join(options: JoinOptions = {}): Promise<JoinResult> {
    if (this._state === 'joined') {
      return Promise.resolve({ roomId: this.id, memberCount: this.memberCount, epoch: this.epoch ?? '',
        offset: this.offset, messages: [] });
    }
    if (this.pendingJoin) return this.pendingJoin.promise;
    if (this.host._closed) {
      return Promise.reject(new ChatError(LocalErrorCode.Closed, 'The client is closed', 'join'));
    }
    const taken = this.host._track(this);
    if (taken) return Promise.reject(taken);
    this.opts = { history: Math.max(0, Math.floor(options.history ?? 0)), name: options.name || undefined };
    this.resetStream();
    if (options.since) {
      this.epoch = str(options.since.epoch);
      this.offset = Math.max(0, Math.floor(num(options.since.offset)));
    }
    this.firstJoin = true;
    this.retries = 0;
    let resolve!: (r: JoinResult) => void;
    let reject!: (e: ChatError) => void;
    const promise = new Promise<JoinResult>((res, rej) => { resolve = res; reject = rej; });
    this.pendingJoin = { promise, resolve, reject };
    if (this.host._connected) this.sendJoin();
    else this.setState('offline');
    return promise;
  }

  /**
   * Leaves the room: no more events come from it. Resolves once the server confirmed it (at once
   * when not connected: a closed connection leaves every room). A pending join rejects with `left`.
   */
  leave(): Promise<void> {
    const onServer = (this._state === 'joined' || this._state === 'joining') && this.session === this.host._session &&
      this.host._connected;
    if (this._state === 'left') return Promise.resolve();
    this.setState('left');
    this.settleJoin(undefined, new ChatError(LocalErrorCode.Left, `Left room ${this.id} before its join was answered`, 'join'));
    this.clearLocal();
    this.resetStream();
    this.host._forget(this);
    if (!onServer) return Promise.resolve();
    return this.host._request({ type: 'leave', roomId: this.id }).then(() => undefined, (err: ChatError) => {
      if (err.code === LocalErrorCode.Disconnected || err.code === LocalErrorCode.Closed || err.code === 'not_in_room') return;
      throw err;
    });
  }

  /**
   * Sends a message to the room. Resolves with its offset and timestamp once the server stored it.
   * Rejects at once, sending nothing, when the client is not connected (`disconnected`) or the
   * room is not joined (`not_joined`): nothing is queued. Cancels a pending typing notice.
   */
  publish(content: string): Promise<PublishResult> {
    const refused = this.refusal('publish');
    if (refused) return Promise.reject(refused);
    this.typingPending = false;
    clearTimer(this.typingTimer);
    this.typingTimer = undefined;
    const session = this.host._session;
    this.ownInFlight++;
    const done = () => {
      this.ownInFlight--;
      if (this.ownInFlight === 0 && this.holding) {
        this.holding = false;
        if (this._state === 'joined') this.flush();
      }
    };
    return this.host._request({ type: 'publish', roomId: this.id, content }).then((res) => {
      const offset = offsetOf(res);
      if (session === this.host._session && this._state === 'joined') this.ownAcked(offset);
      done();
      const out: PublishResult = { timestamp: str(res.timestamp) };
      if (offset) out.offset = offset;
      return out;
    }, (err: ChatError) => {
      done();
      throw err;
    });
  }

  /** A page of the room's stored messages, oldest first: the newest ones, or those below `before`. */
  history(options: HistoryOptions = {}): Promise<Message[]> {
    const refused = this.refusal('history');
    if (refused) return Promise.reject(refused);
    const req: Record<string, unknown> = { type: 'history', roomId: this.id };
    if (options.before !== undefined) req.before = options.before;
    if (options.limit !== undefined) req.limit = options.limit;
    return this.host._request(req).then((res) => (Array.isArray(res.messages) ? res.messages as Message[] : []));
  }

  /** The room's members, cluster-wide (the server may cut a long list: `truncated`). */
  presence(): Promise<PresenceResult> {
    const refused = this.refusal('presence');
    if (refused) return Promise.reject(refused);
    return this.host._request({ type: 'presence', roomId: this.id }).then((res) => {
      const out: PresenceResult = { roomId: this.id, memberCount: num(res.memberCount),
        members: Array.isArray(res.members) ? res.members as Member[] : [], truncated: res.truncated === true };
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
  typing(): boolean {
    if (!this.host._connected || this._state !== 'joined') return false;
    const t = now();
    const interval = this.host._typingIntervalMs;
    if (t - this.typingLast >= interval && !this.typingTimer) {
      this.typingLast = t;
      this.host._notify({ type: 'typing', roomId: this.id });
      return true;
    }
    this.typingPending = true;
    if (!this.typingTimer) {
      this.typingTimer = setTimer(() => {
        this.typingTimer = undefined;
        if (!this.typingPending || !this.host._connected || this._state !== 'joined') return;
        this.typingPending = false;
        this.typingLast = now();
        this.host._notify({ type: 'typing', roomId: this.id });
      }, this.typingLast + interval - t);
    }
    return true;
  }

  // ---- driven by the client -------------------------------------------------------------------

  /** @internal Whether the room should be (re-)joined when the client connects. */
  _wanted(): boolean {
    return this._state === 'offline';
  }

  /** @internal The client connected (hello answered): join again, with since when the room has a position. */
  _rejoin(): void {
    if (this._wanted()) this.sendJoin();
  }

  /** @internal The connection went away: the server forgot our membership. */
  _offline(): void {
    if (this._state === 'joined' || this._state === 'joining') this.setState('offline');
    this.clearLocal();
  }

  /** @internal The client stopped: closed by the application, or refused for good (`err`). */
  _closed(err?: ChatError): void {
    this._offline();
    this.settleJoin(undefined, err ?? new ChatError(LocalErrorCode.Closed, 'The client was closed', 'join'));
  }

  /** @internal A push for this room. */
  _push(m: Incoming): void {
    if (this._state === 'joining' && m.type === 'message' && this.session === this.host._session) {
      if (this.early.length < MAX_EARLY) this.early.push(m as unknown as Message);
      return;
    }
    if (this._state !== 'joined') return;
    switch (m.type) {
      case 'message':
        this.onMessage(m as unknown as Message);
        break;
      case 'joined':
      case 'left': {
        const ev: MemberEvent = { roomId: this.id, userId: str(m.userId), name: str(m.name), memberCount: num(m.memberCount) };
        this.count = ev.memberCount;
        if (m.type === 'left') this.stopTyper(ev.userId);
        this.emit(m.type, ev);
        break;
      }
      case 'typing':
        if (str(m.userId) && m.userId !== this.host._userId) this.startTyper(str(m.userId), str(m.name));
        break;
      case 'resync':
        this.resyncReason = str(m.reason) || 'resync';
        this.recover();
        break;
      default: // a push type added later: ignored
    }
  }

  // ---- joining --------------------------------------------------------------------------------

  private sendJoin(): void {
    clearTimer(this.retryTimer);
    this.retryTimer = undefined;
    const session = this.host._session;
    this.session = session;
    this.early = [];
    this.setState('joining');
    const since = this.position;
    const req: Record<string, unknown> = { type: 'join', roomId: this.id };
    if (this.opts.history) req.history = this.opts.history;
    if (this.opts.name) req.roomName = this.opts.name;
    if (since) req.since = since;
    this.host._request(req).then((res) => {
      if (session !== this.host._session || this._state !== 'joining') return;
      this.retries = 0;
      this.applyJoin(res, since);
    }, (err: ChatError) => {
      if (session !== this.host._session || this._state !== 'joining') return;
      this.joinFailed(err);
    });
  }

  private joinFailed(err: ChatError): void {
    const code = err.code;
    if (code === LocalErrorCode.Disconnected || code === LocalErrorCode.Closed) return; // re-joined on the next connection
    if (code === 'already_in_room' || code === LocalErrorCode.Timeout) {
      // The server may have us in the room after all (a join that timed out, then landed): leave,
      // then join again (requests are handled in order). A first join that timed out fails.
      this.host._notify({ type: 'leave', roomId: this.id });
      if (code === LocalErrorCode.Timeout && this.firstJoin) return this.fail(err);
      return this.retryJoin();
    }
    const firstRetry = (code === 'rate_limited' || code === 'busy') && this.retries < FIRST_JOIN_RETRIES;
    if (TRANSIENT.has(code) && (!this.firstJoin || firstRetry)) return this.retryJoin();
    this.fail(err);
  }

  private retryJoin(): void {
    const session = this.host._session;
    const delay = backoffDelay(this.retries++, RETRY);
    this.retryTimer = setTimer(() => {
      this.retryTimer = undefined;
      if (session === this.host._session && this._state === 'joining') this.sendJoin();
    }, delay);
  }

  private fail(err: ChatError): void {
    this.clearLocal();
    this.setState('failed', err);
    this.settleJoin(undefined, err);
  }

  // applyJoin takes a join reply: a plain join, a re-join with since, or an in-place recovery.
  private applyJoin(res: Incoming, since: Position | undefined): void {
    const epoch = str(res.epoch);
    const offset = num(res.offset);
    const msgs = Array.isArray(res.messages) ? (res.messages as Message[]) : [];
    this.count = num(res.memberCount);
    if (this._state !== 'joined') this.setState('joined');
    const result: JoinResult = { roomId: this.id, memberCount: this.memberCount, epoch, offset, messages: msgs };
    if (!since) {
      this.epoch = epoch;
      this.offset = offset;
      this.ownAhead.clear();
    } else {
      result.recovered = res.recovered === true;
      const sameLife = epoch === since.epoch || (since.epoch === '' && since.offset === 0);
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
          this.gap('incomplete', since, { epoch, offset }, []);
        } else {
          this.emit('recovered', { roomId: this.id, count, position: { epoch, offset: this.offset } });
        }
      } else {
        this.gap(sameLife ? 'trimmed' : 'epoch', since, { epoch, offset }, msgs);
      }
    }
    this.resyncReason = undefined;
    this.firstJoin = false;
    this.settleJoin(result);
    this.recovering = false;
    this.flush();
    const early = this.early;
    this.early = [];
    for (const m of early) if (this._state === 'joined') this.onMessage(m);
  }

  private gap(reason: GapReason, previous: Position, position: Position, messages: Message[]): void {
    if (previous.epoch && previous.epoch !== position.epoch) {
      this.retired.push(previous.epoch);
      if (this.retired.length > MAX_RETIRED) this.retired.shift();
    }
    this.epoch = position.epoch;
    this.offset = position.offset;
    this.ownAhead.clear();
    const ev: GapEvent = { roomId: this.id, reason, previous: { ...previous }, position: { ...position }, messages };
    if (this.resyncReason) ev.resync = this.resyncReason;
    this.emit('gap', ev);
  }

  private settleJoin(result?: JoinResult, err?: ChatError): void {
    const p = this.pendingJoin;
    if (!p) return;
    this.pendingJoin = undefined;
    if (err) p.reject(err);
    else if (result) p.resolve(result);
  }

  // recover re-joins the room in place with since: the server answers with what we missed (or
  // says it cannot), and pushes that come meanwhile wait in the buffer until then.
  private recover(): void {
    if (this.recovering || this._state !== 'joined' || !this.host._connected || this.epoch === null) return;
    this.recovering = true;
    const session = this.host._session;
    const since = { epoch: this.epoch, offset: this.offset };
    const req: Record<string, unknown> = { type: 'join', roomId: this.id, since };
    if (this.opts.history) req.history = this.opts.history;
    this.host._request(req).then((res) => {
      if (session !== this.host._session || this._state !== 'joined' || !this.recovering) return;
      this.retries = 0;
      this.applyJoin(res, since);
    }, (err: ChatError) => {
      if (session !== this.host._session || this._state !== 'joined' || !this.recovering) return;
      if (err.code === LocalErrorCode.Disconnected || err.code === LocalErrorCode.Closed) return;
      // Keep holding pushes and ask again: nothing is delivered across a hole meanwhile.
      const delay = backoffDelay(this.retries++, RETRY);
      clearTimer(this.retryTimer);
      this.retryTimer = setTimer(() => {
        this.retryTimer = undefined;
        if (session !== this.host._session || this._state !== 'joined') return;
        this.recovering = false;
        this.recover();
      }, delay);
    });
  }

  // ---- the message stream ---------------------------------------------------------------------

  private onMessage(m: Message): void {
    if (this.recovering || this.holding) this.hold(m);
    else this.deliver(m);
    this.stopTyper(str(m.userId));
  }

  // deliver takes one live message: in order, once; a hole or a new epoch starts a recovery.
  private deliver(m: Message): void {
    const o = offsetOf(m);
    if (!o) {
      this.emit('message', m); // not stored (no offset): delivered as it comes
      return;
    }
    const e = str(m.epoch) || this.epoch;
    if (e !== this.epoch) {
      if (e !== null && this.retired.includes(e)) return; // a stale push of an abandoned epoch
      if (this.epoch === '' && e !== null) {
        // Joined an empty room on a server that did not name its epoch (older chatd): the first
        // messages name it; our own offsets so far (publish results carry no epoch) are in it.
        this.epoch = e;
      } else {
        this.hold(m);
        this.recover();
        return;
      }
    }
    if (o <= this.offset) return; // a copy: keep the first
    if (o !== this.offset + 1) {
      this.hold(m);
      if (this.ownInFlight > 0) this.holding = true; // our own publishes may fill the hole
      else this.recover();
      return;
    }
    this.take(m, false);
    this.emit('message', m);
  }

  // take moves the position past m if it is the next one (or own and ahead); returns whether m
  // is news to emit (recovered messages are emitted here, live ones by the caller).
  private take(m: Message, emit: boolean): boolean {
    const o = offsetOf(m);
    if (!o) {
      if (emit) this.emit('message', m);
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
    if (emit) this.emit('message', m);
    return true;
  }

  private ownAcked(offset: number): void {
    if (!offset || offset <= this.offset) return;
    if (offset === this.offset + 1) {
      this.offset = offset;
      this.advanceOwn();
    } else if (this.ownAhead.size < MAX_OWN_AHEAD) {
      this.ownAhead.add(offset);
    }
  }

  private advanceOwn(): void {
    while (this.ownAhead.delete(this.offset + 1)) this.offset++;
    for (const o of this.ownAhead) if (o <= this.offset) this.ownAhead.delete(o);
  }

  private hold(m: Message): void {
    if (this.buffer.length >= MAX_BUFFERED) this.overflow = true;
    else this.buffer.push(m);
  }

  // flush delivers what was held, in order; a new hole holds the rest again.
  private flush(): void {
    const list = this.buffer;
    const over = this.overflow;
    this.buffer = [];
    this.overflow = false;
    for (const m of list) {
      if (this.recovering || this.holding) this.hold(m);
      else this.deliver(m);
    }
    if (over) this.recover(); // what did not fit is in the history: ask for it
  }

  private resetStream(): void {
    this.epoch = null;
    this.offset = 0;
    this.ownAhead.clear();
    this.retired = [];
  }

  // clearLocal forgets what only lives while joined on one connection.
  private clearLocal(): void {
    this.recovering = false;
    this.holding = false;
    this.buffer = [];
    this.overflow = false;
    this.resyncReason = undefined;
    clearTimer(this.retryTimer);
    this.retryTimer = undefined;
    clearTimer(this.typingTimer);
    this.typingTimer = undefined;
    this.typingPending = false;
    this.typingLast = -Infinity;
    for (const userId of [...this.typingUsers.keys()]) this.stopTyper(userId);
  }

  private refusal(request: string): ChatError | undefined {
    if (!this.host._connected) {
      return new ChatError(LocalErrorCode.Disconnected, `Not connected: ${request} was not sent`, request);
    }
    const joinedHere = this._state === 'joined' || (this._state === 'joining' && this.session === this.host._session);
    if (!joinedHere) {
      return new ChatError(LocalErrorCode.NotJoined, `Room ${this.id} is not joined (${this._state}): ${request} was not sent`, request);
    }
    return undefined;
  }

  // ---- typing of others -----------------------------------------------------------------------

  private startTyper(userId: string, name: string): void {
    const t = this.typingUsers.get(userId);
    if (t) clearTimer(t.timer);
    const timer = setTimer(() => this.stopTyper(userId), this.host._typingTimeoutMs);
    this.typingUsers.set(userId, { name, timer });
    this.emit('typing', { roomId: this.id, userId, name, typing: true, typers: this.typerList() });
  }

  private stopTyper(userId: string): void {
    const t = this.typingUsers.get(userId);
    if (!t) return;
    clearTimer(t.timer);
    this.typingUsers.delete(userId);
    this.emit('typing', { roomId: this.id, userId, name: t.name, typing: false, typers: this.typerList() });
  }

  private typerList(): Member[] {
    return [...this.typingUsers.entries()].map(([userId, t]) => ({ userId, name: t.name }));
  }

  private setState(state: RoomState, error?: ChatError): void {
    const previous = this._state;
    if (previous === state && !error) return;
    this._state = state;
    const ev: RoomStateEvent = { roomId: this.id, state, previous };
    if (error) ev.error = error;
    this.emit('state', ev);
  }
}
