/**
 * Byte comparison for large buffers. vitest's deep equality walks a Buffer key by key, which for
 * megabytes of data is slow and, on a mismatch, tries to print a diff that exhausts the heap.
 */
import { createHash } from "node:crypto";
import { expect } from "vitest";

function digest(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect({ length: actual.length, sha256: digest(actual) }).toEqual({
    length: expected.length,
    sha256: digest(expected),
  });
}
