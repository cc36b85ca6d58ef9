// MAX_CLIENTS on the HTTP port: at the limit the connection idle longest makes room; only a full house of answers refuses.
import test from 'ava';
import { ConnectionSlots } from '../../src/http/connection-slots.ts';

class FakeSocket {
  destroyed = false;
  destroy() {
    this.destroyed = true;
  }
}

function setup(max: number) {
  const stats = { httpClients: 0, httpRejected: 0 };
  const slots = new ConnectionSlots<FakeSocket>(max, stats);
  const open = () => {
    const socket = new FakeSocket();
    return { socket, admitted: slots.admit(socket) };
  };
  return { stats, slots, open };
}

test('below the limit every connection is admitted and counted; a close frees its slot once', (t) => {
  const { stats, slots, open } = setup(2);
  const a = open();
  const b = open();
  t.true(a.admitted && b.admitted);
  t.is(stats.httpClients, 2);
  slots.closed(a.socket);
  slots.closed(a.socket);
  t.is(stats.httpClients, 1);
  t.true(open().admitted);
  t.false(b.socket.destroyed, 'a slot freed by a close needs no eviction');
  t.is(stats.httpClients, 2);
  t.is(stats.httpRejected, 0);
});

test('at the limit the oldest connection with nothing being answered is closed to make room', (t) => {
  const { stats, slots, open } = setup(3);
  const [a, b, c] = [open().socket, open().socket, open().socket];
  slots.requestStarted(a); // a is answering: it keeps its slot
  const d = open();
  t.true(d.admitted);
  t.deepEqual(
    [a, b, c].map((s) => s.destroyed),
    [false, true, false],
    'b, the oldest idle, made room',
  );
  t.is(stats.httpClients, 3);
  slots.closed(b); // its 'close' event arrives later and changes nothing
  t.is(stats.httpClients, 3);

  // a becomes idle after c and d: it is now the newest idle, so c goes next, then d, then a.
  slots.requestFinished(a);
  open();
  t.true(c.destroyed);
  open();
  t.true(d.socket.destroyed);
  t.false(a.destroyed);
  open();
  t.true(a.destroyed);
  t.is(stats.httpClients, 3);
  t.is(stats.httpRejected, 0);
});

test('only when every slot is answering is a newcomer refused, and counted', (t) => {
  const { stats, slots, open } = setup(2);
  const a = open().socket;
  const b = open().socket;
  slots.requestStarted(a);
  slots.requestStarted(b);
  slots.requestStarted(b); // a pipelined second request on b
  t.true(slots.isAnswering(b));
  const refused = open();
  t.false(refused.admitted);
  t.false(refused.socket.destroyed, "closing the refused one is the caller's job");
  t.deepEqual([a.destroyed, b.destroyed], [false, false]);
  t.is(stats.httpRejected, 1);
  t.is(stats.httpClients, 2);

  slots.requestFinished(b);
  t.true(slots.isAnswering(b), 'b still owes its second answer');
  t.false(open().admitted);
  slots.requestFinished(b);
  t.false(slots.isAnswering(b));
  t.true(open().admitted);
  t.true(b.destroyed);
  t.false(a.destroyed);
  t.is(stats.httpRejected, 2);
  t.is(stats.httpClients, 2);
});

test('answers that end after their connection closed free nothing twice', (t) => {
  const { stats, slots, open } = setup(2);
  const a = open().socket;
  slots.requestStarted(a);
  slots.closed(a);
  slots.requestFinished(a);
  t.is(stats.httpClients, 0);
  t.false(slots.isAnswering(a));
  const b = open().socket;
  open();
  open();
  t.true(b.destroyed, 'the closed connection was not put back in the idle list');
  t.is(stats.httpClients, 2);
});
