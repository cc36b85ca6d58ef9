// Finding the master through sentinels that disagree: answers checked by configuration epoch and role, on stand-in servers (a stale sentinel cannot be staged with real ones).
import test from 'ava';
import net from 'node:net';
import { createSentinel } from '../../src/backend/sentinel.ts';
import type { BackendTarget } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';

type Reply = string | number | null | Error | Reply[];

function encode(reply: Reply): string {
  if (reply === null) return '$-1\r\n';
  if (reply instanceof Error) return `-${reply.message}\r\n`;
  if (typeof reply === 'number') return `:${reply}\r\n`;
  if (Array.isArray(reply)) return `*${reply.length}\r\n${reply.map(encode).join('')}`;
  return `$${Buffer.byteLength(reply)}\r\n${reply}\r\n`;
}

/** Reads whole multibulk commands from `text`; returns them and what is left. */
function commands(text: string): [string[][], string] {
  const out: string[][] = [];
  for (;;) {
    const lines = text.split('\r\n');
    if (!lines[0]?.startsWith('*')) return [out, text];
    const n = Number(lines[0].slice(1));
    if (lines.length < 2 + 2 * n) return [out, text];
    const args = Array.from({ length: n }, (_, i) => lines[2 + 2 * i]!);
    out.push(args);
    text = lines.slice(1 + 2 * n).join('\r\n');
  }
}

/** A server answering each command with `answer(args)`, in RESP2; close() also cuts its connections. */
async function standIn(answer: (args: string[]) => Reply): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let pending = '';
    socket.on('data', (chunk) => {
      const [done, rest] = commands(pending + chunk.toString('latin1'));
      pending = rest;
      for (const args of done) socket.write(encode(answer(args)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

const master = () => standIn((args) => (args[0] === 'ROLE' ? ['master', 0, []] : new Error('ERR unknown command')));

/** A sentinel naming `names().port` as the master, with configuration epoch `names().epoch`; it takes SUBSCRIBE and never publishes. */
const sentinelNaming = (port: number, epoch: number, names = () => ({ port, epoch })) =>
  standIn((args) => {
    if (args[0] === 'SUBSCRIBE') return ['subscribe', args[1]!, 1];
    if (args[0] !== 'SENTINEL') return new Error('ERR unknown command');
    const now = names();
    if (args[1] === 'get-master-addr-by-name') return ['127.0.0.1', String(now.port)];
    return ['name', 'mymaster', 'ip', '127.0.0.1', 'port', String(now.port), 'flags', 'master', 'config-epoch', String(now.epoch)];
  });

const target: BackendTarget = { host: '', port: 0, username: undefined, password: undefined, db: 0, tls: false };
const log = createLogger({ level: 'silent' });

test('a sentinel behind on failovers (an older configuration epoch) is not believed, even though the node it names still answers as a master', async (t) => {
  // After a clean failover the old master stays a master for seconds before Sentinel demotes it; a
  // sentinel that missed the failover still names it. Going there would send writes to a node about to
  // become a replica, and lose them.
  const [newMaster, oldMaster] = await Promise.all([master(), master()]);
  const current = await sentinelNaming(newMaster.port, 1);
  const behind = await sentinelNaming(oldMaster.port, 0);
  t.teardown(() => [newMaster, oldMaster, current, behind].forEach((s) => s.close()));
  const sentinel = createSentinel({
    config: {
      masterName: 'mymaster',
      sentinels: [
        { host: '127.0.0.1', port: current.port },
        { host: '127.0.0.1', port: behind.port },
      ],
      password: undefined,
    },
    target,
    timeoutMs: 500,
    log,
  });
  t.teardown(() => sentinel.close());
  t.deepEqual(await sentinel.locate(false), { host: '127.0.0.1', port: newMaster.port });

  // The sentinel that knew goes away: the one left is behind, and its answer is refused with why.
  current.close();
  await new Promise((r) => setTimeout(r, 1100));
  const err = await t.throwsAsync(sentinel.locate(true));
  t.regex(
    err.message,
    new RegExp(`sentinel 127\\.0\\.0\\.1:${behind.port} named 127\\.0\\.0\\.1:${oldMaster.port}, but with configuration epoch 0, older than 1`),
  );
});

test('the role is checked: a replica is passed over for the next sentinel, and an ACL user not allowed ROLE is still served', async (t) => {
  const replica = await standIn((args) => (args[0] === 'ROLE' ? ['slave', '127.0.0.1', 1, 'connected', 0] : new Error('ERR unknown command')));
  const restricted = await standIn(() => new Error("NOPERM User proxy has no permissions to run the 'role' command"));
  const naming = await Promise.all([sentinelNaming(replica.port, 0), sentinelNaming(restricted.port, 0)]);
  t.teardown(() => [replica, restricted, ...naming].forEach((s) => s.close()));
  const sentinel = createSentinel({
    config: { masterName: 'mymaster', sentinels: naming.map((s) => ({ host: '127.0.0.1', port: s.port })), password: undefined },
    target,
    timeoutMs: 500,
    log,
  });
  t.teardown(() => sentinel.close());
  t.deepEqual(await sentinel.locate(false), { host: '127.0.0.1', port: restricted.port });
});

test('asked again after a loss, the sentinels name a new master nobody announced: that is a switch, reported once', async (t) => {
  const [first, second] = await Promise.all([master(), master()]);
  let now = { port: first.port, epoch: 0 };
  const only = await sentinelNaming(0, 0, () => now);
  t.teardown(() => [first, second, only].forEach((s) => s.close()));
  const sentinel = createSentinel({
    config: { masterName: 'mymaster', sentinels: [{ host: '127.0.0.1', port: only.port }], password: undefined },
    target,
    timeoutMs: 500,
    log,
  });
  t.teardown(() => sentinel.close());
  const switches: [number, string][] = [];
  sentinel.watch((to, reason) => switches.push([to.port, reason]));
  t.is((await sentinel.locate(false)).port, first.port);

  // The failover happened while the proxy was not listening (it never hears +switch-master here).
  now = { port: second.port, epoch: 1 };
  // A new connection (a client's own) takes the address known; a reconnect soon after the last answer too.
  t.is((await sentinel.locate(false)).port, first.port);
  t.is((await sentinel.locate(true)).port, first.port);
  t.deepEqual(switches, []);
  // A reconnect later asks again, finds the new master, and the move is reported once, though asked twice.
  await new Promise((r) => setTimeout(r, 1100));
  const [a, b] = await Promise.all([sentinel.locate(true), sentinel.locate(true)]);
  t.is(a.port, second.port);
  t.is(b.port, second.port);
  t.deepEqual(switches, [[second.port, `master mymaster moved from 127.0.0.1:${first.port} to 127.0.0.1:${second.port}`]]);
});
