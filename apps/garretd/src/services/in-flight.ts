/**
 * Work that must finish before garretd closes its database: an upload whose client went away is
 * still storing its last batch and then gives back its chunks' leases; closing the server only
 * waits for connections, and that connection is already gone. Cut short, the upload's chunk files
 * and pending rows stay until `gc-pending-grace` has passed (and a file being written stays as a
 * temporary file), where finishing takes a moment.
 */

export interface InFlight {
  /** `work`, counted until it settles. */
  track<T>(work: Promise<T>): Promise<T>;
  /** Resolves once nothing tracked is running, or after `timeoutMs`; returns whether it all settled. */
  settled(timeoutMs: number): Promise<boolean>;
}

export function createInFlight(): InFlight {
  const running = new Set<Promise<unknown>>();
  return {
    track(work) {
      const entry = work.then(
        () => undefined,
        () => undefined,
      );
      running.add(entry);
      void entry.then(() => running.delete(entry));
      return work;
    },
    async settled(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        while (running.size > 0) {
          const done = await Promise.race([Promise.all(running).then(() => true as const), timedOut]);
          if (!done) return false;
        }
        return true;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
