/**
 * The behaviour every StorageBackend must have, as one vitest suite run against each backend
 * (attic's VM test matrix over local and S3 storage, as plain tests). A backend passes only if it
 * round-trips bytes exactly, streams with bounded memory, reports misses as `notFound` before any
 * data, deletes idempotently, validates names and refuses files it cannot serve.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  parseRemoteFile,
  type RemoteFile,
  remoteFileId,
  type StorageBackend,
  StorageError,
  serializeRemoteFile,
} from "@garret/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

export interface ContractSubject {
  backend: StorageBackend;
  cleanup(): Promise<void>;
  /** Most bytes of live buffers the backend may hold during putStream. Default 8 MiB. */
  streamMemoryLimit?: number;
}

const MiB = 1024 * 1024;
const STREAM_SIZE = 40 * MiB;
const STREAM_CHUNK = 64 * 1024;

export function storageContract(name: string, make: () => Promise<ContractSubject>): void {
  describe(`storage contract: ${name}`, () => {
    let subject: ContractSubject | undefined;
    const backend = (): StorageBackend => {
      if (subject === undefined) throw new Error("backend not created");
      return subject.backend;
    };
    const fresh = (): string => `${randomUUID()}.chunk`;
    const fileOf = (name: string): RemoteFile => backend().locate(name).remoteFile;

    beforeAll(async () => {
      subject = await make();
    });
    afterAll(async () => {
      await subject?.cleanup();
    });

    it("passes its readiness check", async () => {
      await expect(backend().check()).resolves.toBeUndefined();
    });

    it("round-trips bytes through put, get and getBuffer", async () => {
      const name = fresh();
      const body = randomBytes(100_000);
      await backend().put(name, body);
      expect((await backend().getBuffer(fileOf(name))).equals(body)).toBe(true);
      expect((await readAll(await backend().get(fileOf(name)))).equals(body)).toBe(true);
    });

    it("reads an object whole whatever size hint getBuffer is given", async () => {
      const name = fresh();
      const body = randomBytes(70_000);
      await backend().put(name, body);
      for (const hint of [body.length, 0, 10, body.length - 1, body.length + 1, body.length * 3]) {
        expect((await backend().getBuffer(fileOf(name), hint)).equals(body)).toBe(true);
      }
      const empty = fresh();
      await backend().put(empty, new Uint8Array(0));
      expect((await backend().getBuffer(fileOf(empty), 0)).length).toBe(0);
      expect((await backend().getBuffer(fileOf(empty), 5)).length).toBe(0);
    });

    it("stores empty objects and Uint8Array views at an offset", async () => {
      const empty = fresh();
      await backend().put(empty, new Uint8Array(0));
      expect((await backend().getBuffer(fileOf(empty))).length).toBe(0);

      const backing = randomBytes(1000);
      const view = new Uint8Array(backing.buffer, backing.byteOffset + 100, 500);
      const name = fresh();
      await backend().put(name, view);
      expect((await backend().getBuffer(fileOf(name))).equals(backing.subarray(100, 600))).toBe(true);
    });

    it("replaces an object on a second put", async () => {
      const name = fresh();
      await backend().put(name, Buffer.from("first version, longer than the second"));
      await backend().put(name, Buffer.from("second"));
      expect((await backend().getBuffer(fileOf(name))).toString()).toBe("second");
    });

    it("streams a large object with bounded memory and reads it back intact", async () => {
      const name = fresh();
      const limit = subject?.streamMemoryLimit ?? 8 * MiB;
      const source = measuredSource(STREAM_SIZE);
      const { size } = await backend().putStream(name, Readable.from(source.chunks()));
      expect(size).toBe(STREAM_SIZE);
      expect(source.peakLiveBytes()).toBeLessThan(limit);
      expect(limit).toBeLessThan(STREAM_SIZE);

      const hash = createHash("sha256");
      let read = 0;
      for await (const chunk of await backend().get(fileOf(name))) {
        hash.update(chunk as Buffer);
        read += (chunk as Buffer).length;
      }
      expect(read).toBe(STREAM_SIZE);
      expect(hash.digest("hex")).toBe(source.sha256());
    });

    it("streams small and empty objects", async () => {
      const small = fresh();
      const body = randomBytes(300_000);
      const parts = [body.subarray(0, 1), body.subarray(1, 200_000), body.subarray(200_000)];
      expect(await backend().putStream(small, Readable.from(parts))).toEqual({ size: body.length });
      expect((await backend().getBuffer(fileOf(small))).equals(body)).toBe(true);

      const empty = fresh();
      expect(await backend().putStream(empty, Readable.from([]))).toEqual({ size: 0 });
      expect(await backend().exists(fileOf(empty))).toBe(true);
    });

    it("rethrows an error of the body itself and leaves no object behind", async () => {
      const name = fresh();
      const failure = new Error("client went away");
      async function* failing(): AsyncGenerator<Buffer> {
        yield randomBytes(1000);
        throw failure;
      }
      await expect(backend().putStream(name, Readable.from(failing()))).rejects.toBe(failure);
      expect(await backend().exists(fileOf(name))).toBe(false);
    });

    it("reports existence", async () => {
      const name = fresh();
      expect(await backend().exists(fileOf(name))).toBe(false);
      await backend().put(name, Buffer.from("x"));
      expect(await backend().exists(fileOf(name))).toBe(true);
    });

    it("reports sizes, null for a missing object", async () => {
      const name = fresh();
      expect(await backend().sizeOf(fileOf(name))).toBeNull();
      await backend().put(name, Buffer.from("twelve bytes"));
      expect(await backend().sizeOf(fileOf(name))).toBe(12);
    });

    it("deletes idempotently", async () => {
      const name = fresh();
      await backend().put(name, Buffer.from("to be deleted"));
      await backend().delete(fileOf(name));
      expect(await backend().exists(fileOf(name))).toBe(false);
      await expect(backend().delete(fileOf(name))).resolves.toBeUndefined();
      await expect(backend().delete(fileOf(fresh()))).resolves.toBeUndefined();
    });

    it("rejects a missing object with notFound before returning a stream", async () => {
      const missing = fileOf(fresh());
      const error = await backend()
        .get(missing)
        .then(
          () => null,
          (err: unknown) => err,
        );
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).notFound).toBe(true);
      expect((error as StorageError).op).toBe("get");

      const bufferError = await backend()
        .getBuffer(missing)
        .catch((err: unknown) => err);
      expect(bufferError).toBeInstanceOf(StorageError);
      expect((bufferError as StorageError).notFound).toBe(true);
    });

    it("locates new objects the way atticd records them", () => {
      const name = fresh();
      const { remoteFile, remoteFileId: id } = backend().locate(name);
      expect(id).toBe(remoteFileId(remoteFile));
      expect(parseRemoteFile(serializeRemoteFile(remoteFile))).toEqual(remoteFile);
      if (backend().kind === "local") {
        expect(remoteFile).toEqual({ Local: { name } });
        expect(id).toBe(`local:${name}`);
      } else {
        expect("S3" in remoteFile && remoteFile.S3.key).toBe(name);
        expect(id).toMatch(new RegExp(`^s3:[^/]+/[^/]+/${name.replace(/[.-]/g, "\\$&")}$`));
      }
    });

    it("refuses names that could escape the storage root", async () => {
      for (const bad of ["", "a", "a/b", "../x", "x/../y", "..", "x\0y", ".hidden", "a\\b"]) {
        await expect(backend().put(bad, Buffer.from("x"))).rejects.toBeInstanceOf(StorageError);
        await expect(backend().putStream(bad, Readable.from([Buffer.from("x")]))).rejects.toBeInstanceOf(
          StorageError,
        );
        expect(() => backend().locate(bad)).toThrow(StorageError);
      }
    });

    it("refuses files recorded for another backend", async () => {
      const foreign: RemoteFile =
        backend().kind === "local"
          ? { S3: { region: "us-east-1", bucket: "elsewhere", key: fresh() } }
          : { Local: { name: fresh() } };
      for (const op of [
        () => backend().get(foreign),
        () => backend().getBuffer(foreign),
        () => backend().exists(foreign),
        () => backend().delete(foreign),
        () => backend().presign(foreign, 60),
      ]) {
        const error = await op().catch((err: unknown) => err);
        expect(error).toBeInstanceOf(StorageError);
        expect((error as StorageError).key).toBe(remoteFileId(foreign));
        expect((error as StorageError).notFound).toBe(false);
      }
    });

    it("handles concurrent puts of many objects and of one name", async () => {
      const names = Array.from({ length: 32 }, fresh);
      const bodies = names.map(() => randomBytes(20_000));
      await Promise.all(names.map((name, i) => backend().put(name, bodies[i] as Buffer)));
      const read = await Promise.all(names.map((name) => backend().getBuffer(fileOf(name))));
      read.forEach((buffer, i) => {
        expect(buffer.equals(bodies[i] as Buffer)).toBe(true);
      });

      const shared = fresh();
      const versions = Array.from({ length: 8 }, () => randomBytes(50_000));
      await Promise.all(versions.map((body) => backend().put(shared, body)));
      const winner = await backend().getBuffer(fileOf(shared));
      expect(versions.some((body) => body.equals(winner))).toBe(true);
    });

    it("presigns GET URLs that serve the object (S3) or returns null (local)", async () => {
      const name = fresh();
      const body = randomBytes(70_000);
      await backend().put(name, body);
      const url = await backend().presign(fileOf(name), 600);
      if (backend().kind === "local") {
        expect(url).toBeNull();
        return;
      }
      expect(url).toMatch(/^https?:\/\//);
      const response = await fetch(url as string);
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);
    });
  });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A generator of `total` pseudo-random bytes that measures, at every few MiB, how many bytes of
 * ArrayBuffers are still alive after a full garbage collection: what the consumer holds on to.
 */
function measuredSource(total: number): {
  chunks(): AsyncGenerator<Buffer>;
  peakLiveBytes(): number;
  sha256(): string;
} {
  const gc = exposeGc();
  const hash = createHash("sha256");
  let peak = 0;
  return {
    async *chunks() {
      gc();
      const baseline = process.memoryUsage().arrayBuffers;
      for (let offset = 0; offset < total; offset += STREAM_CHUNK) {
        if (offset % (2 * MiB) === 0 && offset > 0) {
          gc();
          peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
        }
        const chunk = randomBytes(Math.min(STREAM_CHUNK, total - offset));
        hash.update(chunk);
        yield chunk;
      }
    },
    peakLiveBytes: () => peak,
    sha256: () => hash.digest("hex"),
  };
}

function exposeGc(): () => void {
  // Sweep freed ArrayBuffers during gc() itself, so a sample right after it counts only live ones.
  setFlagsFromString("--no-concurrent-array-buffer-sweeping");
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}
