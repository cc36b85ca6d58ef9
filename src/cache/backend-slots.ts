// Owns MAX_PARALLEL: how many backend reads may be in flight at once, and the FIFO of reads waiting for a slot.

/**
 * A counting semaphore with O(1) acquire and release and no promise when a slot is free.
 *
 * Why not async-mutex's Semaphore: its release walks every weight from the current value down to 1
 * (`_drainUnlockWaiters`), so each release costs O(MAX_PARALLEL); on the miss benchmark it took 4% of
 * the proxy's CPU at MAX_PARALLEL=256 and 47% at 4096. Its acquire also always returns a promise.
 */
export class BackendSlots {
  #free: number;
  // Waiting reads, oldest first; #head skips the ones already served without shifting the array.
  #waiting: (() => void)[] = [];
  #head = 0;

  constructor(size: number) {
    this.#free = size;
  }

  /** Takes a slot if one is free. */
  tryAcquire(): boolean {
    if (this.#free === 0) return false;
    this.#free--;
    return true;
  }

  /** Resolves once a slot has been handed over (call only after tryAcquire failed). */
  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Gives the slot back, straight to the oldest waiting read if there is one. */
  release(): void {
    if (this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head]!;
      this.#waiting[this.#head++] = undefined!;
      if (this.#head === this.#waiting.length) {
        this.#waiting = [];
        this.#head = 0;
      }
      next();
    } else {
      this.#free++;
    }
  }

  /** Reads waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length - this.#head;
  }
}
