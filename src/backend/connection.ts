// Owns one backend socket's lifecycle: connect (TCP or TLS), handshake, liveness, and reconnecting with backoff and jitter.
import net from 'node:net';
import tls from 'node:tls';
import { hostPort } from '../address.ts';
import type { BackendTarget } from '../config.ts';
import { opensslReason } from '../tls-files.ts';
import { backendTlsOptions } from './tls-options.ts';

export interface ConnectionHandlers {
  /** Bytes read from Redis. */
  onData(chunk: Buffer): void;
  /**
   * The socket is open: send the handshake (AUTH, SELECT, …) with `write` and resolve once Redis
   * accepted it; a rejection names why the connection cannot be used.
   */
  handshake(write: (text: string) => void): Promise<void>;
  /** The handshake succeeded: commands may be written. */
  onReady(): void;
  /**
   * The socket closed or an attempt failed, for `reason`. `wasReady` tells a lost working connection
   * (retried at once) from a failed attempt (retried after a backoff).
   */
  onDown(reason: string, wasReady: boolean): void;
}

/** A host and port, without the login, database and TLS settings a BackendTarget adds. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

/** Where connections go when the backend's address can change (Redis Sentinel): asked before every attempt. */
export interface Locator {
  /** Names the backend while no address is known yet, e.g. `sentinel://mymaster`. */
  readonly name: string;
  /**
   * The address to connect to now. `again`: the previous attempt failed or its connection was lost, so
   * a remembered answer may be stale and must be asked for anew. Rejects with why none is known.
   */
  locate(again: boolean): Promise<Address>;
}

/** What follows a backend that moves (a Sentinel switch): connections, clients, pools of them. */
export interface Retargetable {
  /** The backend is now at `address`: what is connected elsewhere ends for `reason`, as a lost connection does, and goes there. */
  retarget(address: Address, reason: string): void;
}

export interface ConnectionOptions {
  /** The backend; with a `locator`, only its login, database and TLS settings: the locator gives host and port. */
  target: BackendTarget;
  locator?: Locator;
  /** Milliseconds a connect attempt (TCP, TLS and handshake) may take. */
  connectTimeoutMs: number;
  /** Connect again after a loss (shared connections); false for a client's own connection, whose state a new one would not have. */
  reconnect?: boolean;
  handlers: ConnectionHandlers;
}

/** Attempts after a failure back off exponentially from this … */
const MIN_RECONNECT_DELAY_MS = 50;
/** … up to this, so a restarted Redis is found within about a second. */
const MAX_RECONNECT_DELAY_MS = 1000;

/** Milliseconds before the `attempt`-th retry (1-based): exponential, with full jitter over its upper half. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MIN_RECONNECT_DELAY_MS * 2 ** (attempt - 1), MAX_RECONNECT_DELAY_MS);
  // Jitter, so that many proxies cut off from one Redis do not all come back in the same millisecond.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Whether `err` is TLS refusing the connection (a certificate not trusted or not for this host, an alert
 * from the server such as "certificate required"), as opposed to the network failing: such a reason is
 * prefixed so that who reads it looks at certificates, not at the network.
 */
function isTlsFailure(err: NodeJS.ErrnoException): boolean {
  if (err.syscall !== undefined) return false;
  const code = err.code ?? '';
  return code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || /CERT|SIGNATURE|ISSUER/.test(code);
}

/** OpenSSL's reason alone (an alert from the server comes with OpenSSL's codes and source lines); the one alert with a known cause says what to set. */
function tlsReason(err: Error): string {
  const reason = opensslReason(err);
  return reason.endsWith('alert certificate required')
    ? `${reason} (Redis asks for a client certificate: set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE)`
    : reason;
}

/**
 * A socket to the backing Redis that keeps itself connected until close(). A working connection that
 * is lost is retried at once (Redis's idle timeout, CLIENT KILL, a load balancer); a failed attempt
 * is retried after an exponential, jittered delay.
 */
export class BackendConnection implements Retargetable {
  readonly #options: ConnectionOptions;
  #socket: net.Socket | undefined;
  #ready = false;
  #closed = false;
  #failedAttempts = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  /** Where the next attempt goes (host and port replaced by what the locator or retarget() said). */
  #target: BackendTarget;
  /** False while a locator has not given an address yet. */
  #located: boolean;
  /** The next attempt follows a failure or a loss. */
  #again = false;

