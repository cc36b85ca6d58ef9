// The Docker image cannot be built on these machines; these tests run what it runs: its CMD, ENV and HEALTHCHECK.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startRedis } from '../helpers/redis-server.ts';
import { waitForOutput } from '../helpers/tools.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const instruction = (name: string) => [...dockerfile.matchAll(new RegExp(`^${name} (.*)$`, 'gm'))].map((m) => m[1]!);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string }; dependencies: Record<string, string> };

test('the image runs the same command as npm start', (t) => {
  // Less npm start's `exec`, which only makes npm's shell give way to node.
  t.deepEqual(JSON.parse(instruction('CMD')[0]!), pkg.scripts.start.replace(/^exec /, '').split(' '));
});

test('the image installs only dependencies, and src imports nothing else', (t) => {
  t.true(dockerfile.includes('npm ci --omit=dev'));
  const imported = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else for (const m of readFileSync(path, 'utf8').matchAll(/^import (?!type ).*from '([^.'][^']*)';$/gm)) imported.add(m[1]!);
    }
  };
  walk(join(ROOT, 'src'));
  // 'tsx/esm/api' is package tsx; '@scope/name/sub' is @scope/name.
  const packageOf = (specifier: string) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
  const packages = [...imported].filter((name) => !name.startsWith('node:')).map(packageOf);
  t.deepEqual(packages.filter((name) => !(name in pkg.dependencies)), []);
  t.true(packages.length > 0);
});

test('the image\'s command, with its environment, serves on every interface and passes its health check', async (t) => {
  const redis = await startRedis();
  const cmd = JSON.parse(instruction('CMD')[0]!) as string[];
  const env = Object.fromEntries(instruction('ENV').map((line) => line.split('=') as [string, string]));
  t.deepEqual(env, { PROXY_LISTEN: '0.0.0.0' });
  const child = spawn(cmd[0] === 'node' ? process.execPath : cmd[0]!, cmd.slice(1), {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env, REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port), PROXY_PORT: '0', RESP_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const port = Number((await waitForOutput(child, /listening http=0\.0\.0\.0:(\d+) resp=0\.0\.0\.0:\d+/, "the image's command"))[1]);
    await redis.client.set('in-the-image', 'yes');
    t.is(await (await fetch(`http://127.0.0.1:${port}/query?key=in-the-image`)).text(), 'yes');
    const health = JSON.parse(/^HEALTHCHECK .* CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    const code = await new Promise<number | null>((res) => {
      spawn(process.execPath, health.slice(1), { env: { PATH: process.env.PATH, PROXY_PORT: String(port) }, stdio: 'ignore' }).once('exit', res);
    });
    t.is(code, 0);
  } finally {
    child.kill('SIGTERM');
    await redis.close();
  }
});
