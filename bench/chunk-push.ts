/**
 * The rebuilt-path case of issue 19: a path whose previous version is in the cache, pushed again
 * after about 5% of its bytes changed (one region per 8 MiB, spread through it), once with the
 * chunk-upload extension (what `garret push` does) and once with the attic API (what `attic push`
 * does), through a counting proxy. Prints bytes on the wire and push times for both.
 *
 *     node bench/chunk-push.ts [--mib 1024] [--db postgres|sqlite] [--storage local|s3]
 *                              [--postgres-url URL]
 *
 * The two pushes upload different rebuilt versions (same amount of change) so neither benefits
 * from the other; the attic-API push still gains server-side chunk deduplication, but its bytes
 * cross the network whole.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { ApiClient, type NarStream } from "../apps/garret/src/api-client.ts";
import { pushNarChunked } from "../apps/garret/src/chunk-push.ts";
import { startBodyLimitProxy } from "../test/support/body-limit-proxy.ts";
import { makeNar } from "../test/support/nar.ts";
import { narInfoForNar } from "../test/support/upload-info.ts";
import { installSignalHandlers, runCleanups } from "./cleanup.ts";
import { createCache, type DbKind, type StorageKind, startGarretd } from "./garretd.ts";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "1024" },
    db: { type: "string", default: "postgres" },
    storage: { type: "string", default: "local" },
    "postgres-url": { type: "string", default: "postgres://postgres@127.0.0.1:5432/postgres" },
  },
});
const MiB = 1024 * 1024;
const SIZE = Number(values.mib) * MiB;

/** A copy of `nar` with 5% of its file content rewritten, one region per 8 MiB. */
function rebuilt(nar: Buffer): Buffer {
  const out = Buffer.from(nar);
  const stride = 8 * MiB;
  const region = Math.round(stride * 0.05);
  // Stay inside the file's contents: the NAR header and trailer are a few hundred bytes.
  for (let at = 512; at + stride <= out.length - 512; at += stride) {
    randomBytes(region).copy(out, at + Math.floor(Math.random() * (stride - region)));
  }
  return out;
}

function source(nar: Buffer): () => NarStream {
  return () => ({
    body: (async function* () {
      for (let at = 0; at < nar.length; at += MiB) yield nar.subarray(at, Math.min(at + MiB, nar.length));
    })(),
    cancel() {},
  });
}

function info(nar: Buffer, name: string) {
  return narInfoForNar("bench", nar, { name });
}

async function main(): Promise<void> {
  installSignalHandlers();
  const g = await startGarretd({
    db: values.db as DbKind,
    storage: values.storage as StorageKind,
    postgresUrl: values["postgres-url"] as string,
  });
  await createCache(g, "bench");
  const v1 = makeNar({ type: "regular", contents: randomBytes(SIZE) });
  const direct = new ApiClient({ endpoint: g.url, token: g.rootToken, userAgent: "garret-bench" });
  let t = performance.now();
  await direct.uploadPath(info(v1, "v1"), source(v1));
  console.log(
    `previous version (${values.mib} MiB) uploaded with the attic API in ${Math.round(performance.now() - t)} ms`,
  );

  const proxy = await startBodyLimitProxy(g.url, 4 * 1024 * MiB);
  const viaProxy = new ApiClient({ endpoint: proxy.url, token: g.rootToken, userAgent: "garret-bench" });
  const offer = await viaProxy.getChunkUploadOffer();
  if (!offer) throw new Error("the server does not offer chunk upload");
  const rows: string[] = [];
  const onWire = () => proxy.requests.reduce((s, r) => s + r.requestBytes + r.responseBytes, 0);

  const v2 = rebuilt(v1);
  proxy.reset();
  t = performance.now();
  const pushed = await pushNarChunked(viaProxy, offer, info(v2, "v2"), source(v2));
  const chunkMs = performance.now() - t;
  rows.push(row("chunk upload (garret push)", v2.length, onWire(), chunkMs, proxy.requests.length));
  const verify = [...g.logs().matchAll(/"verifyMs":(\d+)/g)].at(-1)?.[1];

  const v3 = rebuilt(v1);
  proxy.reset();
  t = performance.now();
  await viaProxy.uploadPath(info(v3, "v3"), source(v3));
  rows.push(
    row("attic API (upload-path)", v3.length, onWire(), performance.now() - t, proxy.requests.length),
  );

  console.log(`\nrebuilt ${values.mib} MiB path, ~5% changed; ${values.db} + ${values.storage}`);
  console.log("| push | bytes on the wire | % of NAR | time | requests |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const r of rows) console.log(r);
  console.log(
    `\nchunk upload: sent ${pushed.sent} B of chunks, skipped ${pushed.skipped} B; ` +
      `commit read-back verification ${verify ?? "?"} ms`,
  );
  await proxy.close();
}

function row(name: string, narSize: number, bytes: number, ms: number, requests: number): string {
  return `| ${name} | ${bytes} | ${((bytes / narSize) * 100).toFixed(2)}% | ${(ms / 1000).toFixed(1)} s | ${requests} |`;
}

main()
  .catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => runCleanups());
