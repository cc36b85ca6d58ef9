// The backend's command queue: in-order matching, MAX_PARALLEL, deadlines counted once from queueing, retries after a lost connection.
import test from 'ava';
import { CommandQueue } from '../../src/backend/command-queue.ts';
import { LATENCY_BOUNDS_MS, LatencyHistogram } from '../../src/stats.ts';

const timedOut = () => new Error('timed out');
const make = (maxInFlight = 100, deadlineTicks = 3) => new CommandQueue({ maxInFlight, deadlineTicks, timedOut });

/** Records how each promise settled, without waiting for it. */
function watch(promise: Promise<unknown>) {
  const state: { value?: unknown; error?: string } = {};
  promise.then(
    (v) => (state.value = v),
    (e: Error) => (state.error = e.message),
  );
  return state;
}
const settle = () => new Promise((r) => setImmediate(r));

test('replies go to commands in the order they were written', async (t) => {
  const q = make();
  const a = watch(q.enqueue('A', true));
  const b = watch(q.enqueue('B', true));
  t.is(q.takeWritable(), 'AB');
  t.is(q.awaitingReply, 2);
  t.true(q.reply('ra'));
  t.true(q.replyError(new Error('rb')));
  t.false(q.reply('extra'), 'a reply with no command is reported, not swallowed');
  await settle();
  t.deepEqual(a, { value: 'ra' });
  t.deepEqual(b, { error: 'rb' });
});

test('at most maxInFlight commands await a reply; each reply lets the next one go', (t) => {
  const q = make(2);
  for (const c of 'ABCDE') void q.enqueue(c, true);
  t.is(q.takeWritable(), 'AB');
  t.is(q.takeWritable(), '');
  t.false(q.writable);
  q.reply(1);
  t.true(q.writable);
  t.is(q.takeWritable(), 'C');
  q.reply(2);
  q.reply(3);
  t.is(q.takeWritable(), 'DE');
  t.is(q.waiting, 0);
});

test('a deadline counts from queueing: commands waiting for a turn fail too, and never get written', async (t) => {
  const q = make(1, 2);
  const sent = watch(q.enqueue('A', true));
  const queued = watch(q.enqueue('B', true));
  t.is(q.takeWritable(), 'A');
  q.sweep();
  await settle();
  t.deepEqual(queued, {});
  t.is(q.sweep(), 2);
  await settle();
  t.deepEqual(sent, { error: 'timed out' });
  t.deepEqual(queued, { error: 'timed out' });
  t.is(q.waiting, 0, 'a timed-out command is dropped before it is written');
  t.is(q.awaitingReply, 1, 'a timed-out command that was written keeps its place until its reply comes');
  // Its late reply is read and dropped; the next command gets its own reply.
  const next = watch(q.enqueue('C', true));
  t.is(q.takeWritable(), '', 'the late reply still counts against maxInFlight');
  q.reply('late A');
  t.is(q.takeWritable(), 'C');
  q.reply('rc');
  await settle();
  t.deepEqual(next, { value: 'rc' });
});

test('a lost connection: retriable commands go again first, in order; the others fail; timed-out ones are dropped', async (t) => {
  const q = make(10, 2);
  const old = watch(q.enqueue('OLD', true));
  q.takeWritable();
  q.sweep();
  q.sweep();
  const read = watch(q.enqueue('GET', true));
  const write = watch(q.enqueue('SET', false));
  t.is(q.takeWritable(), 'GETSET');
  const later = watch(q.enqueue('LATER', true));
  q.connectionLost(new Error('lost'));
  await settle();
  t.deepEqual(old, { error: 'timed out' });
  t.deepEqual(write, { error: 'lost' });
  t.deepEqual(read, {});
  t.is(q.awaitingReply, 0);
  // The handshake of the next connection goes first, then the retried read, then what was queued.
  const hello = watch(q.sendNow('HELLO'));
  t.is(q.takeWritable(), 'GETLATER');
  q.reply('hi');
  q.reply('rget');
  q.reply('rlater');
  await settle();
  t.deepEqual([hello, read, later], [{ value: 'hi' }, { value: 'rget' }, { value: 'rlater' }]);
});

test('failAll fails everything not yet answered', async (t) => {
  const q = make(1);
  const a = watch(q.enqueue('A', true));
  const b = watch(q.enqueue('B', true));
  q.takeWritable();
  q.failAll(new Error('down'));
  await settle();
  t.deepEqual([a, b], [{ error: 'down' }, { error: 'down' }]);
  t.is(q.awaitingReply + q.waiting, 0);
});

