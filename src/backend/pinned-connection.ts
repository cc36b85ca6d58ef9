// Owns a backend connection of one client's own (a transaction, a blocking command, Pub/Sub, MONITOR): replies in order, or a stream.
import type { BackendTarget } from '../config.ts';
import { withResolvers } from '../deferred.ts';
import { BackendUnavailableError } from '../errors.ts';
import { encodeCommand } from '../resp/command-encoder.ts';
import type { ProtocolVersion } from '../resp/reply.ts';
import { ReplyReader } from '../resp/reply-reader.ts';
import { type Address, BackendConnection, type Locator, type Retargetable } from './connection.ts';

/** The name the proxy's own-client connections have in Redis's CLIENT LIST. */
export const PINNED_CONNECTION_NAME = 'redis-cache-proxy-session';
/** A connection kept ready for a client's first session (pinned-pool.ts) is named so until one takes it. */
export const SPARE_CONNECTION_NAME = 'redis-cache-proxy-spare';

export interface PinnedOptions {
  target: BackendTarget;
  /** Where the backend is when its address can change (Sentinel). */
  locator?: Locator;
  protocol: ProtocolVersion;
  /** The database to select at connect. */
  db: number;
  /** Milliseconds the connect and login may take. */
  connectTimeoutMs: number;
  /** Its name in Redis's CLIENT LIST; PINNED_CONNECTION_NAME unless said. */
  name?: string;
}

interface Waiter {
  resolve(frame: Buffer): void;
  reject(err: Error): void;
}

/**
 * One socket, never reconnected: what a session set up on it (MULTI, WATCH, subscriptions, a
 * blocked pop) would not exist on a new one. Replies go to commands in order; once streaming
 * (subscribed, MONITOR), frames that answer no command go to the stream, and RESP3 pushes always do.
 */
export class PinnedConnection implements Retargetable {
  readonly protocol: ProtocolVersion;
  /** Resolves once connected and logged in; rejects with why not. */
  readonly ready: Promise<void>;
  /** The database the connection has selected, as far as commands written go. */
  db: number;
  /** Redis's id for this connection (CLIENT ID, asked in the handshake), for CLIENT UNBLOCK; 0 until ready. */
  redisId = 0;
  readonly #connection: BackendConnection;
  readonly #reader = new ReplyReader();
  readonly #waiters: Waiter[] = [];
  #waitersHead = 0;
  #stream: ((frame: Buffer) => void) | undefined;
  #closed = false;
  /** Called once when the connection goes without close() (Redis closed it, or it failed). */
  onClosed: (reason: string) => void = () => {};
  readonly #gone: (() => void)[] = [];
  /** Fails `ready` when the connection is closed before it opened (a no-op once it has). */
  readonly #notOpened: (err: Error) => void;

  constructor({ target, locator, protocol, db, connectTimeoutMs, name }: PinnedOptions) {
    this.protocol = protocol;
    this.db = db;
    const opened = withResolvers<void>();
    this.ready = opened.promise;
    this.#notOpened = opened.reject;
    // A session that fails to open is reported through `ready`; nobody need listen to it twice.
    this.ready.catch(() => {});
    this.#connection = new BackendConnection({
      target,
      locator,
      connectTimeoutMs,
      reconnect: false,
      handlers: {
        onData: (chunk) => this.#onData(chunk),
        handshake: (write) => {
          const login = target.password === undefined ? [] : target.username ? [target.username, target.password] : [target.password];
          const steps = [
            ...(login.length ? [['AUTH', ...login]] : []),
            ...(protocol === 3 ? [['HELLO', '3']] : []),
            ...(db !== 0 ? [['SELECT', String(db)]] : []),
            ['CLIENT', 'SETNAME', name ?? PINNED_CONNECTION_NAME],
            // Last, so its reply is the last frame: CLIENT UNBLOCK of a client of the proxy needs it.
            ['CLIENT', 'ID'],
          ];
          const replies = steps.map(() => this.#expect());
          write(steps.map((args) => encodeCommand(args.map((a) => Buffer.from(a)))).join(''));
          return Promise.all(replies).then((frames) => {
            // A user not allowed CLIENT ID still gets its sessions; only CLIENT UNBLOCK of it answers 0.
            const id = frames.pop()!;
            const refused = frames.find((f) => f[0] === 0x2d /* - */);
            if (refused) throw new Error(`login refused: ${refused.latin1Slice(1, refused.length - 2)}`);
            this.redisId = id[0] === 0x3a /* : */ ? Number(id.latin1Slice(1, id.length - 2)) : 0;
          });
        },
        onReady: () => opened.resolve(),
        onDown: (reason, wasReady) => {
          const error = new BackendUnavailableError(`backend Redis at ${this.#address} is unavailable (${reason})`);
          if (!wasReady) opened.reject(error);
          this.#failWaiters(error);
          if (!this.#closed) {
            this.#closed = true;
            for (const fn of this.#gone.splice(0)) fn();
            this.onClosed(reason);
          }
        },
      },
    });
    this.#connection.start();
  }

