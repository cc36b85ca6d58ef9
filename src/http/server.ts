// Owns the HTTP front end: /query reads through the shared cache; /, /healthz, /readyz (/health) and /metrics for operators.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Backend } from '../backend/redis-backend.ts';
import type { TlsServerConfig } from '../config.ts';
import { cacheKey, type ReadThrough, type ReadValue } from '../cache/read-through.ts';
import { BackendReplyError, BackendUnavailableError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { refusalLog } from '../log-rate-limit.ts';
import type { PasswordCheck } from '../server/auth.ts';
import { listen } from '../server/listen.ts';
import { isLoopback, PROTECTED_MODE_MESSAGE } from '../server/protected-mode.ts';
import type { Stats } from '../stats.ts';
import { tlsServerSupport } from '../tls-server.ts';
import { authorized, CHALLENGES } from './auth.ts';
import { ConnectionSlots } from './connection-slots.ts';
import type { Metrics } from './metrics.ts';
import { queryParamBytes } from './query-string.ts';

export interface HttpFrontEnd {
  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(host: string, port: number): Promise<AddressInfo>;
  /** HTTP_TLS=yes: reads the certificate files again (SIGHUP); false when they cannot be used, or with plain HTTP. */
  reloadTls(): boolean;
  close(): Promise<void>;
}

export interface HttpFrontEndOptions {
  readThrough: ReadThrough;
  backend: Backend;
  /** The database /query reads (REDIS_URL's, else 0). */
  db: number;
  stats: Stats;
  /** What GET /metrics serves. */
  metrics: Metrics;
  maxClients: number;
  /** Milliseconds close() waits for requests in flight to be answered (SHUTDOWN_TIMEOUT). */
  shutdownTimeoutMs: number;
  /** REDIS_TIMEOUT in milliseconds: a request waiting this long for Redis is answered, not dropped as idle. */
  backendTimeoutMs: number;
  /** HTTPS with these files (HTTP_TLS=yes); plain HTTP when absent. */
  tls?: TlsServerConfig;
  /** PROXY_PASSWORD's check, or undefined when none is set. */
  password: PasswordCheck | undefined;
  /** PROTECTED_MODE: with no password, only loopback clients are served. */
  protectedMode: boolean;
  /** METRICS_AUTH: /metrics is guarded like /query (else it is open like the health checks). */
  metricsAuth: boolean;
  log: Logger;
}

// Timeouts for a small GET API. A request here is a few hundred bytes that any client sends at once, so
// Node's defaults (60 s for the headers, checked every 30 s) only let slow or silent clients hold
// connections: 10 000 of them locked the port, health checks included, for 90 s.
/** From connect, or from a kept-alive connection's next request's first byte, until its headers are complete. */
const HEADERS_TIMEOUT_MS = 5_000;
/** Until the whole request is received; a GET has no body, so this only bounds the odd request that has one. */
const REQUEST_TIMEOUT_MS = 10_000;
/** An idle keep-alive connection waits this long for its next request (Node's default; it adds 1 s of grace). */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** How often Node checks those two deadlines (default 30 s): a timed-out request is answered at most this late. */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/**
 * No byte moving either way for this long closes the connection: a client that stopped reading its reply
 * (Node looks again one period later when a write is stuck mid-way, so such a client goes within twice this).
 * Never shorter than REDIS_TIMEOUT plus a second, so a read waiting for Redis gets its 503 first.
 */
const SOCKET_IDLE_TIMEOUT_MS = 10_000;

const USAGE = `redis-cache-proxy

GET /query?key=K   the value Redis holds for K, served from the cache when fresh
                   200 value bytes | 404 key absent | 400 no key | 503 backend unreachable
GET /healthz       200 while the process runs (liveness)
GET /readyz        200 when the backend is ready, else 503 with the reason (readiness)
GET /health        the same as /readyz
GET /metrics       counters in Prometheus text format

Keys are percent-encoded bytes: /query?key=user%3A42 reads "user:42".
`;

const TEXT = 'text/plain; charset=utf-8';
const UNAUTHORIZED = 'authentication required: send Authorization: Bearer <password>, or Basic with the user default (or none) and the password\n';
const FORBIDDEN = `${PROTECTED_MODE_MESSAGE}\n`;
const JSON_TYPE = 'application/json';
const ALIVE = `${JSON.stringify({ status: 'ok' })}\n`;

/** The one place a failed read becomes an HTTP status. */
function statusFor(err: unknown): number {
  if (err instanceof BackendUnavailableError) return 503;
  // The key exists but Redis refused the GET (e.g. WRONGTYPE: it holds a list).
  if (err instanceof BackendReplyError) return 409;
  return 500;
}

/**
 * The path with each run of slashes made one. Clients of the original (Flask) service build `base + "/query"`
 * from a base ending in "/" and ask for `//query`: Flask redirected them to `/query` (werkzeug's merge_slashes),
 * nginx serves such a path as it is (its merge_slashes); so do we, without the round trip. Only the path:
 * slashes in the query string are part of a key.
 */
const mergeSlashes = (path: string): string => (path.includes('//') ? path.replace(/\/{2,}/g, '/') : path);

/** Node's codes for requests its parser gave up on, and the status Node itself answers them with; anything else is 400. */
const CLIENT_ERROR_STATUS: Readonly<Record<string, number>> = {
  ERR_HTTP_REQUEST_TIMEOUT: 408,
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
};

/** The whole response to a request the parser gave up on; the connection is closed after it. */
function clientErrorResponse(err: NodeJS.ErrnoException): string {
  const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? 400;
  const body =
    status === 408
      ? `the request was not received in time (headers within ${HEADERS_TIMEOUT_MS / 1000} s, all of it within ${REQUEST_TIMEOUT_MS / 1000} s)\n`
      : `${http.STATUS_CODES[status]}\n`;
  return (
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n` +
    `Content-Type: ${TEXT}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

export function createHttpFrontEnd({
  readThrough,
  backend,
  stats,
  db,
  metrics,
  maxClients,
  backendTimeoutMs,
  shutdownTimeoutMs,
  tls,
  password,
  protectedMode,
  metricsAuth,
  log,
}: HttpFrontEndOptions): HttpFrontEnd {
  let closing = false;
  // What a request must pass before anything but the health checks: the password when one is set, else
  // (protected mode) coming from loopback, else nothing. Decided once; a request with no gate pays one test.
  const gate = password !== undefined ? 'password' : protectedMode ? 'loopback' : 'none';
  const isOpen = (path: string) => path === '/healthz' || path === '/readyz' || path === '/health' || (path === '/metrics' && !metricsAuth);

  /** False after answering 401 or 403 when the request may not go on. */
  function admitted(req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean {
    if (isOpen(path)) return true;
    if (gate === 'password') {
      if (authorized(req.headers.authorization, password!)) return true;
      // A missing header is a client that has not tried yet, as Redis counts only failed AUTHs.
      if (req.headers.authorization !== undefined) stats.authFailures++;
      send(res, 401, TEXT, UNAUTHORIZED, { 'WWW-Authenticate': CHALLENGES });
      return false;
    }
    if (isLoopback(req.socket.remoteAddress)) return true;
    stats.protectedModeDenied++;
    send(res, 403, TEXT, FORBIDDEN);
    return false;
  }

  function send(res: http.ServerResponse, status: number, contentType: string, body: string | Buffer, extra?: Record<string, string | string[]>) {
    if (closing) res.shouldKeepAlive = false;
    res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), ...extra });
    res.end(body);
  }

  function answerRead(res: http.ServerResponse, value: ReadValue) {
    if (value === null) return send(res, 404, TEXT, 'key not found\n');
    if (typeof value !== 'string') return send(res, 200, 'application/octet-stream', value);
    // A cached value is a latin1 string: one char per byte.
    if (closing) res.shouldKeepAlive = false;
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': value.length });
    res.end(value, 'latin1');
  }

  function query(res: http.ServerResponse, search: string) {
    const key = queryParamBytes(search, 'key');
    if (key === undefined) {
      send(res, 400, TEXT, 'missing the key parameter: GET /query?key=K\n');
      return;
    }
    const result = readThrough.read(cacheKey(key), db);
    if (!(result instanceof Promise)) {
      answerRead(res, result);
      return;
    }
    result.then(
      (value) => answerRead(res, value),
      (err: unknown) => {
        const status = statusFor(err);
        if (status === 500) log.error(`HTTP /query failed: ${(err as Error)?.message ?? String(err)}`, { event: 'internal_error', err });
        send(res, status, TEXT, `${(err as Error)?.message ?? String(err)}\n`);
      },
    );
  }

  function route(req: http.IncomingMessage, res: http.ServerResponse) {
    stats.httpRequests++;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = mergeSlashes(q === -1 ? url : url.slice(0, q));
    const search = q === -1 ? '' : url.slice(q + 1);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, TEXT, `only GET and HEAD are allowed on ${path}\n`, { Allow: 'GET, HEAD' });
    }
    if (gate !== 'none' && !admitted(req, res, path)) return;
    if (path === '/query') return query(res, search);
    if (path === '/') return send(res, 200, TEXT, USAGE);
    // Liveness: answering at all is the proof. A backend outage must not get the process restarted.
    if (path === '/healthz') return send(res, 200, JSON_TYPE, ALIVE);
    // Readiness: whether reads can be served now. /health is its name from before /healthz and /readyz.
    if (path === '/readyz' || path === '/health') {
      const up = backend.isReady();
      const body = up
        ? { status: 'ok', backend: backend.address }
        : { status: 'backend unavailable', backend: backend.address, reason: backend.unavailableReason };
      return send(res, up ? 200 : 503, JSON_TYPE, `${JSON.stringify(body)}\n`);
    }
    if (path === '/metrics') {
      metrics.render().then(
        (text) => send(res, 200, metrics.contentType, text),
        (err: unknown) => {
          log.error(`HTTP /metrics failed: ${(err as Error)?.stack ?? String(err)}`);
          send(res, 500, TEXT, 'the metrics could not be collected; the log says why\n');
        },
      );
      return;
    }
    send(res, 404, TEXT, `no such path ${path}; GET / lists the endpoints\n`);
  }

  const slots = new ConnectionSlots<Socket>(maxClients, stats);
  const refusals = refusalLog(log, 'HTTP', maxClients);

  const serverOptions: http.ServerOptions = {
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
  };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    slots.requestStarted(socket);
    // 'close' follows 'finish', and also comes when the connection goes away before the answer is sent.
    res.once('close', () => slots.requestFinished(socket));
    route(req, res);
  };
  const support = tls ? tlsServerSupport({ config: tls, frontEnd: 'http', onHandshakeFailure: () => stats.tlsHandshakeFailures++, log }) : undefined;
  const server = support ? https.createServer({ ...serverOptions, ...support.options }, onRequest) : http.createServer(serverOptions, onRequest);
  server.timeout = Math.max(SOCKET_IDLE_TIMEOUT_MS, backendTimeoutMs + 1000);
  // Not server.maxConnections: Node would refuse a newcomer while the slots are held by connections that
  // have not sent a whole request yet, or sit idle between requests. ConnectionSlots closes one of those instead.
  const admit = (socket: Socket) => {
    if (!slots.admit(socket)) {
      refusals.count();
      socket.destroy();
      return;
    }
    socket.once('close', () => slots.closed(socket));
  };
  // With HTTPS a connection takes a slot once its handshake passed, as the TLSSocket its requests come on
  // (the socket 'connection' gives is the encrypted one beneath it).
  if (support) support.attach(server as https.Server, admit);
  else server.on('connection', admit);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // While a reply is being sent on this connection, another status line would corrupt it: only close.
    if (socket.writable && !slots.isAnswering(socket)) {
      // Closed once the response is flushed, so a client that keeps its side open cannot keep the slot.
      socket.end(clientErrorResponse(err), () => socket.destroy());
    } else {
      socket.destroy();
    }
  });

  return {
    listen: (host, port) => listen(server, host, port),
    reloadTls: () => support?.reload() ?? false,
    async close() {
      // Stop accepting and close idle keep-alive connections; requests in flight are answered with
      // `Connection: close`, and their connections close once the answer is sent.
      closing = true;
      refusals.flush();
      support?.flush();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        log.warn(`shutdown: HTTP requests still in flight after ${shutdownTimeoutMs} ms; closing their connections`, {
          event: 'shutdown_timeout',
          frontEnd: 'http',
          timeoutMs: shutdownTimeoutMs,
        });
        server.closeAllConnections();
      }, shutdownTimeoutMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
