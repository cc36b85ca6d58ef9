// Owns a checked read/write load for fault tests: each client owns its keys, one request at a time, and every value read must be one its writes can explain.
import { Redis } from 'ioredis';

export interface LoadError {
  /** performance.now() when the request was sent, and when its error came. */
  sentAt: number;
  failedAt: number;
  message: string;
}

export interface LoadResult {
  /** Requests answered without an error, and of those the reads (GET, MGET) whose values were checked. */
  answered: number;
  reads: number;
  /** Values no write of the key can explain: must always be 0. */
  wrong: number;
  wrongSamples: string[];
  errors: LoadError[];
}

export interface OwnedKeysLoad {
  /** Every key the load writes. */
  readonly keys: readonly string[];
  /**
   * Call just before killing a master: for each key it serves (`onVictim`), the value before the last
   * acknowledged write is accepted too, from then on until the key's next write sent after now is acknowledged.
   */
  masterKilled(onVictim: (key: string) => boolean): void;
  /** Whether `value` is one the key may hold now (for a final check once the load has stopped). */
  explains(key: string, value: string | null): boolean;
  /** Requests answered without an error so far. */
  answered(): number;
  stop(): Promise<LoadResult>;
}

export interface LoadOptions {
  port: number;
  clients: number;
  keysPerClient: number;
  prefix: string;
}

interface KeyState {
  /** The values the key may hold: its last acknowledged write, and any write whose fate is unknown. */
  maybe: Set<string | null>;
  /** The last acknowledged value, and the one acknowledged before it. */
  acked: string | null;
  beforeAcked: string | null;
}

/**
 * `clients` connections to `port` (plain, not cluster-aware), each owning `keysPerClient` keys and sending
 * one request at a time: a SET of a new value (half), a GET (four in ten) or an MGET of three of its keys
 * (one in ten). Since no one else writes those keys, a read must answer the last acknowledged write, or a
 * write that failed (it may have run), or what masterKilled() allows.
 */
export function startOwnedKeysLoad({ port, clients, keysPerClient, prefix }: LoadOptions): OwnedKeysLoad {
  const owned = Array.from({ length: clients }, (_, c) => Array.from({ length: keysPerClient }, (_, i) => `${prefix}:${c}:${i}`));
  const state = new Map<string, KeyState>(owned.flat().map((key) => [key, { maybe: new Set([null]), acked: null, beforeAcked: null }]));
  const result: LoadResult = { answered: 0, reads: 0, wrong: 0, wrongSamples: [], errors: [] };
  let killedAt = Infinity;
  let victim: (key: string) => boolean = () => false;
  let stopped = false;

  const check = (key: string, value: string | null) => {
    result.reads++;
    if (state.get(key)!.maybe.has(value)) return;
    result.wrong++;
    if (result.wrongSamples.length < 10) {
      const { maybe } = state.get(key)!;
      result.wrongSamples.push(`${key}: read ${JSON.stringify(value)}, may hold ${JSON.stringify([...maybe])}`);
    }
  };

  const one = async (keys: string[]) => {
    const client = new Redis({
      port,
      protocol: 2,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: 10_000,
      retryStrategy: () => 50,
    });
    client.on('error', () => {});
    try {
      for (let n = 0; !stopped; n++) {
        const key = keys[Math.floor(Math.random() * keys.length)]!;
        const dice = Math.random();
        const sentAt = performance.now();
        try {
          if (dice < 0.5) {
            const value = `${key}#${n}`;
            await client.set(key, value);
            const s = state.get(key)!;
            // Sent before the kill to the master that died and answered after it: the old master may have run it
            // and lost it with the replication stream, so what the key may have held before stays possible.
            const mayBeLost = killedAt !== Infinity && sentAt < killedAt && victim(key);
            s.maybe = mayBeLost ? new Set([value, ...s.maybe]) : new Set([value]);
            s.beforeAcked = s.acked;
            s.acked = value;
          } else if (dice < 0.9) {
            check(key, await client.get(key));
          } else {
            const three = [key, keys[(keys.indexOf(key) + 1) % keys.length]!, keys[(keys.indexOf(key) + 7) % keys.length]!];
            const values = await client.mget(three);
            three.forEach((k, i) => check(k, values[i]!));
          }
          result.answered++;
        } catch (err) {
          const message = (err as Error).message;
          result.errors.push({ sentAt, failedAt: performance.now(), message });
          // A write that failed may still have run (or run later): its value is possible from now on.
          if (dice < 0.5) state.get(key)!.maybe.add(`${key}#${n}`);
          // Do not spin on a proxy that answers errors at once.
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    } finally {
      client.disconnect();
    }
  };
  const running = Promise.all(owned.map(one));

  return {
    keys: owned.flat(),
    masterKilled(onVictim) {
      killedAt = performance.now();
      victim = onVictim;
      // Replication is asynchronous: the killed master may have acknowledged a write its replica never got.
      for (const [key, s] of state) if (onVictim(key)) s.maybe.add(s.beforeAcked);
    },
    explains: (key, value) => state.get(key)!.maybe.has(value),
    answered: () => result.answered,
    async stop() {
      stopped = true;
      await running;
      return result;
    },
  };
}
