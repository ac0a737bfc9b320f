// What the client uses of its host (a browser or Node), typed here without the DOM or Node type
// libraries, so that the package's declarations compile in either kind of project. Looked up at
// each call, not cached, so that a test's fake timers apply.

/** @internal */
export type TimerHandle = unknown;

interface Host {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  WebSocket?: unknown;
  TextDecoder?: new () => { decode(data?: unknown, options?: { stream?: boolean }): string };
  fetch?: unknown;
  AbortController?: new () => AbortLike;
  TextEncoder?: new () => { encode(text: string): { length: number } };
  atob?: (data: string) => string;
  addEventListener?: (type: string, fn: () => void) => void;
  removeEventListener?: (type: string, fn: () => void) => void;
  setImmediate?: (fn: () => void) => unknown;
  MessageChannel?: new () => {
    port1: { onmessage: (() => void) | null; close(): void };
    port2: { postMessage(data: unknown): void };
  };
}

const host = globalThis as unknown as Host;

/** @internal */
export function setTimer(fn: () => void, ms: number): TimerHandle {
  return host.setTimeout(fn, Math.max(0, ms));
}

/** @internal */
export function clearTimer(handle: TimerHandle | undefined): void {
  if (handle !== undefined) host.clearTimeout(handle);
}

/**
 * @internal Resolves in a later task of the host's event loop, not in a microtask: the promise
 * callbacks queued meanwhile all run first, as between two messages of a WebSocket (each its own
 * task). setImmediate in Node, a MessageChannel in browsers (no timer clamping), else a timer.
 */
export function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof host.setImmediate === 'function') {
      host.setImmediate(resolve);
    } else if (typeof host.MessageChannel === 'function') {
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

/** @internal Milliseconds since the epoch. */
export function now(): number {
  return Date.now();
}

/** @internal The host's WebSocket constructor, if it has one (browsers; Node 22+). */
export function hostWebSocket(): unknown {
  return host.WebSocket;
}

/** @internal Text of a binary frame (the server sends text; this is for safety). */
export function decodeText(data: unknown): string {
  if (typeof data === 'string') return data;
  if (host.TextDecoder) return new host.TextDecoder().decode(data);
  return String(data);
}

/** @internal The UTF-8 length of a string, in bytes. */
export function byteLength(text: string): number {
  if (host.TextEncoder) return new host.TextEncoder().encode(text).length;
  return text.length * 3; // an upper bound
}

/** @internal Decodes base64 (atob exists in browsers and Node 16+). */
export function base64Decode(data: string): string | undefined {
  try {
    return host.atob ? host.atob(data) : undefined;
  } catch {
    return undefined;
  }
}

/** @internal Listens to a window event (`online`), in a browser; returns the undo. */
export function onWindowEvent(type: string, fn: () => void): () => void {
  if (typeof host.addEventListener !== 'function' || typeof host.removeEventListener !== 'function') {
    return () => {};
  }
  host.addEventListener(type, fn);
  return () => host.removeEventListener?.(type, fn);
}

/** @internal An AbortController, as far as this client uses one. */
export interface AbortLike {
  readonly signal: unknown;
  abort(): void;
}

/** The response of a {@link FetchLike}, as far as the HTTP streaming transport reads one. */
export interface FetchResponse {
  readonly status: number;
  readonly body: { getReader(): { read(): Promise<{ done: boolean; value?: unknown }> } } | null;
  text(): Promise<string>;
}

/**
 * The part of `fetch` (browsers, Node 18+) the HTTP streaming transport uses: pass your own as
 * {@link ClientOptions.fetch} (in a test, say).
 */
export type FetchLike = (url: string, init: {
  method: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: unknown;
  cache?: string;
  keepalive?: boolean;
}) => Promise<FetchResponse>;

/** @internal The host's fetch, bound to it, if it has one. */
export function hostFetch(): FetchLike | undefined {
  const f = host.fetch;
  return typeof f === 'function' ? (f.bind(globalThis) as FetchLike) : undefined;
}

/** @internal A new AbortController, if the host has them. */
export function hostAbortController(): AbortLike | undefined {
  return typeof host.AbortController === 'function' ? new host.AbortController() : undefined;
}

/** @internal Decodes UTF-8 chunks of a stream (a character may span two chunks). */
export function utf8Decoder(): (chunk: unknown) => string {
  if (!host.TextDecoder) return (chunk) => String(chunk);
  const d = new host.TextDecoder();
  return (chunk) => d.decode(chunk, { stream: true });
}
