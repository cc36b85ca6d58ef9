// Hostile and careless clients: replies never read, bytes after QUIT or a protocol error. The proxy's memory stays bounded.
import net from 'node:net';
import { once } from 'node:events';
import test from 'ava';
import { Redis } from 'ioredis';
import { localOnly } from '../helpers/local-only.ts';
import { redisAndProxyUnderTest, startRedisAndProxy } from '../helpers/proxy-process.ts';
import { connectRaw } from '../helpers/raw-client.ts';
import { rssBytes } from '../helpers/tools.ts';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The CLIENT LIST line of the connection named `name`, as key → value. */
async function clientFields(control: Redis, name: string): Promise<Record<string, string>> {
  const list = (await control.client('LIST')) as string;
  const line = list.split('\n').find((l) => l.includes(` name=${name} `));
  if (!line) throw new Error(`no client named ${name} in:\n${list}`);
  return Object.fromEntries(line.split(' ').map((kv) => kv.split('=', 2) as [string, string]));
}

localOnly("measures the proxy process's memory").serial(
  'a client that sends one request per read and never reads its replies is held at the output limit',
  async (t) => {
    const { redis, proxy } = await startRedisAndProxy(t);
    const value = Buffer.alloc(256 * 1024, 'v');
    await redis.client.set('big', value);
    const control = new Redis({ port: proxy.respPort });
    t.teardown(() => control.disconnect());
    t.is((await control.getBuffer('big'))?.length, value.length, 'cached before the test');

    const greedy = net.connect(proxy.respPort, '127.0.0.1');
    t.teardown(() => greedy.destroy());
    greedy.setNoDelay(true);
    await once(greedy, 'connect');
    greedy.write('CLIENT SETNAME greedy\r\n');
    await once(greedy, 'data'); // +OK; from now on nothing is read
    greedy.pause();
    const rssBefore = rssBytes(proxy.child.pid!);

    // 400 replies of 256 KiB = 100 MiB, one request per read.
    const requests = 400;
    for (let i = 0; i < requests; i++) {
      greedy.write('GET big\r\n');
      await sleep(1);
    }
    await sleep(200);
    const fields = await clientFields(control, 'greedy');
    const omem = Number(fields.omem);
    t.true(omem <= 1 * MiB + value.length + 64 * 1024, `unsent replies held for the client: ${omem} bytes`);
    const grown = rssBytes(proxy.child.pid!) - rssBefore;
    t.true(grown < 40 * MiB, `the proxy grew by ${grown} bytes for 100 MiB of unread replies`);
    t.is(await control.ping(), 'PONG', 'other clients are served meanwhile');

    // Once the client reads, every reply it asked for arrives, whole.
    const header = `$${value.length}\r\n`;
    const expectedBytes = requests * (header.length + value.length + 2);
    let received = 0;
    greedy.on('data', (d: Buffer) => (received += d.length));
    greedy.resume();
    for (let i = 0; i < 500 && received < expectedBytes; i++) await sleep(20);
    t.is(received, expectedBytes);
  },
);

for (const [what, opening, reply] of [
  ['QUIT', 'PING\r\nQUIT\r\n', '+PONG\r\n+OK\r\n'],
  ['a protocol error', 'PING\r\n*1\r\n$-5\r\n', '+PONG\r\n-ERR Protocol error: invalid bulk length\r\n'],
] as const) {
  localOnly("measures the proxy process's memory").serial(
    `bytes sent after ${what} are dropped, not buffered, and the connection closes once answered`,
    async (t) => {
      const { proxy } = await startRedisAndProxy(t);
      const rssBefore = rssBytes(proxy.child.pid!);
      const client = await connectRaw(proxy.respPort);
      t.teardown(() => client.destroy());
      client.write(opening);
      // 100 MiB more, as fast as the proxy takes it.
      const chunk = Buffer.alloc(MiB, 'GET x\r\n');
      for (let i = 0; i < 100; i++) client.write(chunk);
      t.is(await client.closed(10_000), reply);
      const grown = rssBytes(proxy.child.pid!) - rssBefore;
      t.true(grown < 30 * MiB, `the proxy grew by ${grown} bytes`);
    },
  );
}

test.serial("CLIENT LIST shows each connection's unread input and unsent output (qbuf, omem)", async (t) => {
  const { proxy } = await redisAndProxyUnderTest(t);
  const control = new Redis({ ...proxy.respAddress, connectionName: 'control' });
  t.teardown(() => control.disconnect());
  const partial = await connectRaw(proxy.respAddress);
  t.teardown(() => partial.destroy());
  partial.write('CLIENT SETNAME partial\r\n');
  await partial.readUntil((r) => r === '+OK\r\n');
  partial.write('*2\r\n$4\r\nECHO\r\n$100\r\nabc');
  await sleep(50);
  const fields = await clientFields(control, 'partial');
  t.true(Number(fields.qbuf) > 0, `qbuf=${fields.qbuf}`);
  t.is(fields.omem, '0');
});
