// Owns a bare TCP client for protocol tests: write exact bytes, read what comes back, see when it closes.
import net from 'node:net';

export interface RawClient {
  write(data: string | Buffer): void;
  /** Resolves with everything received once `done(received)` holds; rejects after `timeoutMs`. */
  readUntil(done: (received: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves with everything received once the proxy closes the connection. */
  closed(timeoutMs?: number): Promise<string>;
  end(): void;
  destroy(): void;
}

export function connectRaw(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
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
export async function exchange(port: number, data: string | Buffer, until: (received: string) => boolean): Promise<string> {
  const client = await connectRaw(port);
  client.write(data);
  try {
    return await client.readUntil(until);
  } finally {
    client.destroy();
  }
}