test('a command for another database is preceded by SELECT, whose reply is dropped; retried commands select again', async (t) => {
  const q = make(10, 100);
  q.connected(0);
  const a = watch(q.enqueue('A', true, 0));
  const b = watch(q.enqueue('B', true, 2));
  const c = watch(q.enqueue('C', true, 2));
  const any = watch(q.enqueue('X', true));
  t.is(q.takeWritable(), 'A*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\nBCX');
  q.reply('ra');
  q.reply('+OK for SELECT');
  q.reply('rb');
  // The connection dies before C's reply: on the next one (in db 0 again) C selects db 2 again.
  q.connectionLost(new Error('lost'));
  q.connected(0);
  t.is(q.takeWritable(), '*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\nCX');
  q.reply('+OK');
  q.reply('rc');
  q.reply('rx');
  await settle();
  t.deepEqual([a, b, c, any], [{ value: 'ra' }, { value: 'rb' }, { value: 'rc' }, { value: 'rx' }]);
});

test('a SELECT Redis refuses fails the reads written after it (they ran in the old database) and the next command selects again', async (t) => {
  const q = make(10, 100);
  q.connected(9);
  const a = watch(q.enqueue('A', true, 0));
  const b = watch(q.enqueue('B', true, 0));
  t.is(q.takeWritable(), '*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\nAB');
  q.replyError(new Error('BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.'));
  // A's and B's replies were read in database 9: dropped, never handed over.
  q.reply('value of A in db 9');
  q.reply('value of B in db 9');
  const c = watch(q.enqueue('C', true, 0));
  t.is(q.takeWritable(), '*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\nC', 'the database is unknown: the next command selects it again');
  q.reply('+OK');
  q.reply('rc');
  await settle();
  t.deepEqual(a, { error: 'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.' });
  t.deepEqual(b, a);
  t.deepEqual(c, { value: 'rc' });
  t.is(q.awaitingReply, 0);
});

test('a write waiting for a SELECT that Redis refuses fails with the refusal; one for another database is not touched', async (t) => {
  const q = make(10, 100);
  q.connected(0);
  const write = watch(q.enqueue('W', false, 2));
  const other = watch(q.enqueue('O', false, 0));
  t.is(q.takeWritable(), '*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n');
  q.replyError(new Error('BUSY busy'));
  t.is(q.takeWritable(), '*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n', 'the database is unknown, even for a command in the old one');
  q.reply('+OK');
  t.is(q.takeWritable(), 'O');
  q.reply('ro');
  await settle();
  t.deepEqual([write, other], [{ error: 'BUSY busy' }, { value: 'ro' }]);
});

test('a connection lost before its SELECT was answered retries what waited for it on the next connection', async (t) => {
  const q = make(10, 100);
  q.connected(0);
  const read = watch(q.enqueue('R', true, 2));
  const write = watch(q.enqueue('W', false, 2));
  t.is(q.takeWritable(), '*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\nR');
  q.connectionLost(new Error('lost'));
  q.connected(0);
  t.is(q.takeWritable(), '*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\nR');
  q.reply('+OK');
  t.is(q.takeWritable(), 'W');
  q.reply('rr');
  q.reply('rw');
  await settle();
  t.deepEqual([read, write], [{ value: 'rr' }, { value: 'rw' }]);
});

test('on a connection that relays frames, a SELECT refused as an error frame counts as refused too', async (t) => {
  const q = make(10, 100);
  q.connected(9);
  const a = watch(q.enqueue('A', true, 0, true));
  t.is(q.takeWritable(), '*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\nA');
  q.reply(Buffer.from("-NOPERM this user has no permissions to run the 'select' command\r\n"));
  q.reply(Buffer.from('$-1\r\n'));
  await settle();
  t.deepEqual(a, { error: "NOPERM this user has no permissions to run the 'select' command" });
});

test('a write for another database waits until Redis has accepted the SELECT; so does a second switch', async (t) => {
  const q = make(10, 100);
  q.connected(0);
  const read = watch(q.enqueue('R', true, 2));
  const write = watch(q.enqueue('W', false, 2));
  const other = watch(q.enqueue('O', true, 3));
  t.is(q.takeWritable(), '*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\nR', 'the read may follow the SELECT; the write may not');
  t.is(q.takeWritable(), '', 'nothing more until the SELECT is answered');
  q.reply('+OK');
  t.is(q.takeWritable(), 'W*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\nO');
  q.reply('rr');
  q.reply('rw');
  q.reply('+OK');
  q.reply('ro');
  await settle();
  t.deepEqual([read, write, other], [{ value: 'rr' }, { value: 'rw' }, { value: 'ro' }]);
});

