/**
 * chatd's TypeScript client: protocol v2 (rooms, history with recovery, presence, typing, tokens)
 * for browsers and Node 20+. Start with {@link connect}.
 *
 * @packageDocumentation
 */
export { connect, ChatClient } from './client.js';
export type { ClientOptions, ClientEvents, ConnectionState, StateEvent, ListRoomsOptions } from './client.js';
export { Room } from './room.js';
export type {
  RoomState, RoomEvents, RoomStateEvent, MemberEvent, TypingEvent, RecoveredEvent, GapEvent, GapReason,
  JoinOptions, HistoryOptions,
} from './room.js';
export { ChatError, LocalErrorCode } from './errors.js';
export { webSocketTransport } from './transport.js';
export { httpStreamTransport, streamURL } from './stream.js';
export type { FetchLike, FetchResponse } from './host.js';
export type { Transport, TransportFactory, TransportHandlers, WebSocketLike, WebSocketConstructor } from './transport.js';
export type { ReconnectOptions } from './backoff.js';
export { SUBPROTOCOL } from './wire.js';
export type {
  Message, Member, Position, HelloResult, JoinResult, PublishResult, PresenceResult, RoomInfo, RoomPage,
} from './wire.js';
export type { Listener } from './emitter.js';
