/**
 * The local filesystem backend, in atticd's on-disk layout (attic `server/src/storage/local.rs`):
 *
 *   <path>/VERSION                          contains `1`
 *   <path>/0/0f/0f6c4b9e-…-6b1f1c3d2e4a.chunk  first character, then first two characters of the name
 *
 * so an atticd storage directory can be served as is. A directory without VERSION is atticd's
 * v0 flat layout (every object at the root); opening it moves the objects into place first, as
 * atticd does. Writes go to a temporary file beside the target and are renamed into place, so a
 * reader or a crash never sees half an object; the file is flushed to disk before the rename and
 * the directory after it (and any fan-out directory the write created), so an object a write
 * acknowledged survives a power loss, not just a crash of the process.
 */
import { randomUUID } from "node:crypto";
import {
  close as closeCallback,
  createWriteStream,
  type Dirent,
  constants as fsConstants,
  open as openCallback,
  read as readCallback,
  readFile as readFileCallback,
} from "node:fs";
import {
  access,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BatchReadOptions, LocalStorageConfig, StorageBackend } from "./backend.ts";
import { BatchReadError, type BatchReader, createBatchReader } from "./batch-reader.ts";
import { assertObjectName, objectNameProblem } from "./object-name.ts";
import { type RemoteFile, remoteFileId } from "./remote-file.ts";
import { StorageError } from "./storage-error.ts";
import { chunksOf, type SourceState } from "./stream-source.ts";

const LAYOUT_VERSION = "1";
/**
 * Batch reads expected to be at most this big are read on the calling thread: for a closure's
 * typical NAR (tens of KiB, one or a few chunk files in the page cache) the blocking open/read/close
 * costs microseconds, where handing the batch to a read worker cost a message each way and two
 * thread wake-ups (22% of a download profile, docs/performance.md). Larger batches still go to the
 * workers, so one read never holds the event loop for long.
 */
export const INLINE_READ_BYTES = 128 * 1024;
/**
 * A batch read with `inline` (BatchReadOptions) is read on the calling thread up to the read pool's
 * largest slot: from the page cache that takes a few hundred µs, where the hand-off to a worker
 * costs two thread wake-ups, which on a loaded machine were most of the response time of a NAR of
 * 128 KiB-1.3 MiB on one connection (docs/performance.md, round 5).
 */
export const INLINE_REQUESTED_READ_BYTES = 1536 * 1024;
const TEMP_PREFIX = ".tmp-";

export class LocalStorage implements StorageBackend {
  readonly kind = "local";
  readonly root: string;

  private batchReader: BatchReader | undefined;
  /** `root` with one trailing separator (pathOf). */
  private readonly rootPrefix: string;

  private constructor(root: string) {
    this.root = root;
    this.rootPrefix = root.endsWith(sep) ? root : root + sep;
  }

  /** Creates the directory and VERSION file if needed, migrating a v0 flat layout. */
  static async open(config: LocalStorageConfig): Promise<LocalStorage> {
    const root = resolve(config.path);
    const storage = new LocalStorage(root);
    try {
      await mkdir(root, { recursive: true });
      const versionPath = join(root, "VERSION");
      const version = await readFile(versionPath, "utf8").catch((err: unknown) => {
        if (errnoCode(err) === "ENOENT") return null;
        throw err;
      });
      if (version === null) {
        await storage.migrateFlatLayout();
        await writeFile(versionPath, LAYOUT_VERSION);
      } else if (version.trim() !== LAYOUT_VERSION) {
        throw new StorageError(
          "open",
          root,
          `unsupported storage layout version ${JSON.stringify(version.trim())}`,
        );
      }
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw fsError("open", root, err);
    }
    return storage;
  }

  locate(name: string): { remoteFile: RemoteFile; remoteFileId: string } {
    assertObjectName("locate", name);
    const remoteFile: RemoteFile = { Local: { name } };
    return { remoteFile, remoteFileId: remoteFileId(remoteFile) };
  }

  async put(name: string, body: Uint8Array): Promise<void> {
    const path = this.pathOf("put", name);
    const temp = tempPathFor(path);
    try {
      try {
        await writeDurably(temp, body);
      } catch (err) {
        if (errnoCode(err) !== "ENOENT") throw err;
        // First object in this fan-out directory.
        await this.makeDirectories(dirname(path));
        await writeDurably(temp, body);
      }
      await rename(temp, path);
      await syncDirectory(dirname(path));
    } catch (err) {
      await rm(temp, { force: true });
      throw fsError("put", name, err);
    }
  }

