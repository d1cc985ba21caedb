/**
 * `garretadm check`: an integrity check of the store (attic #155). Every valid NAR's chunks must
 * exist as valid chunk rows whose files are in storage and, unless `--quick`, hash to the recorded
 * `file_hash`, and the NAR itself must decode as Nix decodes it: its chunk files concatenated in
 * order, decompressed as one stream, giving exactly `nar_size` bytes hashing to `nar_hash`. That
 * last step finds NARs whose chunks are each sound but whose whole is not (several brotli chunks,
 * which decoders stop reading after the first: what atticd and garret before 0.2 stored under
 * `[compression] type = "brotli"` for NARs pushed by `nix copy --to`).
 *
 *     garretadm check [--quick] [--repair]
 *
 *   broken NAR 42 (sha256:…): chunk 17 corrupt (file hash sha256:…, recorded sha256:…)
 *     linux/…-hello-2.12
 *   checked 1200 NARs, 4180 chunks (512.3 MiB read): 1 broken NAR, 1 bad chunk
 *
 * `--repair` removes what is broken from the index: each broken NAR (its objects go with it, so
 * `get-missing-paths` lists those paths again and clients re-upload them, stored correctly this
 * time), and each bad chunk is
 * tombstoned (`D`) so no upload deduplicates against it again and the next GC deletes its file and
 * row. Exit status: 0 when the store is sound (or was repaired), 1 when something is broken.
 * With an SQLite database, stop garretd first (one process at a time).
 */

import { createHash } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createDecompressStream } from "@garret/chunking";
import { type OptionSpecs, parseOptions } from "@garret/cli";
import { type Db, removeFromIndex } from "@garret/db";
import { createStorage, parseRemoteFile, type StorageBackend } from "@garret/storage";
import { storageConfigFrom } from "../build-deps.ts";
import { type AdmCommand, UsageError } from "./command.ts";

const USAGE = `Usage: garretadm check [--quick] [--repair]

Checks that every valid NAR's chunks exist in storage and match their recorded hashes, and that
each NAR decodes (its chunks decompressed as one stream, as Nix does) to its NAR hash and size.

      --quick    Only check that chunk files exist (do not read, hash or decode them)
      --repair   Remove broken NARs (and their store paths) from the index; tombstone bad chunks

With an SQLite database, stop garretd first (one process at a time).
`;

