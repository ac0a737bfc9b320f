import { ChatError, LocalErrorCode } from './errors.js';
import { decodeText, hostWebSocket } from './host.js';
import { SUBPROTOCOL } from './wire.js';

/**
 * What a transport reports to the client. `close` comes exactly once per transport, also when it
 * never opened; nothing comes after it.
 */
export interface TransportHandlers {
  /** The transport can carry messages now. */
  open(): void;
  /** One protocol v2 message (a JSON text) from the server. */
  message(text: string): void;
  /** The transport is gone: its close code (1006 when none was received) and reason. */
  close(code: number, reason: string): void;
}

/**
 * One connection to a chatd node that carries protocol v2 JSON messages both ways. The WebSocket
 * is one such carrier; another (e.g. HTTP streaming) can be plugged in with
 * {@link ClientOptions.transport}.
 */
export interface Transport {
  /** Which carrier this is, e.g. `websocket`: shown to applications in the state events. */
  readonly name: string;
  /** Sends one message; may throw when the transport is not open. */
  send(text: string): void;
  /** Closes the transport. The client forgets it at once: its later events are ignored. */
  close(code?: number, reason?: string): void;
}

/** Opens a transport to `url` that reports to `handlers`. */
export type TransportFactory = (url: string, handlers: TransportHandlers) => Transport;

/** The part of a WebSocket (the browser's, Node 22's or the `ws` package's) this client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: the browser's `WebSocket`, or `WebSocket` from the `ws` package. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

const OPEN = 1;

/**
 * The WebSocket transport (subprotocol `chatd.v2`), on `impl` or else the host's global WebSocket.
 * Throws a {@link ChatError} `no_websocket` when there is neither (Node 20 has no global WebSocket).
 */
export function webSocketTransport(impl?: WebSocketConstructor): TransportFactory {
  const WS = impl ?? (hostWebSocket() as WebSocketConstructor | undefined);
  if (typeof WS !== 'function') {
    throw new ChatError(LocalErrorCode.NoWebSocket,
      'No WebSocket in this runtime: pass the WebSocket option (e.g. from the "ws" package) or import "@chatd/client/node"');
  }
  return (url, handlers) => {
    let done = false;
    const finish = (code: number, reason: string) => {
      if (done) return;
      done = true;
      handlers.close(code, reason);
    };
    let ws: WebSocketLike;
    try {
      ws = new WS(url, SUBPROTOCOL);
    } catch (err) {
      // A malformed URL, or a port the browser refuses: reported like a failed connection.
      const reason = err instanceof Error ? err.message : String(err);
      const t: Transport = { name: 'websocket', send() { throw new Error('not open'); }, close() {} };
      Promise.resolve().then(() => finish(1006, reason));
      return t;
    }
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => { if (!done) handlers.open(); };
    ws.onmessage = (ev) => { if (!done) handlers.message(decodeText(ev.data)); };
    // An error event is always followed by a close event, which does the work.
    ws.onerror = () => {};
    ws.onclose = (ev) => finish(typeof ev.code === 'number' ? ev.code : 1006, typeof ev.reason === 'string' ? ev.reason : '');
    return {
      name: 'websocket',
      send(text: string) {
        if (ws.readyState !== OPEN) throw new Error('WebSocket is not open');
        ws.send(text);
      },
      close(code = 1000, reason = '') {
        done = true; // the client has already forgotten this transport
        ws.onopen = ws.onmessage = ws.onclose = null;
        ws.onerror = () => {}; // ws (Node) throws on an error event without a listener
        try {
          ws.close(code, reason);
        } catch {
          try { ws.close(); } catch { /* already closed */ }
        }
      },
    };
  };
}
