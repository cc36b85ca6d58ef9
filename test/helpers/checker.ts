// Owns checking replies against expected values under faults: pipelines GETs on raw sockets and compares each reply with its key's value.
import net from 'node:net';
import RedisParser from 'redis-parser';

export interface CheckResult {
  /** Replies that were the key's expected value. */
  correct: number;
  /** Error replies (allowed while the backend is down); by message prefix. */
  errors: number;
  errorSamples: string[];
  /** Replies that were neither the right value nor an error: must always be 0. */
  wrong: number;
  wrongSamples: string[];
  /** Connections that closed with requests unanswered. */
  dropped: number;
}

export interface CheckOptions {
  port: number;
  /** Keys and the values Redis holds for them. */
  values: ReadonlyMap<string, string>;
  clients: number;
  /** GETs written at once per round, per client. */
  pipeline: number;
  /** Runs until this resolves (or `rounds` are done). */
  until?: Promise<unknown>;
  rounds?: number;
}

const frame = (key: string) => `*2\r\n$3\r\nGET\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`;

/** Runs `clients` connections, each writing `pipeline` GETs of random keys and checking each reply in order. */
export async function checkReplies({ port, values, clients, pipeline, until, rounds = Infinity }: CheckOptions): Promise<CheckResult> {
  const result: CheckResult = { correct: 0, errors: 0, errorSamples: [], wrong: 0, wrongSamples: [], dropped: 0 };
  const keys = [...values.keys()];
  let stop = false;
  void until?.then(() => (stop = true));
  const one = async () => {
    for (let round = 0; round < rounds && !stop; round++) {
      const ok = await new Promise<boolean>((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        const expected: string[] = [];
        let answered = 0;
        const parser = new RedisParser({
          returnReply: (reply: string | null) => {
            const want = values.get(expected[answered++]!);
            if (reply === want) result.correct++;
            else {
              result.wrong++;
              if (result.wrongSamples.length < 5)
                result.wrongSamples.push(`${expected[answered - 1]}: got ${JSON.stringify(reply)}, want ${JSON.stringify(want)}`);
            }
            if (answered === expected.length) socket.end();
          },
          returnError: (err: Error) => {
            answered++;
            result.errors++;
            if (result.errorSamples.length < 5) result.errorSamples.push(err.message);
            if (answered === expected.length) socket.end();
          },
          returnFatalError: (err: Error) => {
            result.wrong++;
            result.wrongSamples.push(`unreadable reply: ${err.message}`);
            socket.destroy();
          },
        });
        socket.on('data', (d) => parser.execute(d));
        socket.on('error', () => {});
        socket.on('close', () => {
          if (answered < expected.length) result.dropped += expected.length - answered;
          resolve(answered === expected.length);
        });
        socket.on('connect', () => {
          let text = '';
          for (let i = 0; i < pipeline; i++) {
            const key = keys[Math.floor(Math.random() * keys.length)]!;
            expected.push(key);
            text += frame(key);
          }
          socket.write(text);
        });
      });
      if (!ok) await new Promise((r) => setTimeout(r, 20));
    }
  };
  await Promise.all(Array.from({ length: clients }, one));
  return result;
}

/** `count` keys with distinct values, e.g. `chk:7` → `value-of-chk:7-…`. */
export function knownValues(count: number, prefix = 'chk'): Map<string, string> {
  return new Map(Array.from({ length: count }, (_, i) => [`${prefix}:${i}`, `value-of-${prefix}:${i}-${'x'.repeat(i % 50)}`]));
}
