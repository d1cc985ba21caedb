/**
 * Runs a single-statement write again when Postgres chose it as a deadlock victim. The multi-row
 * lease statements lock chunk rows in id order, yet Postgres can still report a deadlock between two
 * of them (its tuple-lock queue, seen with 20 concurrent uploads of one NAR). Such a statement ran
 * outside any transaction, so its abort undid it whole and running it again is safe; only use this
 * for statements on the pool, never inside a transaction (the transaction is aborted with them).
 */
const DEADLOCK = "40P01";
const ATTEMPTS = 4;

function isDeadlock(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === DEADLOCK) return true;
  }
  return false;
}

export async function retryOnDeadlock<T>(statement: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await statement();
    } catch (err) {
      if (attempt >= ATTEMPTS || !isDeadlock(err)) throw err;
      // A short random pause, so the transactions that collided do not meet again in step.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
    }
  }
}