const OPTIONS = {
  quick: { type: "boolean" },
  repair: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpecs;

/** NARs per database round trip. */
const BATCH = 500;
const CONCURRENCY = 16;
/** NARs decoded at a time. */
const DECODE_CONCURRENCY = 4;

interface ChunkLink {
  narId: number;
  narHash: string;
  chunkId: number | null;
  state: string | null;
  remoteFile: string | null;
  fileHash: string | null;
}

/** The problem with one chunk, or null when it is sound. */
async function chunkProblem(
  storage: StorageBackend,
  link: ChunkLink,
  quick: boolean,
): Promise<string | null> {
  if (link.chunkId === null || link.remoteFile === null) return "deleted";
  if (link.state !== "V") return `not valid (state ${link.state})`;
  const file = parseRemoteFile(link.remoteFile);
  if (quick) return (await storage.exists(file)) ? null : "missing";
  let data: Buffer;
  try {
    data = await storage.getBuffer(file);
  } catch (err) {
    if ((err as { notFound?: boolean }).notFound) return "missing";
    throw err;
  }
  const hash = `sha256:${createHash("sha256").update(data).digest("hex")}`;
  return hash === link.fileHash ? null : `corrupt (file hash ${hash}, recorded ${link.fileHash})`;
}

interface NarToDecode {
  narHash: string;
  narSize: number;
  compression: string;
  remoteFiles: string[];
}

/** Decodes a NAR as a client would; the problem with it, or null when it gives its hash and size. */
async function narProblem(storage: StorageBackend, nar: NarToDecode): Promise<string | null> {
  const hash = createHash("sha256");
  let size = 0;
  const files = (async function* () {
    for (const f of nar.remoteFiles) yield await storage.getBuffer(parseRemoteFile(f));
  })();
  try {
    await pipeline(
      Readable.from(files),
      createDecompressStream(nar.compression),
      new Writable({
        write(piece: Buffer, _enc, cb) {
          hash.update(piece);
          size += piece.length;
          cb();
        },
      }),
    );
  } catch (err) {
    if ((err as { notFound?: boolean }).notFound) return "a chunk is missing";
    if ((err as Error).name === "StorageError") throw err;
    return `does not decode as ${nar.compression}: ${(err as Error).message}`;
  }
  const got = `sha256:${hash.digest("hex")}`;
  if (size === nar.narSize && got === nar.narHash) return null;
  return `decodes to ${size} bytes hashing to ${got}, expected ${nar.narSize} bytes`;
}

export const checkCommand: AdmCommand = {
  usage: USAGE,
  async run(args, ctx) {
    let values: { quick?: boolean; repair?: boolean; help?: boolean };
    try {
      ({ values } = parseOptions(args, OPTIONS, { allowPositionals: false }) as {
        values: typeof values;
        positionals: string[];
      });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (values.help) {
      ctx.io.stdout(USAGE);
      return 0;
    }
    const config = ctx.loadConfig();
    const storage = await createStorage(storageConfigFrom(config));
    const db = await ctx.openDatabase(config);
    try {
      return await check(db, storage, ctx.io.stdout, values.quick ?? false, values.repair ?? false);
    } finally {
      await db.close();
    }
  },
};

async function check(
  db: Db,
  storage: StorageBackend,
  out: (text: string) => void,
  quick: boolean,
  repair: boolean,
): Promise<number> {
  const verdicts = new Map<number, string | null>();
  const brokenNars = new Map<number, { narHash: string; reasons: string[] }>();
  let nars = 0;
  let decoded = 0;
  let bytesRead = 0;
  let afterId = 0;
  for (;;) {
    const links = await db.withSession((s) =>
      s.query<{
        nar_id: number;
        nar_hash: string;
        nar_size: number;
        compression: string;
        chunk_id: number | null;
        state: string | null;
        remote_file: string | null;
        file_hash: string | null;
        file_size: number | null;
        num_chunks: number;
        refs: number;
      }>(
        `WITH batch AS (SELECT id, nar_hash, nar_size, compression, num_chunks FROM nar WHERE state = 'V' AND id > $1 ORDER BY id LIMIT ${BATCH})
         SELECT b.id AS nar_id, b.nar_hash, b.nar_size, b.compression, b.num_chunks,
                (SELECT count(*) FROM chunkref x WHERE x.nar_id = b.id) AS refs,
                r.chunk_id, c.state, c.remote_file, c.file_hash, c.file_size
         FROM batch b LEFT JOIN chunkref r ON r.nar_id = b.id LEFT JOIN chunk c ON c.id = r.chunk_id
         ORDER BY b.id, r.seq`,
        [afterId],
      ),
    );
    if (links.length === 0) break;
    const seen = new Set<number>();
    const todo = new Map<number, ChunkLink>();
    for (const l of links) {
      const narId = Number(l.nar_id);
      if (!seen.has(narId)) {
        seen.add(narId);
        if (Number(l.refs) !== Number(l.num_chunks)) {
          brokenNars.set(narId, {
            narHash: l.nar_hash,
            reasons: [`has ${l.refs} chunk references, expected ${l.num_chunks}`],
          });
        }
      }
      afterId = Math.max(afterId, narId);
      if (l.chunk_id !== null && !verdicts.has(Number(l.chunk_id))) {
        todo.set(Number(l.chunk_id), {
          narId,
          narHash: l.nar_hash,
          chunkId: Number(l.chunk_id),
          state: l.state,
          remoteFile: l.remote_file,
          fileHash: l.file_hash,
        });
        if (!quick) bytesRead += Number(l.file_size ?? 0);
      }
    }
    nars += seen.size;
    const queue = [...todo.values()];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
        for (let link = queue[next++]; link; link = queue[next++]) {
          verdicts.set(link.chunkId as number, await chunkProblem(storage, link, quick));
        }
      }),
    );
    for (const l of links) {
      const problem = l.chunk_id === null ? "deleted (no chunk row)" : verdicts.get(Number(l.chunk_id));
      if (!problem) continue;
      const narId = Number(l.nar_id);
      const entry = brokenNars.get(narId) ?? { narHash: l.nar_hash, reasons: [] };
      entry.reasons.push(l.chunk_id === null ? `a chunk ${problem}` : `chunk ${l.chunk_id} ${problem}`);
      brokenNars.set(narId, entry);
    }
    if (!quick) {
      const decode = new Map<number, NarToDecode>();
      for (const l of links) {
        const narId = Number(l.nar_id);
        if (brokenNars.has(narId)) continue;
        let nar = decode.get(narId);
        if (!nar) {
          nar = {
            narHash: l.nar_hash,
            narSize: Number(l.nar_size),
            compression: l.compression,
            remoteFiles: [],
          };
          decode.set(narId, nar);
        }
        if (l.remote_file !== null) nar.remoteFiles.push(l.remote_file);
      }
      const narQueue = [...decode.entries()];
      let n = 0;
      await Promise.all(
        Array.from({ length: Math.min(DECODE_CONCURRENCY, narQueue.length) }, async () => {
          for (let item = narQueue[n++]; item; item = narQueue[n++]) {
            const [narId, nar] = item;
            const problem = await narProblem(storage, nar);
            decoded++;
            if (problem) brokenNars.set(narId, { narHash: nar.narHash, reasons: [problem] });
          }
        }),
      );
    }
  }

  const badChunks = [...verdicts.entries()].filter(([, v]) => v !== null).map(([id]) => id);
  for (const [narId, { narHash, reasons }] of brokenNars) {
    out(`broken NAR ${narId} (${narHash}): ${reasons.join("; ")}\n`);
    const paths = await db.withSession((s) =>
      s.query<{ cache: string; store_path: string }>(
        "SELECT c.name AS cache, o.store_path FROM object o JOIN cache c ON c.id = o.cache_id WHERE o.nar_id = $1 ORDER BY 1, 2",
        [narId],
      ),
    );
    for (const p of paths) out(`  ${p.cache}/${p.store_path}\n`);
  }
  const mib = (bytesRead / 2 ** 20).toFixed(1);
  out(
    `checked ${nars} NARs, ${verdicts.size} chunks${quick ? "" : ` (${mib} MiB read, ${decoded} NARs decoded)`}: ` +
      `${brokenNars.size} broken NAR${brokenNars.size === 1 ? "" : "s"}, ${badChunks.length} bad chunk${badChunks.length === 1 ? "" : "s"}\n`,
  );
  if (brokenNars.size === 0 && badChunks.length === 0) return 0;
  if (!repair) {
    out("run again with --repair to remove them from the index (clients then upload those paths again)\n");
    return 1;
  }
  const narIds = [...brokenNars.keys()];
  await removeFromIndex(db, narIds, badChunks);
  out(
    `repaired: removed ${narIds.length} NARs and their store paths, tombstoned ${badChunks.length} chunks (the next GC deletes them)\n`,
  );
  return 0;
}
