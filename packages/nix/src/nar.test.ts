import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NixFormatError } from "./errors.ts";
import { NarValidator, type NarValidatorLimits } from "./nar.ts";

// A test-only NAR writer. It writes entries in the order given (no sorting) so tests can build
// malformed archives too.
type TestNode =
  | { type: "regular"; contents: string | Uint8Array; executable?: boolean }
  | { type: "symlink"; target: string }
  | { type: "directory"; entries: [string, TestNode][] };

function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function str(s: string | Uint8Array): Buffer {
  const bytes = typeof s === "string" ? Buffer.from(s) : Buffer.from(s);
  return Buffer.concat([u64(bytes.length), bytes, Buffer.alloc((8 - (bytes.length % 8)) % 8)]);
}

function strs(...items: (string | Uint8Array)[]): Buffer {
  return Buffer.concat(items.map(str));
}

function node(n: TestNode): Buffer {
  switch (n.type) {
    case "regular":
      return Buffer.concat([
        strs("(", "type", "regular"),
        n.executable ? strs("executable", "") : Buffer.alloc(0),
        strs("contents", n.contents, ")"),
      ]);
    case "symlink":
      return strs("(", "type", "symlink", "target", n.target, ")");
    case "directory":
      return Buffer.concat([
        strs("(", "type", "directory"),
        ...n.entries.map(([name, child]) =>
          Buffer.concat([strs("entry", "(", "name", name, "node"), node(child), str(")")]),
        ),
        str(")"),
      ]);
  }
}

function nar(root: TestNode): Buffer {
  return Buffer.concat([str("nix-archive-1"), node(root)]);
}

const file = (contents: string, executable = false): TestNode => ({ type: "regular", contents, executable });
const dir = (...entries: [string, TestNode][]): TestNode => ({ type: "directory", entries });

function nested(depth: number): TestNode {
  let n: TestNode = file("leaf");
  for (let i = 0; i < depth; i++) n = dir(["d", n]);
  return n;
}

/** Deterministic piece sizes (LCG) so failures reproduce. */
function* pieces(data: Uint8Array, seed: number, maxPiece: number): Generator<Uint8Array> {
  let state = seed >>> 0;
  let off = 0;
  while (off < data.length) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const size = 1 + (state % maxPiece);
    yield data.subarray(off, off + size);
    off += size;
  }
}

function validateWhole(data: Uint8Array, limits?: NarValidatorLimits): NarValidator {
  const v = new NarValidator(limits);
  v.push(data);
  v.end();
  return v;
}

function validateBytewise(data: Uint8Array): void {
  const v = new NarValidator();
  for (let i = 0; i < data.length; i++) v.push(data.subarray(i, i + 1));
  v.end();
}

function validatePieces(data: Uint8Array, seed: number): void {
  const v = new NarValidator();
  for (const piece of pieces(data, seed, 97)) v.push(piece);
  v.end();
}

/** The InvalidNar reason, whichever way the bytes are split. */
function rejection(data: Uint8Array, limits?: NarValidatorLimits): string {
  const messages = new Set<string>();
  for (const split of [[data], [...pieces(data, 7, 1)], [...pieces(data, 3, 13)]]) {
    const v = new NarValidator(limits);
    try {
      for (const p of split) v.push(p);
      v.end();
    } catch (err) {
      if (!(err instanceof NixFormatError) || err.kind !== "InvalidNar") throw err;
      messages.add(err.message);
      continue;
    }
    throw new Error("expected the NAR to be rejected");
  }
  expect(messages.size).toBe(1);
  return [...messages][0] ?? "";
}

const NO_DEPS = nar(file("Hi! I have no dependencies.\n"));

const TREE = nar(
  dir(
    [
      "bin",
      dir(["hello", file("#!/bin/sh\necho hello\n", true)], ["hi", { type: "symlink", target: "hello" }]),
    ],
    ["empty", file("")],
    ["empty-dir", dir()],
    ["lib", dir(["libfoo.so", { type: "regular", contents: createHash("sha512").update("x").digest() }])],
    ["share", dir(["doc", dir(["README", file("exactly 16 bytes")])])],
    ["z-link", { type: "symlink", target: "/nix/store/ia70ss13m22znbl8khrf2hq72qmh5drr-x/bin" }],
  ),
);

