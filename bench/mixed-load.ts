// Owns the mixed workload's load generator: 50 connections, 90% GET and 10% SET over the benchmark keyspace, one request in flight each.
// Run as its own process (node bench/mixed-load.ts <port> <seconds>) so it does not share a CPU turn with the benchmark's driver.
import net from 'node:net';
import { ReplyReader } from '../src/resp/reply-reader.ts';

const [port, seconds, connections = 50, getShare = 0.9, keyspace = 10_000] = process.argv.slice(2).map<number>(Number);
const VALUE = 'v'.repeat(100);
const key = (i: number) => `key:${String(i).padStart(12, '0')}`;
const frame = (args: string[]) => `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`;

const latencies: number[] = [];
let done = 0;
let errors = 0;
const until = performance.now() + seconds! * 1000;

await Promise.all(
  Array.from(
    { length: connections },
    () =>
      new Promise<void>((resolve, reject) => {
        const socket = net.connect(port!, '127.0.0.1');
        const reader = new ReplyReader();
        let sentAt = 0;
        const send = () => {
          if (performance.now() >= until) {
            socket.end();
            resolve();
            return;
          }
          const k = key(Math.floor(Math.random() * keyspace));
          sentAt = performance.now();
          socket.write(Math.random() < getShare ? frame(['GET', k]) : frame(['SET', k, VALUE]));
        };
        socket.setNoDelay(true);
        socket.on('connect', send);
        socket.on('error', reject);
        socket.on('data', (chunk) => {
          reader.push(chunk);
          for (let reply = reader.next(); reply !== null; reply = reader.next()) {
            if (reply[0] === 0x2d) errors++;
            latencies.push(performance.now() - sentAt);
            done++;
            send();
          }
        });
      }),
  ),
);

latencies.sort((a, b) => a - b);
const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
process.stdout.write(`${JSON.stringify({ rps: done / seconds!, p50: at(0.5), p99: at(0.99), errors })}\n`);
