/**
 * Groups a trickle of items into batches the way `attic push --stdin` and `attic watch-store` do
 * (attic `client/src/push.rs`, PushSession): a batch is released once `idleMs` pass without new
 * input or `maxMs` after its first item, whichever comes first. Batches are handed to the consumer
 * one at a time, in order.
 */

export interface BatcherOptions {
  idleMs?: number;
  maxMs?: number;
}

export class Batcher<T> {
  private pending: T[] = [];
  private idleTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly idleMs: number;
  private readonly maxMs: number;
  private readonly consume: (batch: T[]) => Promise<void>;

  constructor(consume: (batch: T[]) => Promise<void>, options: BatcherOptions = {}) {
    this.consume = consume;
    this.idleMs = options.idleMs ?? 2000;
    this.maxMs = options.maxMs ?? 10_000;
  }

  add(item: T): void {
    this.pending.push(item);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.release(), this.idleMs);
    this.maxTimer ??= setTimeout(() => this.release(), this.maxMs);
  }

  /** Releases what is pending now and resolves when every batch handed out so far is consumed. */
  async flush(): Promise<void> {
    this.release();
    await this.chain;
  }

  get size(): number {
    return this.pending.length;
  }

  private release(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    this.idleTimer = undefined;
    this.maxTimer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.chain = this.chain.then(() => this.consume(batch));
  }
}
