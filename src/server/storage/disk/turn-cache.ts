/**
 * Answers of a file-system check remembered until the end of the current event-loop turn (the next
 * setImmediate), never longer. The files of a putmany batch land in one turn: one walk or lstat then
 * serves all of them instead of one each. What this costs: the window between a check and the act it
 * protects grows by at most the rest of one turn (microseconds, a few ms for a large batch), the
 * order of the window that already separates each check from its landing (a landing worker's
 * hand-off, a thread-pool call), which no check made in this process can close. Only a check that
 * passed is kept; a failing one is made again, in full, each time.
 */
export class TurnCache<V> {
  private readonly values = new Map<string, V>();
  private clearing = false;

  /** The value set under `key` in this turn, if any. */
  get(key: string): V | undefined {
    return this.values.get(key);
  }

  /** Remembers `value` under `key` until the turn ends. */
  set(key: string, value: V): void {
    this.values.set(key, value);
    if (this.clearing) return;
    this.clearing = true;
    setImmediate(() => {
      this.clearing = false;
      this.values.clear();
    }).unref();
  }

  /** Forgets everything now (this process just changed what the answers vouched for). */
  clear(): void {
    this.values.clear();
  }
}
