/**
 * Readiness: the database answers a trivial query and storage answers its `check()` (HEAD bucket, or
 * a writable directory), each within a time limit, probed in parallel. The answer names the
 * component that is down but carries no error text: `/readyz` is public, and messages can name
 * hosts and buckets. The reason goes to the log instead.
 */
import type { Db } from "@garret/db";
import type { StorageBackend } from "@garret/storage";
import type { Logger } from "../log.ts";

export type ComponentState = "ok" | "down";

export interface Readiness {
  ready: boolean;
  database: ComponentState;
  storage: ComponentState;
}

export const READINESS_TIMEOUT_MS = 5000;

export async function checkReadiness(
  deps: { db: Db; storage: StorageBackend; log: Logger },
  timeoutMs = READINESS_TIMEOUT_MS,
): Promise<Readiness> {
  const [database, storage] = await Promise.all([
    probe("database", () => deps.db.ping(), timeoutMs, deps.log),
    probe("storage", () => deps.storage.check(), timeoutMs, deps.log),
  ]);
  return { ready: database === "ok" && storage === "ok", database, storage };
}

async function probe(
  name: string,
  run: () => Promise<void>,
  timeoutMs: number,
  log: Logger,
): Promise<ComponentState> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([run(), timeout]);
    return "ok";
  } catch (err) {
    log.warn(`readiness: ${name} is down`, { err });
    return "down";
  } finally {
    clearTimeout(timer);
  }
}
