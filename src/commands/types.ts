// Owns the shapes shared by the command table, its handlers and the connection that calls them.
import type { Backends } from '../backend/backends.ts';
import type { ReadThrough } from '../cache/read-through.ts';
import type { Config } from '../config.ts';
import type { ProtocolVersion, Reply } from '../resp/reply.ts';
import type { PasswordCheck } from '../server/auth.ts';
import type { Stats } from '../stats.ts';
import type { WorkersView } from '../worker-figures.ts';
import type { WriteEffect } from './routing.ts';

/** What a command may read or change about the connection that sent it. */
export interface ClientState {
  readonly id: number;
  protocol: ProtocolVersion;
  /** The database selected with SELECT; 0 at first. */
  db: number;
  /** CLIENT SETNAME / HELLO SETNAME; '' when none. */
  name: string;
  libName: string;
  libVersion: string;
  /** `ip:port` of the client, and of the proxy's side of the connection. */
  readonly remoteAddress: string;
  readonly localAddress: string;
  /** Whole seconds on the process's monotonic clock (clock.ts). */
  readonly createdAt: number;
  lastActiveAt: number;
  /** Full name of the last command, e.g. `client|info`. */
  lastCommand: string;
  /** Received bytes not yet turned into a request, and reply bytes not yet sent (CLIENT LIST's qbuf, omem). */
  readonly inputBytes: number;
  readonly outputBytes: number;
  /** The session on the client's own backend connection, if one is open. */
  readonly session: SessionInfo | undefined;
  /** Set by QUIT: the connection closes once this command's reply is written. */
  closeAfterReply: boolean;
  /** CLIENT REPLY ON|OFF|SKIP, and RESET's end of OFF: which of the client's replies are written, from the command running now on. */
  replyMode(mode: 'on' | 'off' | 'skip' | 'reset'): void;
  /** False while a password is set and the client has not given it (AUTH, HELLO … AUTH); RESET clears it. */
  authenticated: boolean;
  /** CLIENT KILL from another client: closes the connection now, as Redis frees a client (what it is owed is dropped). */
  kill(): void;
}

/** A client's session as CLIENT LIST shows it. */
export interface SessionInfo {
  /** Commands queued in MULTI, or -1 outside one. */
  readonly multi: number;
  readonly channels: number;
  readonly patterns: number;
  readonly shardChannels: number;
  readonly blocked: boolean;
  readonly monitoring: boolean;
  /** While a blocking command is in flight: Redis's id of the backend connection it blocks (CLIENT UNBLOCK); else 0. */
  readonly blockedIn: number;
  /** `host:port` of the Redis that connection is to (which node of a cluster). */
  readonly blockedAt: string;
}

/** The proxy-wide parts a command may use. */
export interface ProxyContext {
  readonly readThrough: ReadThrough;
  readonly backends: Backends;
  /**
   * A write Redis acknowledged: drops from the cache what it may have changed, before its reply is
   * relayed; a promise when the reply must wait (for Redis's invalidations of a script's keys).
   */
  invalidate(effect: WriteEffect): void | Promise<void>;
  readonly stats: Stats;
  readonly config: Config;
  /** PROXY_PASSWORD's check; undefined when no password is set (any client is authenticated). */
  readonly password: PasswordCheck | undefined;
  /** Ports actually bound (differ from the config when it asked for 0). */
  /** 0: no such port (RESP_PORT=off, no TLS_PORT), as Redis's INFO shows tcp_port 0. */
  readonly ports: { resp: number; http: number; tls: number };
  clients(): Iterable<ClientState>;
  /** With WORKERS > 1: this worker's id and every worker's figures (INFO shows them); undefined in a proxy of one process. */
  readonly workers: WorkersView | undefined;
}

export interface CommandContext {
  readonly client: ClientState;
  readonly proxy: ProxyContext;
}

/** Handlers get the whole request (args[0] is the command name) and return a reply or a promise of one. */
export type Handler = (ctx: CommandContext, args: Buffer[]) => Reply | Promise<Reply>;

/** One argument, as COMMAND DOCS describes it. */
export interface ArgumentDoc {
  readonly name: string;
  readonly type: 'key' | 'string' | 'integer' | 'pure-token';
  readonly token?: string;
  readonly optional?: boolean;
  readonly multiple?: boolean;
}

export interface CommandSpec {
  /** Lower case; subcommands are `container|sub`, as Redis names them. */
  readonly name: string;
  /** Redis's convention: N means exactly N words (name included), -N at least N. */
  readonly arity: number;
  /** COMMAND INFO flags, e.g. readonly, fast, loading, stale. */
  readonly flags: readonly string[];
  readonly aclCategories: readonly string[];
  /** First key, last key (-1: the last argument) and step; 0, 0, 0 when there are no keys. */
  readonly keys: readonly [first: number, last: number, step: number];
  readonly summary: string;
  readonly since: string;
  readonly group: string;
  readonly complexity?: string;
  readonly arguments?: readonly ArgumentDoc[];
  /** Containers (CLIENT, COMMAND, CONFIG) have subcommands instead of a handler. */
  readonly handler?: Handler;
  readonly subcommands?: readonly CommandSpec[];
}