test('a pair (a read and its PTTL) is answered by two replies together; onFirst runs as the first is read; the stream stays in step', async (t) => {
  const q = make(10, 3);
  let firsts = 0;
  const pair = watch(q.enqueuePair('GP', 0, () => firsts++));
  const after = watch(q.enqueue('A', true));
  t.is(q.takeWritable(), 'GPA');
  t.true(q.reply('value'));
  t.is(firsts, 1, 'synchronously, as the first reply is handed over');
  t.is(q.awaitingReply, 2, 'the pair still awaits its second reply');
  t.true(q.reply(':-1'));
  t.true(q.reply('ra'));
  await settle();
  t.deepEqual(pair, { value: ['value', ':-1'] });
  t.deepEqual(after, { value: 'ra' });
});

test('a pair whose first reply is an error fails with it once the second has come; a timed-out pair still takes both replies', async (t) => {
  const q = make(10, 1);
  const wrongType = watch(q.enqueuePair('GP', 0, () => {}));
  const slow = watch(q.enqueuePair('GP', 0, () => {}));
  const next = watch(q.enqueue('B', true));
  q.takeWritable();
  q.replyError(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'));
  q.reply(':-1');
  q.sweep();
  q.sweep();
  await settle();
  t.deepEqual(slow, { error: 'timed out' });
  q.reply('late value');
  q.reply(':5');
  q.reply('rb');
  await settle();
  t.deepEqual(wrongType, { error: 'WRONGTYPE Operation against a key holding the wrong kind of value' });
  t.deepEqual(next, { error: 'timed out' }, 'timed out with the rest, and its reply dropped in step');
  t.is(q.awaitingReply, 0);
});

test('a pair whose connection is lost between its two replies is sent again whole; onFirst runs again', async (t) => {
  const q = make(10, 100);
  q.connected(0);
  let firsts = 0;
  const pair = watch(q.enqueuePair('GP', 0, () => firsts++));
  t.is(q.takeWritable(), 'GP');
  q.reply('old value');
  q.connectionLost(new Error('lost'));
  q.connected(0);
  t.is(q.takeWritable(), 'GP');
  q.reply('new value');
  q.reply(':100');
  await settle();
  t.is(firsts, 2);
  t.deepEqual(pair, { value: ['new value', ':100'] });
});

test('each reply counts its latency from the write that sent it to the read that brought it; handshake commands do not', (t) => {
  const latency = new LatencyHistogram();
  const q = new CommandQueue({ maxInFlight: 100, deadlineTicks: 3, timedOut, latency });
  void q.sendNow('HELLO').catch(() => {});
  q.enqueue('A', true).catch(() => {});
  q.enqueue('B', true).catch(() => {});
  t.is(q.takeWritable(1000), 'AB');
  q.enqueue('C', true).catch(() => {});
  t.is(q.takeWritable(1002), 'C');
  q.reply('hello', 1003);
  q.reply('ra', 1000.05); // one chunk brings A and B
  q.replyError(new Error('rb'), 1000.05);
  q.reply('rc', 1030);
  // 0.05 ms twice (≤ 0.1 ms), 28 ms once (≤ 50 ms); the handshake's reply is not a read's.
  t.deepEqual(latency.counts, [2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  t.is(Math.round(latency.sumMs * 100) / 100, 28.1);
});

test('a read sent again after a lost connection counts from its second write; a late reply to a timed-out one still counts', (t) => {
  const latency = new LatencyHistogram();
  const q = new CommandQueue({ maxInFlight: 100, deadlineTicks: 1, timedOut, latency });
  q.enqueue('A', true).catch(() => {});
  q.takeWritable(0);
  q.connectionLost(new Error('lost'));
  t.is(q.takeWritable(500), 'A');
  q.reply('ra', 501);
  q.enqueue('B', true).catch(() => {});
  q.takeWritable(600);
  q.sweep();
  q.sweep(); // B timed out; its reply comes 3 s after it was written
  q.reply('late', 3600);
  t.deepEqual(latency.counts, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
});

test('latency buckets hold values up to and including their bound, the last one the rest', (t) => {
  const h = new LatencyHistogram();
  for (const ms of [0, 0.1, 0.10001, 2500, 2500.1, 1e9]) h.observe(ms);
  const expected = new Array(LATENCY_BOUNDS_MS.length + 1).fill(0);
  expected[0] = 2;
  expected[1] = 1;
  expected[LATENCY_BOUNDS_MS.length - 1] = 1;
  expected[LATENCY_BOUNDS_MS.length] = 2;
  t.deepEqual(h.counts, expected);
});
