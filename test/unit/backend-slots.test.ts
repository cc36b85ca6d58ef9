// MAX_PARALLEL's slots: taken while free, handed to waiters in arrival order, never more than the size in use.
import test from 'ava';
import { BackendSlots } from '../../src/cache/backend-slots.ts';

test('slots are taken while free, then reads wait in order and each release hands one over', async (t) => {
  const slots = new BackendSlots(2);
  t.true(slots.tryAcquire());
  t.true(slots.tryAcquire());
  t.false(slots.tryAcquire());
  const order: number[] = [];
  const waits = [1, 2, 3].map((n) => slots.wait().then(() => order.push(n)));
  t.is(slots.waiting, 3);
  slots.release();
  await waits[0];
  t.deepEqual(order, [1]);
  slots.release();
  slots.release();
  await Promise.all(waits);
  t.deepEqual(order, [1, 2, 3]);
  t.is(slots.waiting, 0);
  t.false(slots.tryAcquire(), 'the three released slots went to the three waiters');
  slots.release();
  t.true(slots.tryAcquire());
});
