// Owns a TCP relay for fault tests: forwards to a real Redis, optionally at a limited rate, to play a slow or cut network.
import net from 'node:net';

export interface Relay {
  readonly port: number;
  /** Bytes per second from Redis to the client side; Infinity forwards at full speed. */
  setRate(bytesPerSecond: number): void;
  /** Cuts every relayed connection (both sides), as a dropped route or a load balancer would. */
  cutAll(): void;
  /** From now on drops every byte both ways without closing anything: a route that died silently. */
  blackhole(): void;
  close(): Promise<void>;
}

/** Relays 127.0.0.1:<port> to `target`; Redis's replies are paced to the rate set, requests pass at once. */
export async function startRelay(target: { host: string; port: number }, bytesPerSecond = Infinity): Promise<Relay> {
  let rate = bytesPerSecond;
  let dropping = false;
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.on('data', (chunk: Buffer) => {
      if (!dropping) upstream.write(chunk);
    });
    // Paced: forward what arrived in slices of rate/50 bytes every 20 ms.
    let pending: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const pump = () => {
      timer = undefined;
      let budget = Number.isFinite(rate) ? Math.max(1, Math.floor(rate / 50)) : Infinity;
      while (pending.length > 0 && budget > 0) {
        const head = pending[0]!;
        const take = Math.min(head.length, budget);
        client.write(head.subarray(0, take));
        budget -= take;
        if (take === head.length) pending.shift();
        else pending[0] = head.subarray(take);
      }
      if (pending.length > 0) timer = setTimeout(pump, 20);
    };
    upstream.on('data', (chunk: Buffer) => {
      if (dropping) return;
      if (!Number.isFinite(rate) && pending.length === 0) {
        client.write(chunk);
        return;
      }
      pending.push(chunk);
      timer ??= setTimeout(pump, 20);
    });
    upstream.on('close', () => {
      clearTimeout(timer);
      pending = [];
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cutAll = () => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    setRate: (r) => (rate = r),
    cutAll,
    blackhole: () => (dropping = true),
    close() {
      cutAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
