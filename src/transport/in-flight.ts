// What a server holds while requests are in flight (their calls' abort controllers, HTTP/2 bodies
// still coming), kept in a doubly linked list rather than a Set or Map.
//
// Why not a Set: a Set or Map that lives as long as the server is soon in V8's old generation, and
// V8 allocates the table such a collection rehashes into in the generation of the table it
// replaces (OrderedHashTable::Rehash). Adding and deleting an entry per request makes the table
// rehash every few requests, so each one leaves dead tables in the old generation; and the dead
// table keeps a link to its young successor, which a scavenge must then keep too. Measured: the
// empty RPC over HTTP/1.1 promoted 125 bytes a call to the old generation with one such Set, 1 with
// this list (npm run bench:promotion); test/transport/in-flight.test.ts shows the difference on
// its own. A list entry is one young object, and unlinking one writes nothing that outlives it.
//
// An entry that leaves is cut from its neighbours and its value: an entry that lived long enough
// to reach the old generation and then died must not point at young objects, which each scavenge
// would otherwise keep alive until the next full collection.

/** One value in an InFlight list; hand it back to `remove`. */
export interface InFlightEntry<T extends object> {
  /** undefined once removed. */
  value: T | undefined;
  prev: InFlightEntry<T> | undefined;
  next: InFlightEntry<T> | undefined;
}

export class InFlight<T extends object> {
  #head: InFlightEntry<T> | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(value: T): InFlightEntry<T> {
    const entry: InFlightEntry<T> = { value, prev: undefined, next: this.#head };
    if (this.#head !== undefined) this.#head.prev = entry;
    this.#head = entry;
    this.#size++;
    return entry;
  }

  /** Takes the entry out; a second call for the same entry does nothing. */
  remove(entry: InFlightEntry<T>): void {
    if (entry.value === undefined) return;
    if (entry.prev !== undefined) entry.prev.next = entry.next;
    else this.#head = entry.next;
    if (entry.next !== undefined) entry.next.prev = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
    entry.value = undefined;
    this.#size--;
  }

  /**
   * Calls `visit` with each value in the list when forEach began, newest first. `visit` may
   * remove any entry: one removed before its turn is skipped. Values added meanwhile are not
   * visited.
   */
  forEach(visit: (value: T, entry: InFlightEntry<T>) => void): void {
    const entries: InFlightEntry<T>[] = [];
    for (let entry = this.#head; entry !== undefined; entry = entry.next) entries.push(entry);
    for (const entry of entries) if (entry.value !== undefined) visit(entry.value, entry);
  }
}
