/**
 * Reusable memory for NAR reads. Every batch read used to get a fresh buffer (1 MiB from a read
 * worker, tens of KiB on the main thread), and V8 answers that much external memory with a full
 * mark-compact every few tens of MiB read: a download pass spent a fifth of the main thread in the
 * garbage collector (docs/performance.md). Reads now fill fixed slots of shared memory
 * (SharedArrayBuffer, so a read worker writes into them without a transfer) that are handed out
 * again once the bytes have been written to the socket (`recycle`).
 *
 * A slot comes back through `recycle` of the buffer it was lent as (its one user, the NAR response,
 * calls it once the socket is done with the bytes), or once that buffer is garbage
 * (FinalizationRegistry: a reader that never recycles only costs the pool that slot until the next
 * collection); a buffer recycled twice or never lent is ignored. Slots are made on
 * demand up to a limit per size class (reads beyond get a fresh buffer as before) and dropped after
 * a quiet period, so an idle server holds none.
 */

export interface ReadSlot {
  readonly index: number;
  readonly memory: SharedArrayBuffer;
}

interface SizeClass {
  bytes: number;
  limit: number;
  free: ReadSlot[];
  made: number;
}

/** Small reads (one NAR of a closure) and worker batches (~1 MiB plus one chunk). */
const CLASSES = [
  { bytes: 128 * 1024, limit: 64 },
  { bytes: 1536 * 1024, limit: 16 },
] as const;
const IDLE_DROP_MS = 30_000;

export interface ReadPool {
  /** A free slot of at least `bytes`, or undefined (none left, or too big for any slot). */
  take(bytes: number): ReadSlot | undefined;
  /** A slot that was taken but not lent (the read failed or did not fit). */
  giveBack(slot: ReadSlot): void;
  /** The slot's first `length` bytes as a Buffer, lent until `recycle` (or until it is garbage). */
  lend(slot: ReadSlot, length: number): Buffer;
  /** The caller is done with a buffer `lend` returned (its bytes are on the socket); others are ignored. */
  recycle(buffer: Uint8Array): void;
}

export function createReadPool(): ReadPool {
  let classes: SizeClass[] = [];
  let nextIndex = 0;
  let lastUse = 0;
  let idleCheckPending = false;
  const reset = () => {
    classes = CLASSES.map((c) => ({ ...c, free: [], made: 0 }));
  };
  reset();
  const slotClass = new Map<number, SizeClass>();
  const lent = new WeakMap<Uint8Array, ReadSlot>();
  const registry = new FinalizationRegistry<ReadSlot>((slot) => release(slot));

  function release(slot: ReadSlot): void {
    // A slot of a generation dropped while idle is not reused.
    const cls = slotClass.get(slot.index);
    if (cls && classes.includes(cls)) cls.free.push(slot);
  }

  const dropWhenIdle = (): void => {
    if (performance.now() - lastUse < IDLE_DROP_MS) {
      setTimeout(dropWhenIdle, IDLE_DROP_MS).unref();
      return;
    }
    idleCheckPending = false;
    slotClass.clear();
    reset();
  };

  return {
    take(bytes) {
      const cls = classes.find((c) => c.bytes >= bytes);
      if (!cls) return undefined;
      lastUse = performance.now();
      if (!idleCheckPending) {
        idleCheckPending = true;
        setTimeout(dropWhenIdle, IDLE_DROP_MS).unref();
      }
      const free = cls.free.pop();
      if (free) return free;
      if (cls.made >= cls.limit) return undefined;
      cls.made++;
      const slot = { index: nextIndex++, memory: new SharedArrayBuffer(cls.bytes) };
      slotClass.set(slot.index, cls);
      return slot;
    },
    giveBack: release,
    lend(slot, length) {
      const buffer = Buffer.from(slot.memory, 0, length);
      lent.set(buffer, slot);
      registry.register(buffer, slot, buffer);
      return buffer;
    },
    recycle(buffer) {
      const slot = lent.get(buffer);
      if (!slot) return;
      lent.delete(buffer);
      registry.unregister(buffer);
      release(slot);
    },
  };
}
