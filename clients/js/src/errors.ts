/**
 * Codes of errors the client raises itself; every other code is the server's (the README's error
 * code tables: `forbidden`, `not_in_room`, `rate_limited`, `unauthorized`, …).
 */
export const LocalErrorCode = {
  /** Not connected: the request was not sent (nothing is queued), or the connection closed before its reply. */
  Disconnected: 'disconnected',
  /** No reply within `requestTimeoutMs`. */
  Timeout: 'timeout',
  /** The client was closed by the application. */
  Closed: 'closed',
  /** The room is not joined (join it first, or wait for it to be re-joined). */
  NotJoined: 'not_joined',
  /** The room was left while its join was on its way. */
  Left: 'left',
  /** The request would be over the server's message size limit: not sent. */
  TooLarge: 'too_large',
  /** Too many requests waiting for their reply on this connection: not sent. */
  TooManyRequests: 'too_many_requests',
  /** No WebSocket implementation: pass `WebSocket` (e.g. from the `ws` package) or use `@chatd/client/node`. */
  NoWebSocket: 'no_websocket',
  /** Neither a WebSocket nor fetch (for HTTP streaming) in this runtime. */
  NoTransport: 'no_transport',
  /** `getToken` threw or returned something that is not a non-empty string. */
  TokenUnavailable: 'token_unavailable',
} as const;

/** An error of a request or of the connection: `code` is stable, `message` is for people. */
export class ChatError extends Error {
  /** A code of {@link LocalErrorCode} or one of the server's error codes. */
  readonly code: string;
  /** The type of the request that failed (`publish`, `join`, …), when there was one. */
  readonly request: string | undefined;

  constructor(code: string, message: string, request?: string) {
    super(message);
    this.name = 'ChatError';
    this.code = code;
    this.request = request;
  }
}

/** @internal A ChatError from a server `error` reply. */
export function serverError(m: { code?: unknown; message?: unknown }, request?: string): ChatError {
  const code = typeof m.code === 'string' && m.code ? m.code : 'error';
  const text = typeof m.message === 'string' && m.message ? m.message : code;
  return new ChatError(code, text, request);
}
