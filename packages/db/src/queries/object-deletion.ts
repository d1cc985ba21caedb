/**
 * Deleting one store path from one cache (garret's `DELETE /{cache}/{hash}.narinfo`). The
 * `garret_gc_object_deleted` trigger (migration 0004) queues the object's NAR for the next GC.
 */
import { sql } from "drizzle-orm";
import { type Executor, ormOf, rowsOf } from "./executor.ts";

/** False when the cache has no object with this hash. */
export async function deleteObjectByHash(
  db: Executor,
  cacheId: number,
  storePathHash: string,
): Promise<boolean> {
  const result = await ormOf(db).execute(
    sql`DELETE FROM object WHERE cache_id = ${cacheId} AND store_path_hash = ${storePathHash} RETURNING id`,
  );
  return rowsOf(result).length > 0;
}
