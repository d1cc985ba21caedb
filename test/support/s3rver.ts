/**
 * An in-process S3 server for tests (s3rver on npm; Docker, MinIO and Garage are unavailable on our
 * machines). Each call gets its own random port on 127.0.0.1, its own temporary directory and a
 * fresh bucket, so test files can run in parallel.
 *
 * s3rver 3.7 handles what the storage backend sends (PutObject, GetObject, HeadObject, DeleteObject,
 * HeadBucket, CreateMultipartUpload/UploadPart/CompleteMultipartUpload, presigned GET URLs).
 * Known gaps, none of which the storage tests rely on:
 * - SigV4 signatures (headers and presigned URLs) are not verified; only the access key id is
 *   (an unknown one gets 403 InvalidAccessKeyId). Expiry of presigned URLs is enforced.
 * - AbortMultipartUpload answers 405 MethodNotAllowed; the backend's abort is best effort, so only
 *   the leftover part files differ from real S3.
 * - The 5 MiB minimum part size is not enforced.
 * - Neither the SDK's default CRC32 request checksums nor aws-chunked bodies are understood (the
 *   backend sends checksums only when an operation requires them).
 * - Responses carry no x-amz-request-id, so request ids cannot be asserted here.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface S3rverHandle {
  endpoint: string;
  region: string;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

interface S3rverOptions {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

// s3rver is CommonJS without type declarations; these are the two calls we make.
const S3rver = createRequire(import.meta.url)("s3rver") as new (options: S3rverOptions) => S3rverInstance;

/** s3rver accepts only its fixed key pair when checking signatures. */
const CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export async function startS3rver(opts: { bucket?: string } = {}): Promise<S3rverHandle> {
  const bucket = opts.bucket ?? `garret-test-${Math.random().toString(36).slice(2, 10)}`;
  if (bucket.length < 3) throw new RangeError("S3 bucket names need at least 3 characters");
  const directory = await mkdtemp(join(tmpdir(), "garret-s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    region: "us-east-1",
    bucket,
    credentials: { ...CREDENTIALS },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await server.close();
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    },
  };
}
