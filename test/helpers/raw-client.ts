// Owns a bare TCP client for protocol tests: write exact bytes, read what comes back, see when it closes.
import net from 'node:net';
import type { Address } from './external.ts';

export interface RawClient {
  write(data: string | Buffer): void;
  /** Resolves with everything received once `done(received)` holds; rejects after `timeoutMs`. */
  readUntil(done: (received: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves with everything received once the proxy closes the connection. */
  closed(timeoutMs?: number): Promise<string>;
  end(): void;
  destroy(): void;
}

/** Connects to `to`: a port on 127.0.0.1, or an address (an external proxy's). */
export function connectRaw(to: number | Address): Promise<RawClient> {
  const { host, port } = typeof to === 'number' ? { host: '127.0.0.1', port: to } : to;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let received = '';
    let isClosed = false;
    const waiters = new Set<() => void>();
    const wake = () => waiters.forEach((w) => w());
    socket.on('data', (d) => {
      received += d.toString('latin1');
      wake();
    });
    socket.on('close', () => {
      isClosed = true;
      wake();
    });
    socket.on('error', () => {});
    const wait = (done: () => boolean, what: string, timeoutMs: number) =>
      new Promise<string>((res, rej) => {
        const check = () => {
          if (!done()) return;
          waiters.delete(check);
          clearTimeout(timer);
          res(received);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          rej(new Error(`timed out waiting for ${what}; received so far: ${JSON.stringify(received)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve({
        write: (data) => socket.write(data),
        readUntil: (done, timeoutMs = 5000) => wait(() => done(received), 'a reply', timeoutMs),
        closed: (timeoutMs = 5000) => wait(() => isClosed, 'the connection to close', timeoutMs),
        end: () => socket.end(),
        destroy: () => socket.destroy(),
      });
    });
  });
}

/** Sends `data` on a new connection and resolves with what came back once `until` holds. */
export async function exchange(to: number | Address, data: string | Buffer, until: (received: string) => boolean): Promise<string> {
  const client = await connectRaw(to);
  client.write(data);
  try {
    return await client.readUntil(until);
  } finally {
    client.destroy();
  }
}
