// What the client uses of its host (a browser or Node), typed here without the DOM or Node type
// libraries, so that the package's declarations compile in either kind of project. Looked up at
// each call, not cached, so that a test's fake timers apply.

/** @internal */
export type TimerHandle = unknown;

interface Host {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  WebSocket?: unknown;
  TextDecoder?: new () => { decode(data: unknown): string };
  TextEncoder?: new () => { encode(text: string): { length: number } };
  atob?: (data: string) => string;
  addEventListener?: (type: string, fn: () => void) => void;
  removeEventListener?: (type: string, fn: () => void) => void;
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
