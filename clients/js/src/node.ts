/**
 * The client for Node 20+ with the `ws` package (an optional peer dependency: `npm install ws`)
 * as its WebSocket. Everything of the main entry, with `connect` and `ChatClient` defaulting their
 * `WebSocket` option to `ws`.
 *
 * @packageDocumentation
 */
import WebSocket from 'ws';
import { ChatClient, type ClientOptions } from './client.js';
import type { WebSocketConstructor } from './transport.js';

export * from './index.js';

/** Connects with `options` at once, on the `ws` package's WebSocket unless `options.WebSocket` is given. */
export function connect(options: ClientOptions): ChatClient {
  return new ChatClient({ WebSocket: WebSocket as unknown as WebSocketConstructor, ...options }).connect();
}
