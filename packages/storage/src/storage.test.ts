/**
 * Runs the storage contract against the local backend (temporary directory) and the S3 backend
 * (in-process s3rver), plus what only one backend has: atticd's local layout and VERSION file,
 * bucket checks and timeouts for S3.
 */
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startS3rver } from "../../../test/support/s3rver.ts";
import { storageContract } from "../../../test/support/storage-contract.ts";
import { createStorage } from "./create-storage.ts";
import { S3Storage } from "./s3.ts";
import { StorageError } from "./storage-error.ts";

const MiB = 1024 * 1024;

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "garret-storage-"));
}

storageContract("local", async () => {
  const dir = await tempDir();
  return {
    backend: await createStorage({ type: "local", path: join(dir, "storage") }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

storageContract("s3 (s3rver)", async () => {
  const server = await startS3rver();
  const backend = new S3Storage({ type: "s3", ...server, multipartConcurrency: 2 });
  return {
    backend,
    cleanup: async () => {
      backend.destroy();
      await server.stop();
    },
    // Two parts in flight plus the one being filled, with slack for socket buffers.
    streamMemoryLimit: 28 * MiB,
  };
});

describe("local storage layout", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates the directory with a VERSION file and nests objects as <c0>/<c0c1>/<name>", async () => {
    const root = join(dir, "fresh", "storage");
    const backend = await createStorage({ type: "local", path: root });
    expect(await readFile(join(root, "VERSION"), "utf8")).toBe("1");
    const name = `${randomUUID()}.chunk`;
    await backend.put(name, Buffer.from("chunk bytes"));
    expect(await readFile(join(root, name[0] as string, name.slice(0, 2), name), "utf8")).toBe("chunk bytes");
    const streamed = `${randomUUID()}.chunk`;
    await backend.putStream(streamed, Readable.from([Buffer.from("streamed")]));
    expect(await readFile(join(root, streamed[0] as string, streamed.slice(0, 2), streamed), "utf8")).toBe(
      "streamed",
    );
    // No temporary files remain beside the objects.
    expect(await readdir(join(root, name[0] as string, name.slice(0, 2)))).not.toContainEqual(
      expect.stringMatching(/^\./),
    );
  });

  it("serves an existing atticd directory and migrates atticd's v0 flat layout", async () => {
    const root = join(dir, "v0");
    await mkdir(root, { recursive: true });
    await writeFile(join(root, "ab12.chunk"), "old chunk");
    await mkdir(join(root, "unrelated-dir"));
    const backend = await createStorage({ type: "local", path: root });
    expect(await readFile(join(root, "VERSION"), "utf8")).toBe("1");
    expect(await readFile(join(root, "a", "ab", "ab12.chunk"), "utf8")).toBe("old chunk");
    expect((await stat(join(root, "unrelated-dir"))).isDirectory()).toBe(true);
    expect((await backend.getBuffer({ Local: { name: "ab12.chunk" } })).toString()).toBe("old chunk");

    const reopened = await createStorage({ type: "local", path: root });
    expect(await reopened.exists({ Local: { name: "ab12.chunk" } })).toBe(true);
  });

  it("refuses a layout version it does not know", async () => {
    const root = join(dir, "v2");
    await mkdir(root, { recursive: true });
    await writeFile(join(root, "VERSION"), "2");
    await expect(createStorage({ type: "local", path: root })).rejects.toThrow(/layout version "2"/);
  });

  it("gives get a stream whose file is already open", async () => {
    const root = join(dir, "open");
    const backend = await createStorage({ type: "local", path: root });
    const name = `${randomUUID()}.chunk`;
    await backend.put(name, Buffer.from("still readable"));
    const stream = await backend.get({ Local: { name } });
    // Deleting after get resolved must not matter: the descriptor was opened before resolving.
    await backend.delete({ Local: { name } });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("still readable");
  });
});

describe("local storage batch reads (readConcatenated)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // No size hint: the read worker; a small recorded size: the calling thread.
  const modes = [
    { mode: "on a read worker", expected: () => undefined },
    { mode: "on the calling thread", expected: (bytes: number) => bytes },
  ];

  it.each(
    modes,
  )("returns the objects concatenated in order, whatever their sizes, from several reads at once ($mode)", async ({
    expected,
  }) => {
    const backend = await createStorage({ type: "local", path: join(dir, `batch-${randomUUID()}`) });
    const bodies = [0, 1, 17, 65_536, 300_001, 3].map((n, i) => Buffer.alloc(n, 97 + i));
    const files: Array<{ Local: { name: string } }> = [];
    for (const body of bodies) {
      const name = `${randomUUID()}.chunk`;
      await backend.put(name, body);
      files.push({ Local: { name } });
    }
    const sizeOf = (list: typeof files) =>
      list.reduce((n, f) => n + (bodies[files.indexOf(f)] as Buffer).length, 0);
    const reads = await Promise.all(
      [files, [...files].reverse(), files.slice(2, 3), []].map((list) =>
        backend.readConcatenated?.(list, expected(sizeOf(list))),
      ),
    );
    expect(reads[0]?.equals(Buffer.concat(bodies))).toBe(true);
    expect(reads[1]?.equals(Buffer.concat([...bodies].reverse()))).toBe(true);
    expect(reads[2]?.equals(bodies[2] as Buffer)).toBe(true);
    expect(reads[3]?.length).toBe(0);
  });

  it.each(
    modes,
  )("fails the whole read with notFound naming the missing object, and keeps working after ($mode)", async ({
    expected,
  }) => {
    const backend = await createStorage({ type: "local", path: join(dir, `missing-${randomUUID()}`) });
    const present = `${randomUUID()}.chunk`;
    await backend.put(present, Buffer.from("here"));
    const missing = `${randomUUID()}.chunk`;
    const err = await backend
      .readConcatenated?.([{ Local: { name: present } }, { Local: { name: missing } }], expected(8))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ notFound: true, key: missing });
    expect((await backend.readConcatenated?.([{ Local: { name: present } }], expected(4)))?.toString()).toBe(
      "here",
    );
  });

  it("refuses names that would leave the storage root", async () => {
    const backend = await createStorage({ type: "local", path: join(dir, "escape") });
    await expect(backend.readConcatenated?.([{ Local: { name: "../../etc/passwd" } }])).rejects.toThrow(
      StorageError,
    );
  });
});

