/**
 * Admission for upstream NAR fetches: at most `maxFetches` at once and at most `maxBytes` of
 * NarSize among them (one fetch is always admitted when none runs, whatever its size). Callers
 * wait in order, for at most `waitMs`; then they give up, and the path is a 404 for now.
 */
export interface FetchLimiter {
  /** Resolves with a release function, or null when no slot came within `waitMs`. */
  acquire(bytes: number, waitMs: number): Promise<(() => void) | null>;
  readonly running: number;
}

export function createFetchLimiter(maxFetches: number, maxBytes: number): FetchLimiter {
  let running = 0;
  let bytesInFlight = 0;
  const queue: Array<{ bytes: number; grant: () => void }> = [];

  const fits = (bytes: number) =>
    running < maxFetches && (running === 0 || bytesInFlight + bytes <= maxBytes);
  const start = (bytes: number) => {
    running++;
    bytesInFlight += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      running--;
      bytesInFlight -= bytes;
      pump();
    };
  };
  const pump = () => {
    while (queue.length > 0 && fits((queue[0] as { bytes: number }).bytes)) {
      (queue.shift() as { grant: () => void }).grant();
    }
  };

  return {
    get running() {
      return running;
    },
    acquire(bytes, waitMs) {
      if (queue.length === 0 && fits(bytes)) return Promise.resolve(start(bytes));
      return new Promise((resolve) => {
        const entry = {
          bytes,
          grant: () => {
            clearTimeout(timer);
            resolve(start(bytes));
          },
        };
        const timer = setTimeout(() => {
          const i = queue.indexOf(entry);
          if (i >= 0) queue.splice(i, 1);
          resolve(null);
        }, waitMs);
        queue.push(entry);
      });
    },
  };
}
