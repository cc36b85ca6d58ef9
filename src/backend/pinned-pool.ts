// Owns MAX_PINNED_CONNECTIONS: the clients' own backend connections, and the idle ones kept for their client's next session.
import type { BackendTarget } from '../config.ts';
import { CommandError } from '../errors.ts';
import type { ProtocolVersion } from '../resp/reply.ts';
import type { Address, Locator, Retargetable } from './connection.ts';
import { PINNED_CONNECTION_NAME, PinnedConnection, SPARE_CONNECTION_NAME } from './pinned-connection.ts';
import { encodeCommand } from '../resp/command-encoder.ts';

export interface PinnedPoolOptions {
  target: BackendTarget;
  /** Where the backend is when its address can change (Sentinel). */
  locator?: Locator;
  connectTimeoutMs: number;
  /** Most pinned connections open at once, in sessions or idle (MAX_PINNED_CONNECTIONS). */
  max: number;
}

/** An idle connection is kept this long for its client's next session (a worker looping on BRPOP reuses one). */
const IDLE_KEEP_MS = 30_000;

interface Parked {
  readonly connection: PinnedConnection;
  readonly since: number;
}

/**
 * A client whose session ended cleanly (EXEC, DISCARD, UNWATCH, a blocking command answered) keeps
 * its connection idle for its next session, so a worker looping on BRPOP or MULTI does not connect
 * each time. Idle connections belong to one client only, and give way when the limit is reached.
 */
export class PinnedPool implements Retargetable {
  readonly #options: PinnedPoolOptions;
  #open = 0;
  // Insertion order is idle order: the first is the longest idle.
  readonly #parked = new Map<object, Parked>();
  /** Every connection open, in sessions, idle or spare: a Sentinel switch must reach each one. */
  readonly #all = new Set<PinnedConnection>();
  /**
   * One connected connection per protocol and database (`2:0`), kept ready for the next client's first
   * session there (once a first session there was asked for). Without it that session's command waits
   * for a connect while commands other clients send meanwhile reach Redis first: a push right after a
   * client's first BLPOP would be served before the BLPOP blocked. Each selects its database in its
   * handshake, which fails whole if Redis refuses the SELECT (busy with a script), where a SELECT sent
   * before the session's first command could be refused while that command still ran in database 0.
   * Not counted in MAX_PINNED_CONNECTIONS; at most two per database the clients use.
   */
  readonly #spares = new Map<string, PinnedConnection>();
  #closed = false;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: PinnedPoolOptions) {
    this.#options = options;
    this.#sweeper = setInterval(() => this.#closeIdle(performance.now() - IDLE_KEEP_MS), IDLE_KEEP_MS / 4);
    this.#sweeper.unref();
  }

  /** Pinned connections open now (in sessions and idle). */
  get open(): number {
    return this.#open;
  }

  /** A connection for `owner`'s session: its idle one if it fits, else a new one; an error past the limit. */
  acquire(owner: object, protocol: ProtocolVersion, db: number): PinnedConnection | CommandError {
    const parked = this.#parked.get(owner);
    if (parked !== undefined) {
      this.#parked.delete(owner);
      if (parked.connection.open && parked.connection.protocol === protocol) return parked.connection;
      parked.connection.close();
    }
    if (this.#open >= this.#options.max) {
      const [idleOwner, idle] = this.#parked.entries().next().value ?? [];
      if (idle === undefined) {
        return new CommandError(
          `ERR too many clients in transactions, blocking commands or Pub/Sub at once (MAX_PINNED_CONNECTIONS is ${this.#options.max}); retry, or raise MAX_PINNED_CONNECTIONS`,
        );
      }
      this.#parked.delete(idleOwner!);
      idle.connection.close();
    }
    const connection = this.#takeSpare(protocol, db) ?? this.#connect(protocol, db);
    this.#open++;
    let counted = true;
    const uncount = () => {
      if (!counted) return;
      counted = false;
      this.#open--;
    };
    // Either way it goes, the slot is free again.
    connection.ready.catch(uncount);
    connection.onGone(uncount);
    return connection;
  }

  /** `owner`'s session is over: keep the connection for its next one when it is clean, else close it. */
  release(owner: object, connection: PinnedConnection, clean: boolean): void {
    if (!clean || !connection.open) {
      connection.close();
      return;
    }
    this.#parked.get(owner)?.connection.close();
    this.#parked.delete(owner);
    this.#parked.set(owner, { connection, since: performance.now() });
    connection.onClosed = () => {
      if (this.#parked.get(owner)?.connection === connection) this.#parked.delete(owner);
    };
  }

  /**
   * The backend moved (a Sentinel switch): every connection to elsewhere ends for `reason`, a session's
   * as a lost connection does (its client gets the error), an idle one quietly.
   */
  retarget(address: Address, reason: string): void {
    for (const connection of [...this.#all]) connection.retarget(address, reason);
  }

  /** `owner` disconnected: its idle connection goes too. */
  forget(owner: object): void {
    this.#parked.get(owner)?.connection.close();
    this.#parked.delete(owner);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#sweeper);
    for (const spare of this.#spares.values()) spare.close();
    this.#spares.clear();
    for (const { connection } of this.#parked.values()) connection.close();
    this.#parked.clear();
  }

  #connect(protocol: ProtocolVersion, db: number, name?: string): PinnedConnection {
    const { target, locator, connectTimeoutMs } = this.#options;
    const connection = new PinnedConnection({ target, locator, protocol, db, connectTimeoutMs, name });
    this.#all.add(connection);
    connection.onGone(() => this.#all.delete(connection));
    connection.ready.catch(() => this.#all.delete(connection));
    return connection;
  }

  /**
   * The spare of this protocol and database when it is connected; another is made in its place. The
   * first call for them only makes one, and so does a call after a spare failed (Redis down): one
   * attempt each time.
   */
  #takeSpare(protocol: ProtocolVersion, db: number): PinnedConnection | undefined {
    const key = `${protocol}:${db}`;
    const spare = this.#spares.get(key);
    const usable = spare?.connected === true ? spare : undefined;
    if (spare === undefined || usable !== undefined || !spare.open) {
      this.#spares.delete(key);
      if (!this.#closed) {
        const next = this.#connect(protocol, db, SPARE_CONNECTION_NAME);
        this.#spares.set(key, next);
        const drop = () => {
          if (this.#spares.get(key) === next) this.#spares.delete(key);
        };
        next.onGone(drop);
        next.ready.catch(drop);
      }
    }
    // Named as every session's connection from now on; the reply is the first it awaits, before the session's.
    if (usable !== undefined) void usable.send(encodeCommand(['CLIENT', 'SETNAME', PINNED_CONNECTION_NAME])).catch(() => {});
    return usable;
  }

  #closeIdle(before: number): void {
    for (const [owner, parked] of this.#parked) {
      if (parked.since > before) break;
      this.#parked.delete(owner);
      parked.connection.close();
    }
  }
}
