/**
 * Streaming an object of unknown size to S3 with bounded memory, as atticd does
 * (attic `server/src/storage/s3.rs`, `upload_file`): bodies under one part size go up as a single
 * PutObject; larger ones as a multipart upload of 8 MiB parts with several parts in flight, aborted
 * if anything fails so no orphaned parts keep costing money. Memory stays under
 * (concurrency + 1) × 8 MiB: reading the body pauses while that many parts are in flight.
 */

import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { chunksOf, type SourceState } from "./stream-source.ts";

export const PART_SIZE = 8 * 1024 * 1024;

export interface MultipartTarget {
  client: S3Client;
  bucket: string;
  key: string;
  concurrency: number;
  /** Wraps an SDK failure of sub-operation `op` (e.g. `putStream/uploadPart`). */
  wrap(op: string, err: unknown): Error;
}

export async function uploadStream(
  target: MultipartTarget,
  body: NodeJS.ReadableStream | Readable,
): Promise<{ size: number }> {
  const { client, bucket, key } = target;
  const source: SourceState = { failed: false };
  const abort = new AbortController();
  const inFlight = new Set<Promise<void>>();
  const completed: { PartNumber: number; ETag: string | undefined }[] = [];
  let failure: Error | undefined;
  let uploadId: string | undefined;
  let partNumber = 0;
  let size = 0;
  let part = Buffer.allocUnsafe(PART_SIZE);
  let filled = 0;

  const send = async (buffer: Buffer): Promise<void> => {
    if (uploadId === undefined) {
      try {
        const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
        if (created.UploadId === undefined) throw new Error("CreateMultipartUpload returned no UploadId");
        uploadId = created.UploadId;
      } catch (err) {
        throw target.wrap("putStream/createMultipartUpload", err);
      }
    }
    const number = ++partNumber;
    const task = client
      .send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: number,
          Body: buffer,
          ContentLength: buffer.length,
        }),
        { abortSignal: abort.signal },
      )
      .then(
        (result) => {
          completed.push({ PartNumber: number, ETag: result.ETag });
        },
        (err: unknown) => {
          failure ??= target.wrap(`putStream/uploadPart ${number}`, err);
          abort.abort();
        },
      )
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
    while (inFlight.size >= target.concurrency && failure === undefined) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
  };

  try {
    for await (const chunk of chunksOf(body, source)) {
      size += chunk.length;
      let offset = 0;
      while (offset < chunk.length) {
        // A full part is sent only once more data arrives, so a body of exactly one part size
        // still goes up as a single PutObject.
        if (filled === PART_SIZE) {
          await send(part);
          part = Buffer.allocUnsafe(PART_SIZE);
          filled = 0;
        }
        const copied = chunk.copy(part, filled, offset);
        filled += copied;
        offset += copied;
      }
    }
    if (uploadId === undefined) {
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: part.subarray(0, filled),
            ContentLength: filled,
          }),
        );
      } catch (err) {
        throw target.wrap("putStream", err);
      }
      return { size };
    }
    await send(part.subarray(0, filled));
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    completed.sort((a, b) => a.PartNumber - b.PartNumber);
    try {
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: completed },
        }),
      );
    } catch (err) {
      throw target.wrap("putStream/completeMultipartUpload", err);
    }
    return { size };
  } catch (err) {
    abort.abort();
    await Promise.allSettled(inFlight);
    if (uploadId !== undefined) {
      // Best effort: the original failure is what the caller needs to see. A bucket lifecycle rule
      // for incomplete multipart uploads is the backstop if this fails too.
      await client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
        .catch(() => undefined);
    }
    throw err;
  }
}
