// The image without Docker (no registry here): its COPY and RUN steps in a folder, its CMD with its ENV and Compose's, its HEALTHCHECK.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { readCompose, readDockerfile, serviceEnv, ROOT } from '../helpers/docker-files.ts';
import { localOnly } from '../helpers/local-only.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { waitForOutput } from '../helpers/tools.ts';

const dockerfile = readDockerfile();
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: { start: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

test('the image runs the same command as npm start', (t) => {
  // Less npm start's `exec`, which only makes npm's shell give way to node.
  t.deepEqual(JSON.parse(dockerfile.instruction('CMD')[0]!), pkg.scripts.start.replace(/^exec /, '').split(' '));
});

test('the image installs only dependencies, and src imports nothing else', (t) => {
  t.true(dockerfile.text.includes('npm ci --omit=dev'));
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
  const packageOf = (specifier: string) =>
    specifier
      .split('/')
      .slice(0, specifier.startsWith('@') ? 2 : 1)
      .join('/');
  const packages = [...imported].filter((name) => !name.startsWith('node:')).map(packageOf);
  t.deepEqual(
    packages.filter((name) => !(name in pkg.dependencies)),
    [],
  );
  t.true(packages.length > 0);
});

/**
 * The Dockerfile's COPY and RUN steps, in order, in a new folder standing for its WORKDIR: what the image
 * holds, installed by its own command. npm may answer from its cache (the suite's own install filled it).
 */
function buildLikeTheImage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rcp-image-'));
  for (const m of dockerfile.text.matchAll(/^(COPY|RUN) (.*)$/gm)) {
    if (m[1] === 'COPY') {
      const sources = m[2]!.split(/\s+/);
      const dest = sources.pop()!;
      // COPY a b dir/ puts each into dir; COPY src ./src copies src to that name.
      for (const source of sources) cpSync(join(ROOT, source), dest.endsWith('/') ? join(dir, dest, basename(source)) : join(dir, dest), { recursive: true });
    } else {
      const run = spawnSync('sh', ['-c', m[2]!], { cwd: dir, env: { ...process.env, npm_config_prefer_offline: 'true' }, encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`RUN ${m[2]} exited with ${run.status}:\n${run.stdout}${run.stderr}`);
    }
  }
  return dir;
}

localOnly("runs the image's command itself")(
  "the image's steps in a folder of their own, its command with its and Compose's environment: serves on every interface and passes its health check",
  async (t) => {
    const dir = buildLikeTheImage();
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // A production install: the runtime dependencies and nothing of the tests'.
    for (const name of Object.keys(pkg.dependencies)) t.true(existsSync(join(dir, 'node_modules', name)), name);
    for (const name of Object.keys(pkg.devDependencies)) t.false(existsSync(join(dir, 'node_modules', name)), name);

    const redis = await startRedis();
    t.teardown(() => redis.close());
    const cmd = JSON.parse(dockerfile.instruction('CMD')[0]!) as string[];
    t.deepEqual(dockerfile.env(), { PROXY_LISTEN: '0.0.0.0', PROTECTED_MODE: 'yes' });
    // Compose's variables on top, except where it names the redis service and the fixed ports: here they are
    // this test's Redis and free ports.
    const env = {
      ...dockerfile.env(),
      ...serviceEnv(readCompose().services.proxy!),
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(redis.port),
      PROXY_PORT: '0',
      RESP_PORT: '0',
    };
    const child = spawn(cmd[0] === 'node' ? process.execPath : cmd[0]!, cmd.slice(1), {
      cwd: dir,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.teardown(() => {
      child.kill('SIGTERM');
    });
    const port = Number((await waitForOutput(child, /listening http=0\.0\.0\.0:(\d+) resp=0\.0\.0\.0:\d+/, "the image's command"))[1]);
    await redis.client.set('in-the-image', 'yes');
    t.is(await (await fetch(`http://127.0.0.1:${port}/query?key=in-the-image`)).text(), 'yes');
    const health = dockerfile.healthcheck();
    t.regex(health.join(' '), /'\/readyz'/, 'the health check asks for readiness');
    const check = () =>
      new Promise<number | null>((res) => {
        spawn(process.execPath, health.slice(1), { env: { PATH: process.env.PATH, PROXY_PORT: String(port) }, stdio: 'ignore' }).once('exit', res);
      });
    t.is(await check(), 0);
    // Readiness, not liveness: without its Redis the container reports unhealthy.
    await redis.stop();
    const deadline = Date.now() + 15_000;
    let code = await check();
    while (code === 0 && Date.now() < deadline) code = await check();
    t.is(code, 1);
  },
);
