// Owns the invalidation-delay measurement: how long after a SET on Redis itself a read through the proxy first sees the new value.
import { Redis } from 'ioredis';

export interface InvalidationDelay {
  writes: number;
  /** Milliseconds from sending the SET to Redis to receiving the first read through the proxy that returned the new value. */
  p50: number;
  p99: number;
  max: number;
  /** Writes whose very first read through the proxy, sent right after the SET, already saw the new value. */
  seenAtFirstRead: number;
}

/**
 * `writes` times: read a key through the proxy (so the old value is cached), SET it to a new value straight on
 * Redis, and without waiting for the SET's reply read it through the proxy back to back until the new value
 * comes. A read the proxy answers from its cache returns the old value until Redis's invalidation has reached it.
 */
export async function measureInvalidationDelay(redisPort: number, proxyPort: number, writes: number): Promise<InvalidationDelay> {
  const direct = new Redis({ port: redisPort, host: '127.0.0.1' });
  const proxy = new Redis({ port: proxyPort, host: '127.0.0.1' });
  const keys = Array.from({ length: 100 }, (_, i) => `inval:${i}`);
  const delays: number[] = [];
  let seenAtFirstRead = 0;
  try {
    await direct.mset(...keys.flatMap((k) => [k, 'start']));
    for (const k of keys) await proxy.get(k);
    for (let i = 0; i < writes; i++) {
      const key = keys[i % keys.length]!;
      const value = `value:${i}`;
      await proxy.get(key);
      const sentAt = performance.now();
      const written = direct.set(key, value);
      let reads = 0;
      for (;;) {
        reads++;
        if ((await proxy.get(key)) === value) break;
        if (performance.now() - sentAt > 10_000) throw new Error(`the proxy still served the old value of ${key} 10 s after the SET`);
      }
      delays.push(performance.now() - sentAt);
      if (reads === 1) seenAtFirstRead++;
      await written;
    }
  } finally {
    direct.disconnect();
    proxy.disconnect();
  }
  delays.sort((a, b) => a - b);
  const at = (p: number) => delays[Math.min(delays.length - 1, Math.floor(p * delays.length))]!;
  return { writes, p50: at(0.5), p99: at(0.99), max: delays.at(-1)!, seenAtFirstRead };
}
