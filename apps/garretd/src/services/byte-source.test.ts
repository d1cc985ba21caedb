/** ByteReader: exact reads across piece boundaries, limits, early end. */
import { describe, expect, it } from "vitest";
import { ByteReader } from "./byte-source.ts";

async function* pieces(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield Buffer.from(p);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<string> {
  const out: Uint8Array[] = [];
  for await (const p of it) out.push(p);
  return Buffer.concat(out).toString();
}

describe("ByteReader", () => {
  it("reads a preamble split across pieces and continues with the rest", async () => {
    const r = new ByteReader(pieces("ab", "cd", "efgh", "ij"));
    expect((await r.readExact(5))?.toString()).toBe("abcde");
    expect(await collect(r.rest())).toBe("fghij");
  });
  it("returns null when the stream ends before the preamble", async () => {
    const r = new ByteReader(pieces("abc"));
    expect(await r.readExact(5)).toBeNull();
  });
  it("caps the rest at a limit", async () => {
    const r = new ByteReader(pieces("abc", "defg", "hij"));
    expect(await collect(r.rest(5))).toBe("abcde");
  });
  it("skips empty pieces", async () => {
    const r = new ByteReader(pieces("", "a", "", "b"));
    expect((await r.readExact(2))?.toString()).toBe("ab");
  });
});

describe("ByteReader.drain", () => {
  it("consumes the rest of a stream within the limit", async () => {
    const r = new ByteReader(pieces("abc", "def"));
    expect((await r.readExact(2))?.toString()).toBe("ab");
    expect(await r.drain(10)).toBe(true);
    expect(await r.readExact(1)).toBeNull();
  });
  it("reports a remainder larger than the limit", async () => {
    const r = new ByteReader(pieces("abcdef", "ghijkl"));
    expect(await r.drain(4)).toBe(false);
  });
});
