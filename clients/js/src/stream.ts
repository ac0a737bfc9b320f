import { ChatError, LocalErrorCode } from './errors.js';
import {
  clearTimer, hostAbortController, hostFetch, nextTask, now, setTimer, utf8Decoder, type AbortLike, type FetchLike, type FetchResponse,
  type TimerHandle,
} from './host.js';
import type { Transport, TransportFactory, TransportHandlers } from './transport.js';

// Protocol v2 over HTTP streaming: the carrier for networks that break WebSockets (docs/protocol-v2.md
// §13 in the chatd repository). The server's messages come as Server-Sent Events on a long GET; the
// client's requests go as POSTs of numbered batches naming the session. The stream is read with fetch
// (browsers and Node 18+ alike; it sees keepalive comments and the close event, which EventSource
// does not give), the requests are sent with fetch too.

/** Requests in one POST at most (the server's default -stream-batch). */
const MAX_BATCH = 64;
/** Bytes of requests in one POST at most (the server takes 64 KiB bodies). */
const MAX_BODY = 60000;
/** A POST that failed (network, 503) is sent again after these delays, then the transport gives up. */
const RETRY_MS = [250, 500, 1000, 2000, 4000, 4000];

/**
 * The HTTP streaming URL of a chatd WebSocket URL: `ws://host/ws` → `http://host/stream`,
 * `wss://host/chat/ws` → `https://host/chat/stream`, `ws://host/` → `http://host/stream` (the query,
 * e.g. `?token=`, is kept).
 */
