/**
 * Up to `max` handles made on demand and lent out one caller at a time; callers beyond
 * that wait their turn in order. release() closes them all once the last one is back.
 */
export class HandlePool<H> {
  readonly #idle: H[] = [];
  readonly #waiting: Array<(handle: H) => void> = [];
  #made = 0;
  #lent = 0;
  #released = false;
  #drained: (() => void) | undefined;

  constructor(
    private readonly make: () => H,
    private readonly close: (handle: H) => void,
    private readonly max: number,
  ) {}

  async use<T>(fn: (handle: H) => Promise<T>): Promise<T> {
    const handle = await this.#take();
    try {
      return await fn(handle);
    } finally {
      this.#giveBack(handle);
    }
  }

  /** Closes the idle handles now and the lent ones as they come back. */
  release(): Promise<void> {
    this.#released = true;
    for (const handle of this.#idle.splice(0)) this.close(handle);
    if (this.#lent === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#drained = resolve));
  }

  #take(): Promise<H> {
    this.#lent++;
    const idle = this.#idle.pop();
    if (idle !== undefined) return Promise.resolve(idle);
    if (this.#made < this.max || this.#released) {
      this.#made++;
      return Promise.resolve(this.make());
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #giveBack(handle: H): void {
    // A waiter was counted as lent when it started waiting.
    this.#lent--;
    const next = this.#waiting.shift();
    if (next) return next(handle);
    if (!this.#released) {
      this.#idle.push(handle);
      return;
    }
    this.close(handle);
    if (this.#lent === 0) this.#drained?.();
  }
}
