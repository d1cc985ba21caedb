/**
 * Single-chunk NARs on S3: an anonymous download is redirected (307) to a presigned URL, as atticd
 * does; a download that carries credentials is streamed instead, so the token never follows the
 * redirect to the storage host (curl up to 8.11 forwards netrc credentials, and S3 refuses them).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectSameBytes } from "../support/bytes.ts";
import { type GarretdHandle, startGarretd } from "../support/garretd.ts";
import { makeNar, randomStorePathHash, sha256Hex } from "../support/nar.ts";
import { zstdDecompressSync } from "../support/zstd.ts";

describe("NAR downloads from S3", () => {
  let g: GarretdHandle;
  const nar = makeNar({ type: "regular", contents: "a small path, stored as one chunk\n" });
  const hash = randomStorePathHash();

  beforeAll(async () => {
    g = await startGarretd({ db: "sqlite", storage: "s3" });
    const auth = { authorization: `Bearer ${g.rootToken}` };
    const created = await fetch(`${g.url}/_api/v1/cache-config/pub`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({
        keypair: "Generate",
        is_public: true,
        store_dir: "/nix/store",
        priority: 41,
        upstream_cache_key_names: [],
      }),
    });
    expect(created.status).toBe(200);
    const uploaded = await fetch(`${g.url}/_api/v1/upload-path`, {
      method: "PUT",
      headers: {
        ...auth,
        "x-attic-nar-info": JSON.stringify({
          cache: "pub",
          store_path_hash: hash,
          store_path: `/nix/store/${hash}-small`,
          references: [],
          nar_hash: sha256Hex(nar),
          nar_size: nar.length,
        }),
      },
      body: nar,
    });
    expect(uploaded.status).toBe(200);
  });
  afterAll(() => g?.stop());

  it("redirects an anonymous request to a presigned URL that serves the chunk", async () => {
    const res = await fetch(`${g.url}/pub/nar/${hash}.nar`, { redirect: "manual" });
    expect(res.status).toBe(307);
    const location = res.headers.get("location") ?? "";
    expect(location).toMatch(/X-Amz-Signature=/);
    const stored = await fetch(location);
    expect(stored.status).toBe(200);
    expectSameBytes(zstdDecompressSync(Buffer.from(await stored.arrayBuffer())), nar);
  });

  it("streams to a request that carries credentials", async () => {
    const res = await fetch(`${g.url}/pub/nar/${hash}.nar`, {
      redirect: "manual",
      headers: { authorization: `Basic ${Buffer.from(`:${g.rootToken}`).toString("base64")}` },
    });
    expect(res.status).toBe(200);
    expectSameBytes(zstdDecompressSync(Buffer.from(await res.arrayBuffer())), nar);
  });
});
