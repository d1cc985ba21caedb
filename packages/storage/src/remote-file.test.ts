/** atticd's `remote_file` JSON and `remote_file_id` strings, byte for byte. */
import { describe, expect, it } from "vitest";
import { parseRemoteFile, remoteFileId, serializeRemoteFile } from "./remote-file.ts";

describe("remote files", () => {
  it("reads and writes atticd's externally tagged JSON", () => {
    const local = '{"Local":{"name":"5b7c2d0e-3f4a-4b8e-9c1d-2e3f4a5b6c7d.chunk"}}';
    const s3 =
      '{"S3":{"region":"garage","bucket":"attic","key":"5b7c2d0e-3f4a-4b8e-9c1d-2e3f4a5b6c7d.chunk"}}';
    expect(serializeRemoteFile(parseRemoteFile(local))).toBe(local);
    expect(serializeRemoteFile(parseRemoteFile(s3))).toBe(s3);
    expect(serializeRemoteFile({ S3: { key: "k", bucket: "b", region: "r" } } as never)).toBe(
      '{"S3":{"region":"r","bucket":"b","key":"k"}}',
    );
  });

  it("derives atticd's remote_file_id", () => {
    expect(remoteFileId({ Local: { name: "ab.chunk" } })).toBe("local:ab.chunk");
    expect(remoteFileId({ S3: { region: "us-east-1", bucket: "attic", key: "ab.chunk" } })).toBe(
      "s3:us-east-1/attic/ab.chunk",
    );
  });

  it("rejects malformed values and the test-only Http variant", () => {
    for (const bad of [
      "not json",
      "[]",
      "null",
      "{}",
      '{"Local":{"name":"a"},"S3":{}}',
      '{"Local":{}}',
      '{"Local":{"name":7}}',
      '{"S3":{"region":"r","bucket":"b"}}',
      '{"Http":{"url":"http://example.com/x"}}',
    ]) {
      expect(() => parseRemoteFile(bad)).toThrow(TypeError);
    }
  });
});