  async putStream(name: string, body: NodeJS.ReadableStream | Readable): Promise<{ size: number }> {
    const path = this.pathOf("putStream", name);
    const temp = tempPathFor(path);
    let size = 0;
    const source: SourceState = { failed: false };
    async function* counted(): AsyncGenerator<Buffer> {
      for await (const chunk of chunksOf(body, source)) {
        size += chunk.length;
        yield chunk;
      }
    }
    try {
      await this.makeDirectories(dirname(path));
      // flush: the file is fsynced before the stream closes.
      await pipeline(counted(), createWriteStream(temp, { flags: "wx", flush: true }));
      await rename(temp, path);
      await syncDirectory(dirname(path));
    } catch (err) {
      await rm(temp, { force: true });
      if (source.failed) throw err;
      throw fsError("putStream", name, err);
    }
    return { size };
  }

  async get(file: RemoteFile): Promise<Readable> {
    const name = this.nameOf("get", file);
    try {
      // Opening before resolving is the point: a missing file fails here, not mid-stream.
      const handle = await open(this.pathOf("get", name), "r");
      return handle.createReadStream();
    } catch (err) {
      throw fsError("get", name, err);
    }
  }

  async getBuffer(file: RemoteFile, expectedSize?: number): Promise<Buffer> {
    const name = this.nameOf("getBuffer", file);
    const path = this.pathOf("getBuffer", name);
    try {
      if (expectedSize !== undefined && Number.isSafeInteger(expectedSize) && expectedSize >= 0) {
        const data = await readExpected(path, expectedSize);
        if (data !== null) return data;
      }
      return await readWhole(path);
    } catch (err) {
      throw fsError("getBuffer", name, err);
    }
  }

  async readConcatenated(
    files: RemoteFile[],
    expectedBytes?: number,
    opts?: BatchReadOptions,
  ): Promise<Buffer> {
    const names = files.map((file) => this.nameOf("readConcatenated", file));
    const paths = names.map((name) => this.pathOf("readConcatenated", name));
    try {
      this.batchReader ??= createBatchReader();
      const inlineLimit = opts?.inline ? INLINE_REQUESTED_READ_BYTES : INLINE_READ_BYTES;
      if (expectedBytes !== undefined && expectedBytes <= inlineLimit) {
        return this.batchReader.readHere(paths, expectedBytes);
      }
      return await this.batchReader.read(paths, expectedBytes);
    } catch (err) {
      const failed = err instanceof BatchReadError ? err.failure.index : (err as { index?: number }).index;
      const code = err instanceof BatchReadError ? err.failure.code : errnoCode(err);
      throw fsError(
        "readConcatenated",
        names[failed ?? 0] ?? "(batch)",
        Object.assign(new Error((err as Error).message), { code }),
      );
    }
  }

  recycle(buffer: Uint8Array): void {
    this.batchReader?.recycle(buffer);
  }

  async exists(file: RemoteFile): Promise<boolean> {
    const name = this.nameOf("exists", file);
    try {
      return (await stat(this.pathOf("exists", name))).isFile();
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return false;
      throw fsError("exists", name, err);
    }
  }

  async sizeOf(file: RemoteFile): Promise<number | null> {
    const name = this.nameOf("sizeOf", file);
    try {
      const info = await stat(this.pathOf("sizeOf", name));
      return info.isFile() ? info.size : null;
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return null;
      throw fsError("sizeOf", name, err);
    }
  }

  async delete(file: RemoteFile): Promise<void> {
    const name = this.nameOf("delete", file);
    try {
      await unlink(this.pathOf("delete", name));
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return;
      throw fsError("delete", name, err);
    }
  }

