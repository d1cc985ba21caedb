/**
 * Row builders for database tests: unique names and hashes, and NARs with their chunks, inserted
 * through @garret/db's real queries.
 */
import { randomBytes } from "node:crypto";
import {
  type CacheRow,
  type ChunkRow,
  type Executor,
  findCache,
  insertCache,
  insertChunkRefs,
  insertNar,
  insertPendingChunk,
  type NarRow,
  releaseChunks,
  validateChunk,
} from "@garret/db";

const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

export function randomNarHash(): string {
  return `sha256:${randomHex(32)}`;
}

export function randomStorePathHash(): string {
  return Array.from(randomBytes(32), (b) => NIX32[b % 32]).join("");
}

export async function createTestCache(db: Executor, name = `c-${randomHex(6)}`): Promise<CacheRow> {
  const ok = await insertCache(db, {
    name,
    keypair: `${name}:${Buffer.alloc(64, 1).toString("base64")}`,
    isPublic: false,
    storeDir: "/nix/store",
    priority: 41,
    upstreamCacheKeyNames: ["cache.nixos.org-1"],
  });
  const row = await findCache(db, name);
  if (!ok || !row) throw new Error(`could not create cache ${name}`);
  return row;
}

/** A valid chunk still leased by its "upload" (holders_count 1). */
export async function createValidChunk(db: Executor, compression = "zstd"): Promise<ChunkRow> {
  const name = `${randomHex(16)}.chunk`;
  const pending = await insertPendingChunk(db, {
    chunkHash: randomNarHash(),
    chunkSize: 1000,
    compression,
    remoteFile: JSON.stringify({ Local: { name } }),
    remoteFileId: `local:${name}`,
  });
  const valid = await validateChunk(db, pending.id, { fileHash: randomNarHash(), fileSize: 500 });
  if (!valid) throw new Error("chunk vanished");
  return valid;
}

/** A valid NAR made of `chunkCount` fresh valid chunks, holders_count 0 everywhere. */
export async function createValidNar(
  db: Executor,
  options: { narHash?: string; chunkCount?: number; compression?: string } = {},
): Promise<{ nar: NarRow; chunks: ChunkRow[] }> {
  const compression = options.compression ?? "zstd";
  const chunks: ChunkRow[] = [];
  for (let i = 0; i < (options.chunkCount ?? 1); i++) chunks.push(await createValidChunk(db, compression));
  await releaseChunks(
    db,
    chunks.map((c) => c.id),
  );
  const nar = await insertNar(db, {
    state: "V",
    narHash: options.narHash ?? randomNarHash(),
    narSize: 1000 * chunks.length,
    compression,
    numChunks: chunks.length,
  });
  await insertChunkRefs(
    db,
    nar.id,
    chunks.map((c, seq) => ({ seq, chunkId: c.id })),
  );
  return { nar, chunks };
}
