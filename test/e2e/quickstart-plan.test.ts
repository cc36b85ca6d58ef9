// The quick start's decision about Redis (scripts/quickstart-plan.ts): a Redis the settings name that answers is the user's, used and never seeded; only when none answers does it start a throwaway one.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { freePort, startRedis } from '../helpers/redis-server.ts';
import { run } from '../helpers/tools.ts';

const PLAN = resolve(import.meta.dirname, '../../scripts/quickstart-plan.ts');

/** Runs the plan in a folder holding `config` as .config, with `env`; returns its assignments. */
async function plan(t: { teardown(fn: () => void): void }, env: Record<string, string>, config = ''): Promise<Record<string, string>> {
  const cwd = mkdtempSync(join(tmpdir(), 'rcp-plan-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  writeFileSync(join(cwd, '.config'), config);
  const envArgs = Object.entries({ PATH: process.env.PATH ?? '', ...env }).map(([k, v]) => `${k}=${v}`);
  const { code, stdout, stderr } = await run('env', ['-C', cwd, '-i', ...envArgs, process.execPath, PLAN]);
  if (code !== 0) throw new Error(`the plan exited with ${code}: ${stderr}`);
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => /^(\w+)='(.*)'$/.exec(line)!.slice(1, 3) as [string, string]),
  );
}

const ports = { RESP_PORT: '0', PROXY_PORT: '0' };

test('a Redis named by the environment that answers is used, and no throwaway is planned', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const p = await plan(t, { ...ports, REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port) });
  t.is(p.redis, `redis://127.0.0.1:${redis.port}/0`);
  t.is(p.redis_answers, 'yes');
  t.is(p.throwaway_port, '');
});

test("a Redis named by .config (REDIS_URL) that answers only -NOAUTH is still the user's: used, not replaced", async (t) => {
  const redis = await startRedis({ password: 'secret' });
  t.teardown(() => redis.close());
  const p = await plan(t, ports, `REDIS_URL=redis://:wrong@127.0.0.1:${redis.port}/2\n`);
  t.is(p.redis, `redis://127.0.0.1:${redis.port}/2`);
  t.is(p.redis_answers, 'yes');
  t.is(p.throwaway_port, '');
});

test('when nothing answers where the settings point, a throwaway Redis gets a port that is free', async (t) => {
  const closed = await freePort();
  const p = await plan(t, { ...ports, REDIS_PORT: String(closed) });
  t.is(p.redis_answers, 'no');
  const port = Number(p.throwaway_port);
  t.true(port > 0);
  // Free: it can be bound (6379 when that is free, else one the system picked).
  await new Promise<void>((res, rej) => {
    const server = net.createServer().once('error', rej);
    server.listen(port, '127.0.0.1', () => server.close(() => res()));
  });
});

test('a RESP or HTTP port another program holds is reported, so the quick start stops before starting anything', async (t) => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  t.teardown(() => holder.close());
  const taken = (holder.address() as net.AddressInfo).port;
  const p = await plan(t, { REDIS_PORT: String(await freePort()), RESP_PORT: String(taken), PROXY_PORT: '0' });
  t.is(p.resp_port, String(taken));
  t.is(p.resp_port_free, 'no');
  t.is(p.http_port_free, 'yes');
});