  /**
   * Deletes temporary files of writes whose process was killed before the rename (a crash
   * otherwise leaves them forever: no chunk row names them). Only files untouched since
   * `olderThan` go, so a write still streaming elsewhere is left alone.
   */
  async removeAbandonedWrites(olderThan: Date): Promise<number> {
    let removed = 0;
    const walk = async (dir: string, depth: number): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (errnoCode(err) === "ENOENT") return;
        throw fsError("removeAbandonedWrites", dir, err);
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory() && depth < 2) {
          await walk(path, depth + 1);
        } else if (entry.isFile() && entry.name.startsWith(TEMP_PREFIX)) {
          const info = await stat(path).catch(() => null);
          if (info && info.mtime < olderThan) {
            await rm(path, { force: true });
            removed++;
          }
        }
      }
    };
    await walk(this.root, 0);
    return removed;
  }

  async anyObjectName(): Promise<string | null> {
    const search = async (dir: string, depth: number): Promise<string | null> => {
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (errnoCode(err) === "ENOENT") return null;
        throw fsError("anyObjectName", dir, err);
      }
      for (const entry of entries) {
        if (depth < 2 && entry.isDirectory()) {
          const found = await search(join(dir, entry.name), depth + 1);
          if (found) return found;
        } else if (depth === 2 && entry.isFile() && !entry.name.startsWith(TEMP_PREFIX)) {
          return entry.name;
        }
      }
      return null;
    };
    return search(this.root, 0);
  }

  async presign(file: RemoteFile, _expiresInSeconds: number): Promise<string | null> {
    this.nameOf("presign", file);
    return null;
  }

  async check(): Promise<void> {
    try {
      await access(this.root, fsConstants.R_OK | fsConstants.W_OK | fsConstants.X_OK);
      await access(join(this.root, "VERSION"), fsConstants.R_OK);
    } catch (err) {
      throw fsError("check", this.root, err);
    }
  }

  /** Creates the fan-out directories of `dir` as needed; those created are flushed into their parents. */
  private async makeDirectories(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true });
    if (first === undefined) return;
    // `first` is the topmost directory created: every parent from there up to the root gained an entry.
    for (let d = dirname(dir); ; d = dirname(d)) {
      await syncDirectory(d);
      if (d === dirname(first) || d === this.root || !d.startsWith(this.root)) break;
    }
  }

  /**
   * `<root>/<c0>/<c0c1>/<name>`, after validating the name so the path stays under the root. A valid
   * name has no separator, no `..` and no leading `.`, so the concatenation is already the normal
   * form `join` would compute; join's normalisation was ~8% of a download's main-thread time, as
   * every chunk of every download passes here.
   */
  private pathOf(op: string, name: string): string {
    assertObjectName(op, name);
    const path = `${this.rootPrefix}${name.slice(0, 1)}${sep}${name.slice(0, 2)}${sep}${name}`;
    if (!path.startsWith(this.root + sep)) throw new StorageError(op, name, "path escapes the storage root");
    return path;
  }

  private nameOf(op: string, file: RemoteFile): string {
    if ("Local" in file) return file.Local.name;
    throw new StorageError(
      op,
      remoteFileId(file),
      "the object is recorded as stored on S3, but this server's storage is local",
    );
  }

  /** atticd's v0 → v1 upgrade: every regular file at the root moves into the fan-out layout. */
  private async migrateFlatLayout(): Promise<void> {
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      // Anything that is not an object atticd could have written stays where it is.
      if (!entry.isFile() || entry.name === "VERSION" || objectNameProblem(entry.name) !== null) continue;
      const path = this.pathOf("open", entry.name);
      await mkdir(dirname(path), { recursive: true });
      await rename(join(this.root, entry.name), path);
    }
  }
}

/**
 * The callback `readFile`: NAR downloads read every chunk whole, and the promise version (a
 * FileHandle, one promise per open/fstat/read/close) cost several times more main-thread time per
 * chunk than the read itself.
 */
function readWhole(path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    readFileCallback(path, (err, data) => (err ? reject(err) : resolve(data)));
  });
}

/**
 * Open, one read of `size + 1` bytes, close: no fstat. Null when the file turned out larger than
 * expected (the caller then reads it whole); a shorter file is returned as it is.
 */
function readExpected(path: string, size: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    openCallback(path, "r", (openErr, fd) => {
      if (openErr) return reject(openErr);
      const buf = Buffer.allocUnsafe(size + 1);
      let filled = 0;
      const finish = (err: Error | null, result: Buffer | null) =>
        closeCallback(fd, (closeErr) => (err || closeErr ? reject(err ?? closeErr) : resolve(result)));
      const step = () =>
        readCallback(fd, buf, filled, buf.length - filled, null, (readErr, n) => {
          if (readErr) return finish(readErr, null);
          filled += n;
          if (n === 0) return finish(null, buf.subarray(0, filled));
          if (filled > size) return finish(null, null);
          step();
        });
      step();
    });
  });
}

/** Writes a new file and flushes it to disk before resolving. */
async function writeDurably(path: string, body: Uint8Array): Promise<void> {
  const handle = await open(path, "wx");
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a directory's entries (a rename or a new file in it) to disk. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function tempPathFor(path: string): string {
  return join(dirname(path), `${TEMP_PREFIX}${randomUUID()}`);
}

function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string")
    return err.code;
  return undefined;
}

function fsError(op: string, key: string, err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  const code = errnoCode(err);
  const notFound = code === "ENOENT";
  const detail = notFound ? "object not found" : err instanceof Error ? err.message : String(err);
  return new StorageError(op, key, detail, { notFound, cause: err, code });
}