  constructor(options: ConnectionOptions) {
    this.#options = options;
    this.#target = options.target;
    this.#located = options.locator === undefined;
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** `host:port` of the backend this connects to, or the locator's name before it gave one. */
  get address(): string {
    return this.#located ? hostPort(this.#target.host, this.#target.port) : this.#options.locator!.name;
  }

  /**
   * The backend moved (a Sentinel switch): later attempts go to `address`, and a socket open or opening
   * elsewhere is ended for `reason`, as a lost connection is. An attempt waiting out its backoff goes now.
   */
  retarget(address: Address, reason: string): void {
    const moved = !this.#located || address.host !== this.#target.host || address.port !== this.#target.port;
    this.#target = { ...this.#target, host: address.host, port: address.port };
    this.#located = true;
    if (!moved || this.#closed) return;
    if (this.#socket !== undefined) this.#socket.destroy(new Error(reason));
    else if (this.#retryTimer !== undefined) {
      clearTimeout(this.#retryTimer);
      this.#connect();
    }
  }

  /** Starts the first attempt. */
  start(): void {
    this.#connect();
  }

  /** Writes to the socket; only while ready (the handshake writes through its own `write`). */
  write(text: string): void {
    if (this.#ready) this.#socket!.write(text, 'latin1');
  }

  /** Ends this socket for `reason` (e.g. no reply in time); a new attempt follows. */
  destroy(reason: string): void {
    this.#socket?.destroy(new Error(reason));
  }

  /** Stops reconnecting; ends the socket after what was written, and resolves once it is closed. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    const s = this.#socket;
    if (!s || s.destroyed) return;
    const gone = new Promise((resolve) => s.once('close', resolve));
    s.end();
    const force = setTimeout(() => s.destroy(), 1000);
    await gone;
    clearTimeout(force);
  }

  #connect(): void {
    this.#retryTimer = undefined;
    const locator = this.#options.locator;
    if (locator === undefined) return this.#open();
    // Asked every time: after a loss the backend may have moved without this connection hearing of it.
    locator.locate(this.#again).then(
      (address) => {
        if (this.#closed) return;
        this.#target = { ...this.#target, host: address.host, port: address.port };
        this.#located = true;
        this.#open();
      },
      (err: Error) => {
        if (!this.#closed) this.#down(err.message, false);
      },
    );
  }

  #open(): void {
    const { connectTimeoutMs, handlers } = this.#options;
    const target = this.#target;
    let s: net.Socket;
    try {
      s = target.tls ? tls.connect(backendTlsOptions(target)) : net.connect({ host: target.host, port: target.port });
    } catch (err) {
      // A certificate file gone or broken since start: this attempt fails like a refused connect, and is retried.
      s = new net.Socket();
      queueMicrotask(() => s.destroy(err as Error));
    }
    this.#socket = s;
    s.setNoDelay(true);
    s.setKeepAlive(true, 60_000);
    let failure = '';
    const connectTimer = setTimeout(() => s.destroy(new Error(`connect timed out after ${connectTimeoutMs} ms`)), connectTimeoutMs);
    s.once(target.tls ? 'secureConnect' : 'connect', () => {
      handlers
        .handshake((text) => s.write(text, 'latin1'))
        .then(
          () => {
            clearTimeout(connectTimer);
            if (s !== this.#socket || s.destroyed) return;
            this.#ready = true;
            this.#failedAttempts = 0;
            handlers.onReady();
          },
          (err: Error) => s.destroy(err),
        );
    });
    s.on('data', (chunk: Buffer) => handlers.onData(chunk));
    s.on('error', (err: Error) => {
      failure ||= isTlsFailure(err) ? `TLS: ${tlsReason(err)}` : err.message;
    });
    s.once('close', () => {
      clearTimeout(connectTimer);
      if (s !== this.#socket) return;
      const wasReady = this.#ready;
      this.#ready = false;
      this.#socket = undefined;
      if (this.#closed) return;
      this.#down(failure || 'connection closed by the server', wasReady);
    });
  }

  /** An attempt failed, or a working connection was lost: report it, and try again unless told not to. */
  #down(reason: string, wasReady: boolean): void {
    this.#options.handlers.onDown(reason, wasReady);
    if (this.#closed || this.#options.reconnect === false) return;
    this.#again = true;
    const delay = wasReady ? 0 : reconnectDelay(++this.#failedAttempts);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }
}
