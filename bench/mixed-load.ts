// Owns the mixed workloads' load generator: connections each with one request in flight, a share of GETs and the rest SETs over the benchmark keyspace.
// Run as its own process (node bench/mixed-load.ts <port> <seconds> [connections getShare keyspace writePort]) so it does not share a CPU turn
// with the benchmark's driver. With writePort the SETs go there (Redis itself, say) and the GETs to port.
import net from 'node:net';
import { ReplyReader } from '../src/resp/reply-reader.ts';

const [port, seconds, connections = 50, getShare = 0.9, keyspace = 10_000, writePort = port] = process.argv.slice(2).map<number>(Number);
const VALUE = 'v'.repeat(100);
const key = (i: number) => `key:${String(i).padStart(12, '0')}`;
const frame = (args: string[]) => `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`;

const latencies: number[] = [];
const readLatencies: number[] = [];
let errors = 0;
const until = performance.now() + seconds! * 1000;

/** A connection that sends one request at a time and calls back with each reply. */
function connect(to: number, onReply: (reply: Buffer) => void): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(to, '127.0.0.1', () => resolve(socket));
    const reader = new ReplyReader();
    socket.setNoDelay(true);
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      reader.push(chunk);
      for (let reply = reader.next(); reply !== null; reply = reader.next()) onReply(reply);
    });
  });
}

await Promise.all(
  Array.from({ length: connections }, async () => {
    let sentAt = 0;
    let reading = false;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const onReply = (reply: Buffer) => {
      if (reply[0] === 0x2d) errors++;
      const took = performance.now() - sentAt;
      latencies.push(took);
      if (reading) readLatencies.push(took);
      send();
    };
    const reads = await connect(port!, onReply);
    const writes = writePort === port ? reads : await connect(writePort!, onReply);
    const send = () => {
      if (performance.now() >= until) {
        reads.end();
        writes.end();
        finish();
        return;
      }
      const k = key(Math.floor(Math.random() * keyspace));
      reading = Math.random() < getShare;
      sentAt = performance.now();
      if (reading) reads.write(frame(['GET', k]));
      else writes.write(frame(['SET', k, VALUE]));
    };
    send();
    await finished;
  }),
);

const summary = (xs: number[]) => {
  xs.sort((a, b) => a - b);
  const at = (p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
  return { rps: xs.length / seconds!, p50: at(0.5), p99: at(0.99) };
};
process.stdout.write(`${JSON.stringify({ ...summary(latencies), reads: summary(readLatencies), errors })}\n`);