  /** `host:port` of the Redis this connection is to (a cluster's node, for CLIENT UNBLOCK). */
  get address(): string {
    return this.#address;
  }

  /** Writes `frame`; its reply (exact bytes, errors included) resolves the promise. Call after `ready`. */
  send(frame: string): Promise<Buffer> {
    const reply = this.#expect();
    this.#connection.write(frame);
    return reply;
  }

  /** Writes `frame` expecting no matched reply: in stream mode its answer arrives through the stream. */
  write(frame: string): void {
    this.#connection.write(frame);
  }

  /** From now on, frames that answer no command (and every RESP3 push) go to `onFrame`. */
  streamTo(onFrame: ((frame: Buffer) => void) | undefined): void {
    this.#stream = onFrame;
  }

  /** `host:port` of the Redis this connects to: with Sentinel, where the master was when it connected. */
  get #address(): string {
    return this.#connection.address;
  }

  /**
   * The backend moved (a Sentinel switch): a connection to elsewhere ends for `reason`, as when Redis
   * closes it, since what its session set up (MULTI, WATCH, subscriptions) is not on the new backend.
   */
  retarget(address: Address, reason: string): void {
    this.#connection.retarget(address, reason);
  }

  /** Commands written whose reply has not come. */
  get awaiting(): number {
    return this.#waiters.length - this.#waitersHead;
  }

  /** Connected and logged in: a command written now leaves at once. */
  get connected(): boolean {
    return !this.#closed && this.#connection.ready;
  }

  get open(): boolean {
    return !this.#closed;
  }

  /** Calls `fn` once the connection is gone, whichever way it went. */
  onGone(fn: () => void): void {
    if (this.#closed) fn();
    else this.#gone.push(fn);
  }

  /** Closes at once: a blocked command must not later consume data that nobody will receive. */
  close(reason = 'the session was closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fn of this.#gone.splice(0)) fn();
    const error = new BackendUnavailableError(reason);
    // Closed while still connecting: the commands waiting for it to open must fail, not wait forever
    // (a closed connection reports nothing more, so `ready` would never settle otherwise).
    this.#notOpened(error);
    this.#failWaiters(error);
    this.#connection.destroy('session closed');
    void this.#connection.close();
  }

  #expect(): Promise<Buffer> {
    const { promise, resolve, reject } = withResolvers<Buffer>();
    this.#waiters.push({ resolve, reject });
    return promise;
  }

  #onData(chunk: Buffer): void {
    this.#reader.push(chunk);
    let frame: Buffer | null;
    try {
      frame = this.#reader.next();
    } catch (err) {
      this.#connection.destroy(`unreadable reply from Redis: ${(err as Error).message}`);
      return;
    }
    while (frame !== null) {
      this.#deliver(frame);
      try {
        frame = this.#reader.next();
      } catch (err) {
        this.#connection.destroy(`unreadable reply from Redis: ${(err as Error).message}`);
        return;
      }
    }
  }

  #deliver(frame: Buffer): void {
    // A push is never a reply (RESP3), and in stream mode replies come only after what was awaited.
    if ((frame[0] === 0x3e /* > */ || this.awaiting === 0) && this.#stream) {
      this.#stream(frame);
      return;
    }
    const waiter = this.#waiters[this.#waitersHead];
    if (waiter === undefined) {
      this.#connection.destroy('reply without a request: connection out of step');
      return;
    }
    this.#waiters[this.#waitersHead++] = undefined!;
    if (this.#waitersHead === this.#waiters.length) {
      this.#waiters.length = 0;
      this.#waitersHead = 0;
    }
    waiter.resolve(frame);
  }

  #failWaiters(error: Error): void {
    const waiters = this.#waiters.slice(this.#waitersHead);
    this.#waiters.length = 0;
    this.#waitersHead = 0;
    for (const w of waiters) w.reject(error);
  }
}
