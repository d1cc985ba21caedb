/**
 * An upload's leases while it runs. GC resets a lease last taken more than `gc-pending-grace` ago
 * (an upload that died holding it) and then collects what it protected, so an upload that runs
 * longer than that refreshes what it holds (leases, and pending chunk rows it is writing) every
 * quarter of the grace period for as long as it runs. Only uploads whose bytes flow run long: a
 * stalled body is cut by `request-idle-timeout`, and the upload ends with it.
 *
 * At the commit, `linkChunks` is the last word: chunks GC collected anyway (a refresh that came too
 * late) or that were found damaged meanwhile fail the upload with a 503, and the client sends it
 * again, rather than committing a NAR whose chunks are gone.
 */
import { type ChunkRefInput, type Executor, insertChunkRefs, lockValidChunks } from "@garret/db";
import type { Deps } from "../deps.ts";
import { AtticError } from "../errors.ts";

export class LeaseRefresher {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | null = null;

  /**
   * Starts refreshing: `refresh` refreshes whatever the upload holds at the moment it is called
   * (`refreshLeases`). Call `stop` when the upload ends, however it ends.
   */
  constructor(deps: Deps, refresh: () => Promise<void>) {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = refresh()
        .catch((err: unknown) => deps.log.warn("failed to refresh upload leases", { err }))
        .finally(() => {
          this.running = null;
        });
    }, deps.settings.leaseRefreshMs);
    this.timer.unref();
  }

  /** Stops refreshing and waits for a refresh in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}

/** Inserts the NAR's chunkrefs, in the commit's transaction, after checking its chunks are still valid. */
export async function linkChunks(tx: Executor, narId: number, refs: ChunkRefInput[]): Promise<void> {
  const gone = await lockValidChunks(
    tx,
    refs.map((r) => r.chunkId),
  );
  if (gone.length > 0) throw chunksGone(gone.length);
  await insertChunkRefs(tx, narId, refs);
}

/** The 503 for a NAR whose chunks went while it was uploaded: the client sends it again. */
export function chunksGone(count: number): AtticError {
  return new AtticError("ServiceUnavailable", {
    detail: `${count} of the NAR's chunks were collected or found damaged while it was uploaded; send it again`,
  });
}
