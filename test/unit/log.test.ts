// The logger wrapper: levels, fields, masking, pretty lines, written before the call returns; refusals rate-limited on a fake clock.
import test from 'ava';
import { createLogger, type LoggerOptions, resolveLogFormat } from '../../src/log.ts';
import { type LimiterClock, rateLimitedLog, refusalLog } from '../../src/log-rate-limit.ts';

function capture(options: LoggerOptions = {}) {
  const lines: string[] = [];
  const log = createLogger({ ...options, write: (line) => lines.push(line) });
  return { log, lines, json: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

test('a JSON line per event, written before the call returns: level name, ISO time, msg and the fields', (t) => {
  const { log, lines, json } = capture();
  log.info('backend 127.0.0.1:6379 connected', { event: 'backend_connected', backend: '127.0.0.1:6379' });
  t.is(lines.length, 1, 'written synchronously: nothing is lost when process.exit() follows');
  t.true(lines[0]!.endsWith('}\n'));
  t.false(lines[0]!.slice(0, -1).includes('\n'), 'one line');
  const [line] = json();
  t.like(line, { level: 'info', msg: 'backend 127.0.0.1:6379 connected', event: 'backend_connected', backend: '127.0.0.1:6379', pid: process.pid });
  t.regex(String(line!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.true(Math.abs(Date.parse(String(line!.time)) - Date.now()) < 60_000);
});

test('levels: info by default; a level hides those less severe; silent hides all', (t) => {
  const byDefault = capture();
  byDefault.log.debug('not shown');
  byDefault.log.info('shown');
  t.deepEqual(
    byDefault.json().map((l) => l.msg),
    ['shown'],
  );
  t.false(byDefault.log.isLevelEnabled('debug'));
  t.true(byDefault.log.isLevelEnabled('info'));

  const warn = capture({ level: 'warn' });
  warn.log.debug('d');
  warn.log.info('i');
  warn.log.warn('w');
  warn.log.error('e');
  warn.log.fatal('f');
  t.deepEqual(
    warn.json().map((l) => [l.level, l.msg]),
    [
      ['warn', 'w'],
      ['error', 'e'],
      ['fatal', 'f'],
    ],
  );

  const debug = capture({ level: 'debug' });
  debug.log.debug('d', { id: 1 });
  t.like(debug.json()[0], { level: 'debug', msg: 'd', id: 1 });
  t.true(debug.log.isLevelEnabled('debug'));

  const silent = capture({ level: 'silent' });
  silent.log.fatal('f');
  silent.log.error('e');
  t.deepEqual(silent.lines, []);
});

test('a disabled level costs no work: its fields are not even read', (t) => {
  const { log, lines } = capture({ level: 'info' });
  let read = false;
  log.debug('per request', {
    get key() {
      read = true;
      return 'k';
    },
  });
  t.false(read);
  t.deepEqual(lines, []);
});

test('secrets never appear: URL passwords in the message and in fields at any depth, secret-named fields', (t) => {
  const { log, lines, json } = capture();
  log.info('using redis://bob:hunter2@cache:6390/1', {
    settings: { REDIS_URL: { value: 'redis://bob:hunter2@cache:6390/1', from: 'environment' } },
    target: { host: 'cache', password: 'hunter2' },
    list: ['rediss://:hunter2@x'],
  });
  t.false(lines.join('').includes('hunter2'), lines.join(''));
  t.like(json()[0], {
    msg: 'using redis://bob:***@cache:6390/1',
    settings: { REDIS_URL: { value: 'redis://bob:***@cache:6390/1', from: 'environment' } },
    target: { host: 'cache', password: '***' },
    list: ['rediss://:***@x'],
  });
});

test('an Error under err is logged with its type, message, code and stack, masked', (t) => {
  const { log, json } = capture();
  const err = Object.assign(new TypeError('cannot reach redis://:hunter2@h'), { code: 'E_TEST' });
  log.error('internal', { event: 'internal_error', err });
  const line = json()[0]!;
  const logged = line.err as Record<string, string>;
  t.is(logged.type, 'TypeError');
  t.is(logged.message, 'cannot reach redis://:***@h');
  t.is(logged.code, 'E_TEST');
  t.regex(logged.stack!, /^TypeError: cannot reach redis:\/\/:\*\*\*@h\n\s+at /);
  t.false(JSON.stringify(line).includes('hunter2'));
});

test('pretty: one line per event with time, level, message and fields; colours only when asked', (t) => {
  const { log, lines } = capture({ format: 'pretty' });
  log.warn('backend 127.0.0.1:1: connection lost (read ECONNRESET), reconnecting', { event: 'backend_lost', reason: 'read ECONNRESET' });
  t.is(lines.length, 1);
  t.regex(
    lines[0]!,
    /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] WARN: backend 127\.0\.0\.1:1: connection lost \(read ECONNRESET\), reconnecting \{"event":"backend_lost","reason":"read ECONNRESET"\}\n$/,
  );
  t.false(lines[0]!.includes('\u001b['), 'no escape codes');

  const coloured = capture({ format: 'pretty', colorize: true });
  coloured.log.error('boom');
  t.true(coloured.lines[0]!.includes('\u001b['));
});

test('LOG_FORMAT auto is pretty on a terminal, JSON otherwise; json and pretty are taken as they are', (t) => {
  t.is(resolveLogFormat('auto', true), 'pretty');
  t.is(resolveLogFormat('auto', false), 'json');
  t.is(resolveLogFormat('json', true), 'json');
  t.is(resolveLogFormat('pretty', false), 'pretty');
});

/** A clock whose time and timers move only when the test says so. */
function fakeClock() {
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { at: number; callback: () => void }>();
  const clock: LimiterClock = {
    now: () => now,
    setTimeout(callback, ms) {
      const id = nextId++;
      timers.set(id, { at: now + ms, callback });
      return id;
    },
    clearTimeout: (id) => void timers.delete(id as number),
  };
  return {
    clock,
    pendingTimers: () => timers.size,
    advance(ms: number) {
      const until = now + ms;
      for (;;) {
        const due = [...timers].filter(([, timer]) => timer.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].callback();
      }
      now = until;
    },
  };
}

test('rate limit: the first occurrence at once, then at most one report per interval with the count since the last', (t) => {
  const fake = fakeClock();
  const reports: [number, number][] = [];
  const limited = rateLimitedLog(10_000, (count, periodMs) => reports.push([count, periodMs]), fake.clock);

  limited.count();
  t.deepEqual(reports, [[1, 0]], 'the first is reported as it happens');
  for (let i = 0; i < 49; i++) limited.count();
  fake.advance(9_999);
  t.deepEqual(reports, [[1, 0]], 'nothing more within the interval');
  fake.advance(1);
  t.deepEqual(
    reports,
    [
      [1, 0],
      [49, 10_000],
    ],
    'the rest, counted, at the end of the interval',
  );

  // A flood that goes on: one report per interval.
  for (let second = 0; second < 30; second++) {
    for (let i = 0; i < 100; i++) limited.count();
    fake.advance(1_000);
  }
  t.deepEqual(reports.slice(2), [
    [1000, 10_000],
    [1000, 10_000],
    [1000, 10_000],
  ]);

  // Quiet: the timer stops, and the next occurrence is reported at once again.
  fake.advance(10_000);
  t.is(reports.length, 5, 'nothing reported for an interval with no occurrence');
  t.is(fake.pendingTimers(), 0, 'no timer left while quiet');
  fake.advance(60_000);
  limited.count();
  t.deepEqual(reports.at(-1), [1, 0]);
  t.is(
    reports.reduce((sum, [count]) => sum + count, 0),
    1 + 49 + 3000 + 1,
    'every occurrence counted once',
  );
});

test('rate limit: flush reports what is pending (at shutdown) and stops the timer', (t) => {
  const fake = fakeClock();
  const reports: [number, number][] = [];
  const limited = rateLimitedLog(10_000, (count, periodMs) => reports.push([count, periodMs]), fake.clock);
  limited.flush();
  t.deepEqual(reports, [], 'nothing to report');
  limited.count();
  limited.count();
  limited.count();
  fake.advance(2_500);
  limited.flush();
  t.deepEqual(reports, [
    [1, 0],
    [2, 2_500],
  ]);
  t.is(fake.pendingTimers(), 0);
  limited.flush();
  t.is(reports.length, 2, 'a second flush has nothing to add');
});

test('refused connections: one warning for a burst, with the front end, the count and MAX_CLIENTS as fields', (t) => {
  const fake = fakeClock();
  const { log, json } = capture();
  const refusals = refusalLog(log, 'RESP', 1, fake.clock);
  for (let i = 0; i < 50; i++) refusals.count();
  fake.advance(10_000);
  const lines = json();
  t.is(lines.length, 2);
  t.like(lines[0], { level: 'warn', event: 'clients_refused', frontEnd: 'resp', refused: 1, maxClients: 1, periodSeconds: 0 });
  t.regex(String(lines[0]!.msg), /^RESP port refused a connection: MAX_CLIENTS \(1\) reached; further refusals are counted and logged at most every 10 s$/);
  t.like(lines[1], { level: 'warn', event: 'clients_refused', frontEnd: 'resp', refused: 49, maxClients: 1, periodSeconds: 10 });
  t.is(lines[1]!.msg, 'RESP port refused 49 connections in the last 10 s: MAX_CLIENTS (1) reached');

  const http = capture();
  const httpRefusals = refusalLog(http.log, 'HTTP', 3, fake.clock);
  httpRefusals.count();
  t.regex(String(http.json()[0]!.msg), /^HTTP port refused a connection: MAX_CLIENTS \(3\) reached and every connection is being answered/);
  t.like(http.json()[0], { frontEnd: 'http' });
});