describe("s3 storage", () => {
  let server: Awaited<ReturnType<typeof startS3rver>>;
  beforeAll(async () => {
    server = await startS3rver();
  });
  afterAll(async () => {
    await server.stop();
  });

  it("refuses files of another bucket or region", async () => {
    const backend = await createStorage({ type: "s3", ...server });
    for (const file of [
      { S3: { region: server.region, bucket: "other-bucket", key: "ab.chunk" } },
      { S3: { region: "eu-west-1", bucket: server.bucket, key: "ab.chunk" } },
    ]) {
      const error = await backend.get(file).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).message).toMatch(/recorded in S3 bucket/);
    }
  });

  it("reports a missing bucket from check() with the S3 status", async () => {
    const backend = await createStorage({ type: "s3", ...server, bucket: "no-such-bucket" });
    const error = await backend.check().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).message).toBe(
      'storage check of "no-such-bucket" failed: S3 HTTP 404: the bucket does not exist',
    );
    expect((error as StorageError).code).toBe("NoSuchBucket");
  });

  it("names the S3 error code and never the secret when S3 refuses the credentials", async () => {
    // s3rver checks access key ids but not SigV4 signatures, so an unknown key id provokes the 403.
    const secretAccessKey = `secret-${randomUUID()}`;
    const backend = await createStorage({
      type: "s3",
      ...server,
      credentials: { accessKeyId: "UNKNOWNKEYID", secretAccessKey },
    });
    const error = await backend.put("ab.chunk", Buffer.from("x")).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(StorageError);
    const storageError = error as StorageError;
    expect(storageError.op).toBe("put");
    expect(storageError.key).toBe("ab.chunk");
    expect(storageError.code).toBe("InvalidAccessKeyId");
    expect(storageError.httpStatus).toBe(403);
    expect(storageError.notFound).toBe(false);
    expect(storageError.message).toMatch(
      /^storage put of "ab.chunk" failed: S3 InvalidAccessKeyId, HTTP 403/,
    );
    expect(storageError.message).not.toContain(secretAccessKey);
    expect(JSON.stringify(storageError)).not.toContain(secretAccessKey);
  });
});

describe("s3 storage when S3 is down", () => {
  it("fails fast with the op and key when nothing listens", async () => {
    const stopped = await startS3rver();
    await stopped.stop();
    const backend = await createStorage({ type: "s3", ...stopped, requestTimeoutMs: 2000 });
    const started = Date.now();
    const error = await backend.put("dead.chunk", Buffer.from("x")).catch((err: unknown) => err);
    expect(Date.now() - started).toBeLessThan(6000);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).op).toBe("put");
    expect((error as StorageError).key).toBe("dead.chunk");
    expect((error as StorageError).message).toMatch(/storage put of "dead.chunk" failed: S3 ECONNREFUSED/);
  });

  it("times out instead of hanging when S3 accepts connections but never answers", async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    try {
      const backend = await createStorage({
        type: "s3",
        region: "us-east-1",
        bucket: "garret-test",
        endpoint: `http://127.0.0.1:${port}`,
        credentials: { accessKeyId: "test", secretAccessKey: "test-secret" },
        requestTimeoutMs: 300,
      });
      const started = Date.now();
      const error = await backend
        .get({ S3: { region: "us-east-1", bucket: "garret-test", key: "hung.chunk" } })
        .then(
          () => null,
          (err: unknown) => err,
        );
      // Three attempts of at most 300 ms each plus retry backoff.
      expect(Date.now() - started).toBeLessThan(5000);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).op).toBe("get");
      expect((error as StorageError).key).toBe("hung.chunk");
      expect((error as StorageError).notFound).toBe(false);
      expect((error as StorageError).message).toMatch(/TimeoutError|ETIMEDOUT/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
