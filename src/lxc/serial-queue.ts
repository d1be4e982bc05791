/**
 * Runs async tasks one at a time, in the order they were queued. A failed task does not
 * stop the ones behind it.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every task queued so far has settled. */
  drained(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
