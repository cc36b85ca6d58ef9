// Owns which cached reads read which keys (beyond GET's one entry per key), so an invalidated key drops every entry that read it.

/**
 * Entries of the cached read commands (HGETALL h, EXISTS a b, …) by the Redis keys they read, and the
 * other way round. GET's entries are not here: each is found from its key and database directly.
 * An entry is added when its fetch starts, so a write acknowledged while it is under way finds it.
 */
export class KeyIndex {
  readonly #byKey = new Map<string, Set<string>>();
  readonly #byEntry = new Map<string, { readonly keys: readonly string[]; readonly command: string }>();
  readonly #byCommand = new Map<string, number>();

  /** `entry`, a read by `command` (lower case, from the proxy's own list), reads `keys`. */
  add(entry: string, keys: readonly string[], command: string): void {
    if (this.#byEntry.has(entry)) return;
    this.#byEntry.set(entry, { keys, command });
    this.#byCommand.set(command, (this.#byCommand.get(command) ?? 0) + 1);
    for (const key of keys) {
      let entries = this.#byKey.get(key);
      if (entries === undefined) this.#byKey.set(key, (entries = new Set()));
      entries.add(entry);
    }
  }

  /** The entries that read `key` (a copy: dropping them changes the index). */
  entriesOf(key: string): string[] {
    const entries = this.#byKey.get(key);
    return entries === undefined ? [] : [...entries];
  }

  /** Forgets `entry` (it left the cache, or its fetch ended without storing it). */
  drop(entry: string): void {
    const found = this.#byEntry.get(entry);
    if (found === undefined) return;
    this.#byEntry.delete(entry);
    const left = this.#byCommand.get(found.command)! - 1;
    if (left === 0) this.#byCommand.delete(found.command);
    else this.#byCommand.set(found.command, left);
    for (const key of found.keys) {
      const entries = this.#byKey.get(key);
      if (entries === undefined) continue;
      entries.delete(entry);
      if (entries.size === 0) this.#byKey.delete(key);
    }
  }

  clear(): void {
    this.#byKey.clear();
    this.#byEntry.clear();
    this.#byCommand.clear();
  }

  /** Entries (cached or being fetched) by command, for INFO. */
  byCommand(): ReadonlyMap<string, number> {
    return this.#byCommand;
  }

  /** Entries indexed, for INFO. */
  get size(): number {
    return this.#byEntry.size;
  }
}
