// Owns the HTTP front end: /query reads through the shared cache; /, /health and /metrics for operators.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Backend } from '../backend/redis-backend.ts';
import { cacheKey, type ReadThrough, type ReadValue } from '../cache/read-through.ts';
import { BackendReplyError, BackendUnavailableError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { listen } from '../server/listen.ts';
import type { Stats } from '../stats.ts';
import { renderMetrics } from './metrics.ts';
import { queryParamBytes } from './query-string.ts';

export interface HttpFrontEnd {
  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  listen(host: string, port: number): Promise<AddressInfo>;
  close(): Promise<void>;
}

export interface HttpFrontEndOptions {
  readThrough: ReadThrough;
  backend: Backend;
  stats: Stats;
  maxClients: number;
  /** Milliseconds close() waits for requests in flight to be answered (SHUTDOWN_TIMEOUT). */
  shutdownTimeoutMs: number;
  log: Logger;
}

const USAGE = `redis-cache-proxy

GET /query?key=K   the value Redis holds for K, served from the cache when fresh
                   200 value bytes | 404 key absent | 400 no key | 503 backend unreachable
GET /health        200 when the backend is reachable, else 503
GET /metrics       counters in Prometheus text format

Keys are percent-encoded bytes: /query?key=user%3A42 reads "user:42".
`;

const TEXT = 'text/plain; charset=utf-8';

/** The one place a failed read becomes an HTTP status. */
function statusFor(err: unknown): number {
  if (err instanceof BackendUnavailableError) return 503;
  // The key exists but Redis refused the GET (e.g. WRONGTYPE: it holds a list).
  if (err instanceof BackendReplyError) return 409;
  return 500;
}

export function createHttpFrontEnd({ readThrough, backend, stats, maxClients, shutdownTimeoutMs, log }: HttpFrontEndOptions): HttpFrontEnd {
  let closing = false;

  function send(res: http.ServerResponse, status: number, contentType: string, body: string | Buffer, extra?: Record<string, string>) {
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
    const result = readThrough.read(cacheKey(key));
    if (!(result instanceof Promise)) {
      answerRead(res, result);
      return;
    }
    result.then(
      (value) => answerRead(res, value),
      (err: unknown) => {
        const status = statusFor(err);
        if (status === 500) log.error(`HTTP /query failed: ${(err as Error)?.stack ?? String(err)}`);
        send(res, status, TEXT, `${(err as Error)?.message ?? String(err)}\n`);
      },
    );
  }

  function route(req: http.IncomingMessage, res: http.ServerResponse) {
    stats.httpRequests++;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const search = q === -1 ? '' : url.slice(q + 1);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, TEXT, `only GET and HEAD are allowed on ${path}\n`, { Allow: 'GET, HEAD' });
    }
    if (path === '/query') return query(res, search);
    if (path === '/') return send(res, 200, TEXT, USAGE);
    if (path === '/health') {
      const up = backend.isReady();
      const body = up ? { status: 'ok', backend: backend.address } : { status: 'backend unavailable', backend: backend.address, reason: backend.unavailableReason };
      return send(res, up ? 200 : 503, 'application/json', `${JSON.stringify(body)}\n`);
    }
    if (path === '/metrics') {
      return send(res, 200, 'text/plain; version=0.0.4', renderMetrics(stats, readThrough));
    }
    send(res, 404, TEXT, `no such path ${path}; GET / lists the endpoints\n`);
  }

  const server = http.createServer(route);
  // Node closes connections past this at accept, before any byte is read; 'drop' counts them.
  server.maxConnections = maxClients;
  server.on('drop', () => {
    stats.rejectedConnections++;
  });
  server.on('connection', (socket: Socket) => {
    stats.httpClients++;
    socket.once('close', () => stats.httpClients--);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy(err);
  });

  return {
    listen: (host, port) => listen(server, host, port),
    async close() {
      // Stop accepting and close idle keep-alive connections; requests in flight are answered with
      // `Connection: close`, and their connections close once the answer is sent.
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        log.warn(`shutdown: HTTP requests still in flight after ${shutdownTimeoutMs} ms; closing their connections`);
        server.closeAllConnections();
      }, shutdownTimeoutMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
