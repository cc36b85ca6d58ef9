// Owns the Redis-protocol listeners (plain and TLS): accepts connections up to MAX_CLIENTS and tracks them for CLIENT LIST and shutdown.
import net, { type AddressInfo } from 'node:net';
import type { ClientState, ProxyContext } from '../commands/types.ts';
import type { TlsListenerConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { refusalLog } from '../log-rate-limit.ts';
import { RespConnection } from './connection.ts';
import { listen } from './listen.ts';
import { deniedByProtectedMode, PROTECTED_MODE_MESSAGE } from './protected-mode.ts';
import { adoptWithReusedReadBuffer } from './reused-read-buffer.ts';
import { createTlsListener } from './tls-listener.ts';

export interface RespFrontEnd {
  listen(host: string, port: number): Promise<AddressInfo>;
  /** Binds the TLS port (when TLS_PORT is set: options.tls). */
  listenTls(host: string, port: number): Promise<AddressInfo>;
  /** SIGHUP: the TLS port reads its certificate files again; false when there is no TLS port or the files cannot be used. */
  reloadTls(): boolean;
  clients(): Iterable<ClientState>;
  /** Stops accepting; each connection answers what it received and closes; after SHUTDOWN_TIMEOUT the rest are cut. */
  close(): Promise<void>;
}

export interface RespFrontEndOptions {
  proxy: ProxyContext;
  maxClients: number;
  queryBufferLimit: number;
  /** Milliseconds close() waits for connections to answer what they received (SHUTDOWN_TIMEOUT). */
  shutdownTimeoutMs: number;
  /** The TLS port's settings, when TLS_PORT is set. */
  tls?: TlsListenerConfig;
  log: Logger;
}

/** How long a refused connection stays open for its error line to be read. */
const REFUSED_LINGER_MS = 1000;

export function createRespFrontEnd({ proxy, maxClients, queryBufferLimit, shutdownTimeoutMs, tls, log }: RespFrontEndOptions): RespFrontEnd {
  // Tracked here, not through server.getConnections(): accepted sockets are handed over to new ones
  // (reused-read-buffer.ts), which the server does not count; and both listeners' clients are one
  // front end, for MAX_CLIENTS, CLIENT LIST and shutdown.
  const connections = new Map<net.Socket, RespConnection>();
  let allClosed: (() => void) | undefined;
  let nextId = 1;
  const refusals = refusalLog(log, 'RESP', maxClients);
  // Asked once: the level is fixed at start, and at info nothing is built per connection.
  const debug = log.isLevelEnabled('debug');
  const { protectedMode, password } = proxy.config;
  const protectedModeRefusal = `-${PROTECTED_MODE_MESSAGE}\r\n`;
  // With a password: the connections not logged in yet, oldest first. At MAX_CLIENTS the oldest of them
  // makes room for a newcomer, so clients that never log in cannot lock out those that do (AUTH_TIMEOUT
  // alone would let a flood hold every slot for that long).
  const waitingForAuth = new Set<net.Socket>();

  /** Answers one error line and closes, without a connection of its own. */
  function refuse(accepted: net.Socket, line: string): void {
    accepted.on('error', () => accepted.destroy());
    // Read and drop whatever it sent, so closing does not reset the connection before the error arrives.
    accepted.resume();
    accepted.end(line);
    // A client that keeps its side open must not keep the socket: close it soon after the error.
    setTimeout(() => accepted.destroy(), REFUSED_LINGER_MS).unref();
  }

  /**
   * Every client of either port comes through here: plain sockets just accepted (`adopt`: moved onto the
   * reused read buffer), TLS sockets once their handshake passed (read through 'data': a TLSSocket's
   * handle carries ciphertext, so it cannot be adopted).
   */
  function accept(accepted: net.Socket, adopt: boolean): void {
    if (connections.size >= maxClients) {
      proxy.stats.respRejected++;
      refusals.count();
      const oldest = waitingForAuth.values().next().value;
      if (oldest === undefined) {
        refuse(accepted, '-ERR max number of clients reached\r\n');
        return;
      }
      // Its slot is free from now on: the newcomer is admitted below. Its 'close' updates the counts.
      waitingForAuth.delete(oldest);
      connections.delete(oldest);
      oldest.end('-ERR max number of clients reached\r\n', () => oldest.destroy());
      setTimeout(() => oldest.destroy(), REFUSED_LINGER_MS).unref();
    }
    if (deniedByProtectedMode(protectedMode, password !== undefined, accepted.remoteAddress)) {
      proxy.stats.protectedModeDenied++;
      if (debug) log.debug(`RESP client from ${accepted.remoteAddress} refused: protected mode`, { event: 'protected_mode_denied', frontEnd: 'resp' });
      refuse(accepted, protectedModeRefusal);
      return;
    }
    // The first read can only come once this function returns, after the connection exists.
    const socket = adopt ? (adoptWithReusedReadBuffer(accepted, true, (bytes) => connection.receive(bytes, true)) ?? accepted.resume()) : accepted;
    const connection = new RespConnection({
      id: nextId++,
      socket,
      proxy,
      queryBufferLimit,
      log,
      onAuthenticated: (authenticated) => {
        // Deleted first: a client logged out by RESET waits again as the newest.
        waitingForAuth.delete(socket);
        if (!authenticated) waitingForAuth.add(socket);
      },
    });
    connections.set(socket, connection);
    proxy.stats.respConnectionsTotal++;
    proxy.stats.respClients++;
    const { id, remoteAddress: remote } = connection;
    if (debug) log.debug(`RESP client ${id} connected from ${remote}`, { event: 'client_connected', frontEnd: 'resp', id, remote, tls: !adopt });
    socket.once('close', () => {
      if (debug) log.debug(`RESP client ${id} disconnected`, { event: 'client_disconnected', frontEnd: 'resp', id });
      connections.delete(socket);
      waitingForAuth.delete(socket);
      proxy.stats.respClients--;
      if (connections.size === 0) allClosed?.();
    });
  }

  // allowHalfOpen: a client that sends its requests and then shuts its side down still gets its replies.
  // pauseOnConnect: nothing is read before the socket is moved onto the reused read buffer.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (accepted) => accept(accepted, true));
  const tlsListener = tls
    ? createTlsListener({ config: tls, onClient: (socket) => accept(socket, false), onHandshakeFailure: () => proxy.stats.tlsHandshakeFailures++, log })
    : undefined;

  return {
    listen: (host, port) => listen(server, host, port),
    listenTls(host, port) {
      if (!tlsListener) return Promise.reject(new Error('no TLS settings: TLS_PORT is not set'));
      return listen(tlsListener.server, host, port);
    },
    reloadTls: () => tlsListener?.reload() ?? false,
    clients: () => connections.values(),
    async close() {
      server.close();
      tlsListener?.server.close();
      refusals.flush();
      tlsListener?.flush();
      if (connections.size > 0) {
        const closed = new Promise<void>((resolve) => (allClosed = resolve));
        for (const connection of connections.values()) connection.closeWhenIdle();
        const drained = await Promise.race([closed.then(() => true), sleep(shutdownTimeoutMs).then(() => false)]);
        if (!drained) {
          log.warn(`shutdown: ${connections.size} RESP connections still owed replies after ${shutdownTimeoutMs} ms; closing them`, {
            event: 'shutdown_timeout',
            frontEnd: 'resp',
            connections: connections.size,
            timeoutMs: shutdownTimeoutMs,
          });
          for (const socket of connections.keys()) socket.destroy();
        }
      }
    },
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
