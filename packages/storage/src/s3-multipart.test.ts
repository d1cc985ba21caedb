/**
 * The multipart uploader against a scripted S3 client: part sizes and order, the concurrency bound,
 * the single-PutObject threshold, and the abort on failure (which s3rver cannot show: it answers
 * AbortMultipartUpload with 405).
 */

import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { PART_SIZE, uploadStream } from "./s3-multipart.ts";

type Sent = { command: object; input: Record<string, unknown> };

/** A client whose UploadPart calls finish in reverse order of their start, to catch ordering bugs. */
function scriptedClient(options: { failPart?: number } = {}) {
  const sent: Sent[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const signals: AbortSignal[] = [];
  const client = {
    async send(command: { input: Record<string, unknown> }, opts?: { abortSignal?: AbortSignal }) {
      sent.push({ command, input: command.input });
      if (command instanceof CreateMultipartUploadCommand) return { UploadId: "upload-1" };
      if (command instanceof UploadPartCommand) {
        if (opts?.abortSignal) signals.push(opts.abortSignal);
        const number = command.input.PartNumber as number;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20 - number * 5 > 0 ? 20 - number * 5 : 1));
        inFlight--;
        if (number === options.failPart)
          throw Object.assign(new Error("part failed"), { name: "InternalError" });
        return { ETag: `"etag-${number}"` };
      }
      return {};
    },
  };
  return {
    client: client as unknown as S3Client,
    sent,
    maxInFlight: () => maxInFlight,
    signals,
    names: () => sent.map((s) => s.command.constructor.name),
  };
}

function target(client: S3Client, concurrency = 2) {
  return {
    client,
    bucket: "b",
    key: "k.chunk",
    concurrency,
    wrap: (op: string, err: unknown) => new Error(`wrapped ${op}`, { cause: err }),
  };
}

/** Odd-sized pieces with distinct contents, so misplaced bytes show. */
function pieces(size: number, pieceSize = 1024 * 1024 + 7): Buffer[] {
  const result: Buffer[] = [];
  for (let offset = 0; offset < size; offset += pieceSize) {
    result.push(Buffer.alloc(Math.min(pieceSize, size - offset), offset % 251));
  }
  return result;
}

function body(size: number): Readable {
  return Readable.from(pieces(size));
}

describe("uploadStream", () => {
  it("uploads 8 MiB parts, bounded in flight, and completes them in part order", async () => {
    const fake = scriptedClient();
    const size = 4 * PART_SIZE + 12345;
    expect(await uploadStream(target(fake.client, 2), body(size))).toEqual({ size });
    expect(fake.names()).toEqual([
      "CreateMultipartUploadCommand",
      "UploadPartCommand",
      "UploadPartCommand",
      "UploadPartCommand",
      "UploadPartCommand",
      "UploadPartCommand",
      "CompleteMultipartUploadCommand",
    ]);
    const parts = fake.sent.filter((s) => s.command instanceof UploadPartCommand);
    expect(parts.map((p) => (p.input.Body as Buffer).length)).toEqual([
      PART_SIZE,
      PART_SIZE,
      PART_SIZE,
      PART_SIZE,
      12345,
    ]);
    expect(parts.map((p) => p.input.ContentLength)).toEqual([
      PART_SIZE,
      PART_SIZE,
      PART_SIZE,
      PART_SIZE,
      12345,
    ]);
    expect(fake.maxInFlight()).toBe(2);
    const complete = fake.sent.find((s) => s.command instanceof CompleteMultipartUploadCommand);
    expect(complete?.input.MultipartUpload).toEqual({
      Parts: [1, 2, 3, 4, 5].map((n) => ({ PartNumber: n, ETag: `"etag-${n}"` })),
    });
  });

  it("sends a body of exactly one part size as a single PutObject", async () => {
    const fake = scriptedClient();
    expect(await uploadStream(target(fake.client), body(PART_SIZE))).toEqual({ size: PART_SIZE });
    expect(fake.names()).toEqual(["PutObjectCommand"]);
    const put = fake.sent[0] as Sent;
    expect(put.command).toBeInstanceOf(PutObjectCommand);
    expect((put.input.Body as Buffer).equals(Buffer.concat(pieces(PART_SIZE)))).toBe(true);
  });

  it("aborts the upload and reports the failing part", async () => {
    const fake = scriptedClient({ failPart: 2 });
    const error = await uploadStream(target(fake.client, 2), body(6 * PART_SIZE)).catch(
      (err: unknown) => err,
    );
    expect((error as Error).message).toBe("wrapped putStream/uploadPart 2");
    expect(fake.names()).toContain("AbortMultipartUploadCommand");
    expect(fake.names()).not.toContain("CompleteMultipartUploadCommand");
    expect(fake.signals.every((signal) => signal.aborted)).toBe(true);
    const abort = fake.sent.find((s) => s.command instanceof AbortMultipartUploadCommand);
    expect(abort?.input).toEqual({ Bucket: "b", Key: "k.chunk", UploadId: "upload-1" });
  });

  it("rethrows a failing body unchanged and aborts the started upload", async () => {
    const fake = scriptedClient();
    const failure = new Error("client hung up");
    async function* failing() {
      yield Buffer.alloc(PART_SIZE + 1);
      throw failure;
    }
    await expect(uploadStream(target(fake.client), Readable.from(failing()))).rejects.toBe(failure);
    expect(fake.names()).toEqual([
      "CreateMultipartUploadCommand",
      "UploadPartCommand",
      "AbortMultipartUploadCommand",
    ]);
  });
});