export function streamURL(wsURL: string): string {
  const m = /^(wss?):\/\/([^/?#]+)([^?#]*)(\?[^#]*)?/i.exec(wsURL);
  if (!m) return wsURL;
  const scheme = m[1]!.toLowerCase() === 'wss' ? 'https' : 'http';
  let path = m[3] || '/';
  if (/\/ws$/.test(path)) path = path.slice(0, -3) + '/stream';
  else path = path.replace(/\/?$/, '/stream');
  return `${scheme}://${m[2]}${path}${m[4] ?? ''}`;
}

/**
 * The HTTP streaming transport (name `http-stream`) for a chatd node's stream URL (see
 * {@link streamURL}), on `fetchImpl` or the runtime's `fetch`. Throws a {@link ChatError}
 * `no_transport` when there is no fetch.
 */
export function httpStreamTransport(fetchImpl?: FetchLike): TransportFactory {
  const f = fetchImpl ?? hostFetch();
  if (typeof f !== 'function') {
    throw new ChatError(LocalErrorCode.NoTransport, 'No fetch in this runtime: HTTP streaming needs it');
  }
  return (url, handlers) => new StreamConnection(f, url, handlers).transport;
}

/** One stream session: its GET, its POSTs, its heartbeat. */
class StreamConnection {
  readonly transport: Transport;
  private sid = '';
  private seq = 0;
  private lastID = 0;
  private heartbeatMs = 30000;
  private resumeMs = 0;
  private outbox: string[] = [];
  private posting = false;
  private done = false;
  private lastPost = 0;
  private heartbeat: TimerHandle | undefined;
  private abort: AbortLike | undefined;
  private readonly postURL: string;

  constructor(private readonly fetch: FetchLike, url: string, private readonly h: TransportHandlers) {
    this.postURL = url.replace(/\?.*$/, '');
    this.transport = {
      name: 'http-stream',
      send: (text) => this.send(text),
      close: () => this.close(),
    };
    void this.run(url, false);
  }

  // run reads one GET of the stream (the first, or a resume) to its end.
  private async run(url: string, resuming: boolean): Promise<void> {
    const ctl = hostAbortController();
    this.abort = ctl;
    let resp: FetchResponse;
    try {
      resp = await this.fetch(url, { method: 'GET', headers: { Accept: 'text/event-stream' }, cache: 'no-store', signal: ctl?.signal });
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
        const e = JSON.parse(await resp.text()) as { error?: { code?: string } };
        if (e.error?.code) reason = e.error.code;
      } catch { /* not JSON: the status says enough */ }
      this.finish(1006, resuming ? `resume refused: ${reason}` : reason);
      return;
    }
    const reader = resp.body.getReader();
    const decode = utf8Decoder();
    let buf = '';
    let ev: { id?: string; event?: string; data?: string } = {};
    let gotSession = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.done) break;
        buf += decode(value);
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, buf[nl - 1] === '\r' ? nl - 1 : nl);
          buf = buf.slice(nl + 1);
          if (line === '') {
            if (ev.event === 'session') gotSession = true;
            const delivered = this.dispatch(ev);
            ev = {};
            if (this.done) return;
            if (delivered && buf !== '') {
              // One message per task, as a WebSocket delivers them: what the last one settled (a
              // reply's promise) is seen before the next one's events. Else a member list answered
              // before a joined notice, both in one read, was applied after it and lost the joiner.
              await nextTask();
              if (this.done) return;
            }
            continue;
          }
          if (line.startsWith(':')) continue; // a keepalive comment
          const colon = line.indexOf(':');
          const name = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
          if (name === 'id' || name === 'event' || name === 'data') ev[name] = value;
        }
      }
    } catch (err) {
      if (this.done) return;
      void err; // a read failure is the end of this GET
    }
    if (this.done) return;
    // The GET ended without a close event: the connection dropped. Within the server's resume window
    // the same session continues on a new GET, from the last event received.
    if (gotSession && this.resumeMs > 0 && this.sid) {
      void this.run(`${this.postURL}?session=${encodeURIComponent(this.sid)}&lastEventId=${this.lastID}`, true);
      return;
    }
    this.finish(1006, 'the stream ended');
  }

  private dispatch(ev: { id?: string; event?: string; data?: string }): boolean {
    if (ev.event === 'session') {
      let info: { session?: unknown; heartbeat?: unknown; resumeWindow?: unknown; resumed?: unknown };
      try {
        info = JSON.parse(ev.data ?? '');
      } catch {
        this.finish(1006, 'bad session event');
        return false;
      }
      if (info.resumed === true) return false; // the same session, continued
      if (typeof info.session !== 'string' || !info.session) {
        this.finish(1006, 'bad session event');
        return false;
      }
      this.sid = info.session;
      if (typeof info.heartbeat === 'number' && info.heartbeat > 0) this.heartbeatMs = info.heartbeat;
      if (typeof info.resumeWindow === 'number') this.resumeMs = info.resumeWindow;
      this.lastPost = now();
      this.scheduleHeartbeat();
      this.h.open();
      return true;
    }
    if (ev.event === 'close') {
      let code = 1006;
      let reason = '';
      try {
        const c = JSON.parse(ev.data ?? '') as { code?: unknown; reason?: unknown };
        if (typeof c.code === 'number') code = c.code;
        if (typeof c.reason === 'string') reason = c.reason;
      } catch { /* a bad close event: still the end */ }
      this.finish(code, reason);
      return false;
    }
    if (ev.data === undefined || ev.event) return false; // an event type of a later server: ignored
    if (ev.id) this.lastID = Number(ev.id) || this.lastID;
    this.h.message(ev.data);
    return true;
  }

  private send(text: string): void {
    if (this.done || !this.sid) throw new Error('the stream is not open');
    this.outbox.push(text);
    this.pump();
  }

  // pump sends the next POST when none is on its way: what queued meanwhile goes in one batch.
  private pump(heartbeat = false): void {
    if (this.posting || this.done || (!heartbeat && this.outbox.length === 0)) return;
    const batch: string[] = [];
    let bytes = 0;
    while (this.outbox.length > 0 && batch.length < MAX_BATCH && (batch.length === 0 || bytes + this.outbox[0]!.length <= MAX_BODY)) {
      const t = this.outbox.shift()!;
      bytes += t.length;
      batch.push(t);
    }
    const body = `{"session":${JSON.stringify(this.sid)},"seq":${this.seq + 1},"requests":[${batch.join(',')}]}`;
    this.posting = true;
    this.lastPost = now();
    void this.post(body, 0);
  }

  // post sends one batch until the server took it (or the transport ends).
  private async post(body: string, attempt: number): Promise<void> {
    let status = 0;
    let code = '';
    try {
      // text/plain keeps a cross-origin POST "simple": no preflight.
      const resp = await this.fetch(this.postURL, { method: 'POST', headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body, cache: 'no-store', keepalive: body.length < 60000 });
      status = resp.status;
      if (status !== 200) {
        try {
          code = (JSON.parse(await resp.text()) as { error?: { code?: string } }).error?.code ?? '';
        } catch { /* not JSON */ }
      } else {
        await resp.text().catch(() => '');
      }
    } catch {
      status = 0; // the network: not known whether the server took it; the same seq again is safe
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
      setTimer(() => void this.post(body, attempt + 1), RETRY_MS[attempt]!);
      return;
    }
    this.posting = false;
    this.finish(1006, `requests not delivered: ${code || (status ? `HTTP ${status}` : 'network error')}`);
  }

  // The server closes a session whose client POSTed nothing for its idle timeout: an empty POST
  // every heartbeat interval (unless a real one went) keeps it.
  private scheduleHeartbeat(): void {
    clearTimer(this.heartbeat);
    if (this.done) return;
    const due = this.lastPost + this.heartbeatMs - now();
    this.heartbeat = setTimer(() => {
      if (this.done) return;
      if (now() - this.lastPost >= this.heartbeatMs) this.pump(true);
      this.scheduleHeartbeat();
    }, Math.max(due, 1000));
  }

  // close ends the session from the client's side: a last POST says so (close: true), so that the
  // server does not keep it for a resume.
  private close(): void {
    if (this.done) return;
    this.done = true;
    clearTimer(this.heartbeat);
    this.abort?.abort();
    if (this.sid && !this.posting) {
      // Best effort, once: without it the session waits out its resume window.
      const body = `{"session":${JSON.stringify(this.sid)},"seq":${this.seq + 1},"requests":[],"close":true}`;
      this.fetch(this.postURL, { method: 'POST', headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body, keepalive: true })
        .then((r) => r.text(), () => '').catch(() => '');
    }
  }

  private finish(code: number, reason: string): void {
    if (this.done) return;
    this.done = true;
    clearTimer(this.heartbeat);
    this.abort?.abort();
    this.h.close(code, reason);
  }
}
