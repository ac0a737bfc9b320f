// The shapes of chatd's protocol v2 as this client sees them (the repository's README, "Protocol v2
// (chatd's own)"). Only what the server sends back is exported: requests are built inside the client.

/** The WebSocket subprotocol that selects protocol v2. */
export const SUBPROTOCOL = 'chatd.v2';

/** A place in a room's history: an epoch (one life of the room's history) and an offset in it. */
export interface Position {
  /** Opaque name of one life of the room's history; a new epoch restarts the offsets at 1. */
  epoch: string;
  /** The newest offset seen (0: none yet). */
  offset: number;
}

/** A chat message: a live `message` push, or an entry of a join, history or gap result. */
export interface Message {
  type: 'message';
  roomId: string;
  /**
   * Its place in the room's history: 1, 2, 3, … with no hole within `epoch`. Absent for a message the
   * server did not store (e.g. one relayed from a reference-app node).
   */
  offset?: number;
  /** The history's epoch the offset belongs to. */
  epoch?: string;
  content: string;
  userId: string;
  name: string;
  /** ISO 8601 UTC with milliseconds, e.g. `2026-01-02T03:04:05.678Z`. */
  timestamp: string;
}

/** A user in a room. Member counts and presence count users, not connections. */
export interface Member {
  userId: string;
  name: string;
}

/** Who the server says this connection is (the `ok` of `hello`). */
export interface HelloResult {
  userId: string;
  name: string;
  /** The id of the chatd node this connection is on. */
  node: string;
}

/** The result of a join. */
export interface JoinResult {
  roomId: string;
  memberCount: number;
  /** The epoch the room's messages carry, also for a room with no message yet. */
  epoch: string;
  /** The newest offset (0 for a room with no stored message). Live messages continue at offset + 1. */
  offset: number;
  /**
   * Oldest first: the newest `history` messages of a plain join, or, of a join with `since` that
   * recovered, exactly the messages missed (also delivered as `message` events).
   */
  messages: Message[];
  /** Only for a join with `since`: whether `messages` are exactly the ones missed. */
  recovered?: boolean;
}

/** The result of a publish. */
export interface PublishResult {
  /** The message's offset in the room's history (absent if the server keeps no history). */
  offset?: number;
  /** The time the server gave the message (ISO 8601 UTC, milliseconds). */
  timestamp: string;
}

/** The result of a presence request: the room's members, cluster-wide. */
export interface PresenceResult {
  roomId: string;
  memberCount: number;
  members: Member[];
  /** True when the server cut the list (more members than it sends at once). */
  truncated: boolean;
}

/** One room of the server's room list. */
export interface RoomInfo {
  roomId: string;
  name: string;
  memberCount: number;
  createdAt: string;
}

/** One page of the server's room list, by room id. */
export interface RoomPage {
  rooms: RoomInfo[];
  /** The `after` of the next page; absent on the last page. */
  next?: string;
}

/** @internal A reply or push as it comes off the wire. */
export interface Incoming {
  type?: unknown;
  id?: unknown;
  roomId?: unknown;
  code?: unknown;
  message?: unknown;
  [field: string]: unknown;
}