describe("NarValidator on valid archives", () => {
  it("matches attic's no-deps fixture byte for byte", () => {
    expect(NO_DEPS).toHaveLength(144);
    expect(createHash("sha256").update(NO_DEPS).digest("hex")).toBe(
      "baeabdb75c223d171800c17b05c5e7e8e9980723a90eb6ffcc632a305afc5a42",
    );
    expect(validateWhole(NO_DEPS).bytesRead).toBe(144);
  });

  it.each([
    ["regular file", NO_DEPS],
    ["executable", nar(file("#!/bin/sh\n", true))],
    ["empty file", nar(file(""))],
    ["symlink", nar({ type: "symlink", target: "../x" })],
    ["empty directory", nar(dir())],
    ["tree", TREE],
    ["maximal names and targets", nar(dir(["n".repeat(255), { type: "symlink", target: "t".repeat(4096) }]))],
    [
      "names compared as bytes",
      nar(dir(["B", file("")], ["a", file("")], ["a-b", file("")], ["\u00e9", file("")])),
    ],
    ["256 nested directories", nar(nested(256))],
  ])("accepts a %s whole, 1 byte at a time and in random pieces", (_, data) => {
    const v = validateWhole(data);
    expect(v.complete).toBe(true);
    expect(v.bytesRead).toBe(data.length);
    validateBytewise(data);
    for (const seed of [1, 2, 3]) validatePieces(data, seed);
  });

  it("skips large contents without buffering them", () => {
    const v = new NarValidator();
    const size = 64 * 1024 * 1024 + 3;
    v.push(Buffer.concat([strs("nix-archive-1", "(", "type", "regular", "contents"), u64(size)]));
    const block = new Uint8Array(1024 * 1024);
    for (let left = size; left > 0; left -= block.length)
      v.push(block.subarray(0, Math.min(left, block.length)));
    v.push(Buffer.concat([Buffer.alloc(5), str(")")]));
    v.end();
    // magic (8 + 16), four 16-byte keywords, the length word, contents + 5 padding, ")"
    expect(v.bytesRead).toBe(24 + 4 * 16 + 8 + size + 5 + 16);
  });

  it("honours custom limits", () => {
    validateWhole(nar(nested(2)), { maxDepth: 2 });
    expect(rejection(nar(nested(3)), { maxDepth: 2 })).toMatch(/nesting deeper than 2/);
    expect(rejection(nar(dir(["abcd", file("")])), { maxNameLength: 3 })).toMatch(/absurd string length 4/);
    expect(rejection(nar({ type: "symlink", target: "abcd" }), { maxTargetLength: 3 })).toMatch(/absurd/);
  });
});

describe("NarValidator on malformed archives", () => {
  const cases: [string, Buffer, RegExp][] = [
    ["bad magic", Buffer.concat([str("nix-archive-2"), node(file(""))]), /bad magic/],
    ["non-NAR input", Buffer.from("\x1f\x8b\x08\x00 gzip data, not a NAR at all"), /absurd string length/],
    [
      "bad open token",
      Buffer.concat([str("nix-archive-1"), strs("[", "type", "regular", "contents", "", ")")]),
      /expected "\(", got "\["/,
    ],
    [
      "unknown file type",
      strs("nix-archive-1", "(", "type", "fifo", ")"),
      /expected a file type, got "fifo"/,
    ],
    ["missing type", strs("nix-archive-1", "(", "contents", "", ")"), /expected "type"/],
    [
      "regular without contents",
      strs("nix-archive-1", "(", "type", "regular", ")"),
      /expected "executable" or "contents"/,
    ],
    [
      "executable with a value",
      strs("nix-archive-1", "(", "type", "regular", "executable", "yes", "contents", "", ")"),
      /executable marker/,
    ],
    [
      "executable twice",
      strs("nix-archive-1", "(", "type", "regular", "executable", "", "executable", "", "contents", "", ")"),
      /expected "contents"/,
    ],
    [
      "contents twice",
      strs("nix-archive-1", "(", "type", "regular", "contents", "a", "contents", "b", ")"),
      /expected "\)"/,
    ],
    ["symlink without target", strs("nix-archive-1", "(", "type", "symlink", ")"), /expected "target"/],
    [
      "empty symlink target",
      strs("nix-archive-1", "(", "type", "symlink", "target", "", ")"),
      /empty symlink target/,
    ],
    ["NUL in symlink target", strs("nix-archive-1", "(", "type", "symlink", "target", "a\0b", ")"), /NUL/],
    [
      "symlink target over 4096 bytes",
      nar({ type: "symlink", target: "t".repeat(4097) }),
      /absurd string length 4097/,
    ],
    [
      "entry name over 255 bytes",
      nar(dir(["n".repeat(256), file("")])),
      /absurd string length 256 for an entry name/,
    ],
    ["empty name", nar(dir(["", file("")])), /empty entry name/],
    ["name '.'", nar(dir([".", file("")])), /entry name "\." is not allowed/],
    ["name '..'", nar(dir(["..", file("")])), /entry name "\.\." is not allowed/],
    ["name with '/'", nar(dir(["a/b", file("")])), /contains '\/'/],
    ["name with NUL", nar(dir(["a\0b", file("")])), /contains NUL/],
    ["unsorted entries", nar(dir(["b", file("")], ["a", file("")])), /not strictly sorted \("a" after "b"\)/],
    ["duplicate entries", nar(dir(["a", file("")], ["a", file("")])), /not strictly sorted/],
    [
      "unsorted nested entries",
      nar(dir(["a", dir(["y", file("")], ["x", file("")])], ["b", file("")])),
      /not strictly sorted/,
    ],
    [
      "entry without name",
      strs(
        "nix-archive-1",
        "(",
        "type",
        "directory",
        "entry",
        "(",
        "node",
        "(",
        "type",
        "regular",
        "contents",
        "",
        ")",
        ")",
        ")",
      ),
      /expected "name"/,
    ],
    [
      "unknown directory field",
      strs("nix-archive-1", "(", "type", "directory", "contents", "", ")"),
      /expected "entry" or "\)"/,
    ],
    ["nesting deeper than 256", nar(nested(257)), /nesting deeper than 256 directories/],
    [
      "keyword of absurd length",
      Buffer.concat([str("nix-archive-1"), u64(2 ** 40)]),
      /absurd string length 1099511627776 for a keyword/,
    ],
    [
      "length beyond 2^53",
      Buffer.concat([strs("nix-archive-1", "(", "type", "regular", "contents"), u64(2n ** 63n)]),
      /absurd string length/,
    ],
    [
      "non-zero padding in a token",
      Buffer.concat([str("nix-archive-1"), u64(1), Buffer.from("(\0\0\0\0\0\0\x01")]),
      /non-zero padding/,
    ],
    [
      "non-zero padding after contents",
      Buffer.concat([
        strs("nix-archive-1", "(", "type", "regular", "contents"),
        u64(3),
        Buffer.from("abc\0\0\0\0x"),
        str(")"),
      ]),
      /non-zero padding/,
    ],
    ["trailing zero word", Buffer.concat([NO_DEPS, Buffer.alloc(8)]), /trailing data/],
    ["one trailing byte", Buffer.concat([NO_DEPS, Buffer.alloc(1)]), /trailing data/],
    ["a second NAR", Buffer.concat([NO_DEPS, NO_DEPS]), /trailing data/],
    ["empty input", Buffer.alloc(0), /premature end of NAR after 0 bytes/],
  ];

  it.each(cases)("rejects %s", (_, data, message) => {
    expect(rejection(data)).toMatch(message);
  });

  it("rejects every truncation of a valid archive", () => {
    for (let len = 0; len < TREE.length; len++) {
      expect(rejection(TREE.subarray(0, len))).toMatch(/premature end/);
    }
  });

  it("keeps failing after the first error", () => {
    const v = new NarValidator();
    expect(() => v.push(str("nix-archive-2"))).toThrow(/bad magic/);
    expect(() => v.push(node(file("")))).toThrow(/bad magic/);
    expect(() => v.end()).toThrow(/bad magic/);
  });

  it("reports the byte offset of the problem", () => {
    expect(rejection(Buffer.concat([NO_DEPS, Buffer.alloc(1)]))).toMatch(/^invalid NAR at byte 144: /);
  });
});

