/**
 * One compacting garbage collection once garretd has started and gone quiet. Start-up leaves V8's
 * heap at ~38 MB, a third of it garbage (module loading, migrations, the first GC run) that no
 * collection has reclaimed yet because nothing since asked for memory, in pages V8 keeps: an idle
 * server then sits at ~106 MB. A "last-resort" collection (what V8 does on a low-memory
 * notification: full, compacting, young generation shrunk, freed pages returned) takes that
 * process to ~89 MB, once, for a pause of a few tens of milliseconds a second after it listens.
 * Needs `gc`, which the launcher exposes (start-tuning.js: --expose-gc); without it, nothing runs.
 */

const SETTLE_DELAY_MS = 1000;

/** Schedules the collection; the returned function cancels it if it has not run yet. */
export function settleMemoryAfterStart(delayMs = SETTLE_DELAY_MS): () => void {
  const collect = globalThis.gc;
  if (!collect) return () => {};
  const timer = setTimeout(
    () => collect({ type: "major", execution: "sync", flavor: "last-resort" }),
    delayMs,
  );
  timer.unref();
  return () => clearTimeout(timer);
}
