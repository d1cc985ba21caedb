/**
 * The S3 backend (attic `server/src/storage/s3.rs`): objects live at `<key>` = the object name in
 * one bucket. A custom endpoint (MinIO, Garage, R2, ...) switches to path-style addressing, as
 * atticd does; credentials come from the config or the default AWS provider chain. Retries use the
 * SDK's adaptive mode, and every request has connect, response and idle timeouts so a dead S3
 * fails requests instead of hanging them.
 *
 * Request checksums are sent only when an operation requires them: the SDK's default since 2025
 * (CRC32 on every upload, aws-chunked trailers for streams) is rejected by several S3-compatible
 * servers that atticd users run.
 */

import { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { S3StorageConfig, StorageBackend } from "./backend.ts";
import { assertObjectName } from "./object-name.ts";
import { type RemoteFile, remoteFileId } from "./remote-file.ts";
import { s3Error } from "./s3-error.ts";
import { uploadStream } from "./s3-multipart.ts";
import { StorageError } from "./storage-error.ts";

const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const MAX_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_MULTIPART_CONCURRENCY = 4;

export class S3Storage implements StorageBackend {
  readonly kind = "s3";
  readonly region: string;
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly secrets: readonly string[];
  private readonly multipartConcurrency: number;

  constructor(config: S3StorageConfig) {
    const timeout = config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!(timeout > 0)) throw new RangeError("requestTimeoutMs must be positive");
    const concurrency = config.multipartConcurrency ?? DEFAULT_MULTIPART_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError("multipartConcurrency must be a positive integer");
    }
    this.region = config.region;
    this.bucket = config.bucket;
    this.multipartConcurrency = concurrency;
    this.secrets = config.credentials ? [config.credentials.secretAccessKey] : [];
    this.client = new S3Client({
      region: config.region,
      ...(config.endpoint !== undefined ? { endpoint: config.endpoint, forcePathStyle: true } : {}),
      ...(config.credentials !== undefined
        ? {
            credentials: {
              accessKeyId: config.credentials.accessKeyId,
              secretAccessKey: config.credentials.secretAccessKey,
            },
          }
        : {}),
      retryMode: "adaptive",
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: {
        connectionTimeout: Math.min(timeout, MAX_CONNECT_TIMEOUT_MS),
        requestTimeout: timeout,
        throwOnRequestTimeout: true,
        socketTimeout: timeout,
      },
    });
  }

  locate(name: string): { remoteFile: RemoteFile; remoteFileId: string } {
    assertObjectName("locate", name);
    const remoteFile: RemoteFile = { S3: { region: this.region, bucket: this.bucket, key: name } };
    return { remoteFile, remoteFileId: remoteFileId(remoteFile) };
  }

  async put(name: string, body: Uint8Array): Promise<void> {
    assertObjectName("put", name);
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: name, Body: body, ContentLength: body.byteLength }),
      );
    } catch (err) {
      throw this.wrap("put", name, err);
    }
  }

  async putStream(name: string, body: NodeJS.ReadableStream | Readable): Promise<{ size: number }> {
    assertObjectName("putStream", name);
    return uploadStream(
      {
        client: this.client,
        bucket: this.bucket,
        key: name,
        concurrency: this.multipartConcurrency,
        wrap: (op, err) => this.wrap(op, name, err),
      },
      body,
    );
  }

  async get(file: RemoteFile): Promise<Readable> {
    const key = this.keyOf("get", file);
    try {
      // The SDK resolves once the response headers are in: the object exists and its body is open.
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!(result.Body instanceof Readable))
        throw new TypeError("GetObject returned no Node.js stream body");
      return result.Body;
    } catch (err) {
      throw this.wrap("get", key, err);
    }
  }

  async getBuffer(file: RemoteFile): Promise<Buffer> {
    const key = this.keyOf("getBuffer", file);
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (result.Body === undefined) throw new TypeError("GetObject returned no body");
      const bytes = await result.Body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      throw this.wrap("getBuffer", key, err);
    }
  }

  async exists(file: RemoteFile): Promise<boolean> {
    const key = this.keyOf("exists", file);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (err) {
      const wrapped = this.wrap("exists", key, err);
      if (wrapped.notFound) return false;
      throw wrapped;
    }
  }

  async sizeOf(file: RemoteFile): Promise<number | null> {
    const key = this.keyOf("sizeOf", file);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return head.ContentLength ?? null;
    } catch (err) {
      const wrapped = this.wrap("sizeOf", key, err);
      if (wrapped.notFound) return null;
      throw wrapped;
    }
  }

  async delete(file: RemoteFile): Promise<void> {
    const key = this.keyOf("delete", file);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      const wrapped = this.wrap("delete", key, err);
      if (!wrapped.notFound) throw wrapped;
    }
  }

  async presign(file: RemoteFile, expiresInSeconds: number): Promise<string | null> {
    const key = this.keyOf("presign", file);
    try {
      return await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
        expiresIn: expiresInSeconds,
      });
    } catch (err) {
      throw this.wrap("presign", key, err);
    }
  }

  async anyObjectName(): Promise<string | null> {
    try {
      const listed = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, MaxKeys: 1 }));
      return listed.Contents?.[0]?.Key ?? null;
    } catch (err) {
      throw this.wrap("anyObjectName", this.bucket, err);
    }
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const wrapped = this.wrap("check", this.bucket, err);
      // HEAD has no body, so a missing bucket is a bare 404; say what it means.
      if (wrapped.httpStatus === 404) {
        throw new StorageError("check", this.bucket, "S3 HTTP 404: the bucket does not exist", {
          cause: err,
          code: "NoSuchBucket",
          httpStatus: 404,
          requestId: wrapped.requestId,
        });
      }
      throw wrapped;
    }
  }

  /** Releases the HTTP connection pool. */
  destroy(): void {
    this.client.destroy();
  }

  private wrap(op: string, key: string, err: unknown): StorageError {
    return s3Error(op, key, err, this.secrets);
  }

  /**
   * The key of a file this backend can serve. Files of the other backend kind, or of another
   * bucket or region, are refused loudly: migrating operators keep their bucket, so a mismatch
   * means a misconfiguration, and silently reading a different bucket would serve wrong data.
   */
  private keyOf(op: string, file: RemoteFile): string {
    if ("Local" in file) {
      throw new StorageError(
        op,
        remoteFileId(file),
        "the object is recorded as stored locally, but this server's storage is S3",
      );
    }
    const { region, bucket, key } = file.S3;
    if (bucket !== this.bucket || region !== this.region) {
      throw new StorageError(
        op,
        remoteFileId(file),
        `the object is recorded in S3 bucket "${bucket}" (region "${region}"), but this server's storage is bucket "${this.bucket}" (region "${this.region}")`,
      );
    }
    assertObjectName(op, key);
    return key;
  }
}