const nixStore = spawnSync("nix-store", ["--version"], { encoding: "utf8" });
const haveNixStore = nixStore.status === 0;

describe("NarValidator against real Nix", () => {
  it.runIf(haveNixStore)(
    haveNixStore
      ? "accepts `nix-store --dump` of a real directory, identical to the test writer's output"
      : "accepts `nix-store --dump` output (SKIPPED: nix-store is not on PATH)",
    () => {
      const root = mkdtempSync(join(tmpdir(), "garret-nar-"));
      try {
        const top = join(root, "tree");
        mkdirSync(join(top, "bin"), { recursive: true });
        mkdirSync(join(top, "empty-dir"));
        mkdirSync(join(top, "share", "doc"), { recursive: true });
        writeFileSync(join(top, "bin", "hello"), "#!/bin/sh\necho hello\n");
        chmodSync(join(top, "bin", "hello"), 0o755);
        symlinkSync("hello", join(top, "bin", "hi"));
        writeFileSync(join(top, "empty"), "");
        writeFileSync(join(top, "share", "doc", "README"), "exactly 16 bytes");
        writeFileSync(join(top, "Zebra"), "upper case sorts first\n");
        symlinkSync("/nix/store/ia70ss13m22znbl8khrf2hq72qmh5drr-x/bin", join(top, "z-link"));

        const dump = spawnSync("nix-store", ["--dump", top], { maxBuffer: 64 * 1024 * 1024 });
        expect(dump.status, dump.stderr?.toString()).toBe(0);
        const bytes = dump.stdout;
        validateWhole(bytes);
        validateBytewise(bytes);
        validatePieces(bytes, 11);
        expect(
          bytes.equals(
            nar(
              dir(
                ["Zebra", file("upper case sorts first\n")],
                [
                  "bin",
                  dir(
                    ["hello", file("#!/bin/sh\necho hello\n", true)],
                    ["hi", { type: "symlink", target: "hello" }],
                  ),
                ],
                ["empty", file("")],
                ["empty-dir", dir()],
                ["share", dir(["doc", dir(["README", file("exactly 16 bytes")])])],
                ["z-link", { type: "symlink", target: "/nix/store/ia70ss13m22znbl8khrf2hq72qmh5drr-x/bin" }],
              ),
            ),
          ),
        ).toBe(true);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  );
});
