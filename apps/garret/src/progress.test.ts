import { describe, expect, it } from "vitest";
import { createReporter, doneLine, formatBytes, TtyReporter } from "./progress.ts";

function sink(isTTY: boolean) {
  const out: string[] = [];
  return { out, isTTY, write: (s: string) => void out.push(s) };
}

describe("progress", () => {
  it("formats sizes and per-path lines like attic", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(3 * 1024 * 1024)).toBe("3.0 MiB");
    expect(
      doneLine("/nix/store/x", { kind: "Uploaded", frac_deduplicated: 0.375 }, 10 * 1024 * 1024, 2000),
    ).toBe("✅ /nix/store/x (5.00 MiB/s, 38% deduplicated)");
    expect(doneLine("/nix/store/x", { kind: "Uploaded", frac_deduplicated: null }, 1024 * 1024, 1000)).toBe(
      "✅ /nix/store/x (1.00 MiB/s)",
    );
    expect(doneLine("/nix/store/x", { kind: "Deduplicated", frac_deduplicated: null }, 1, 1)).toBe(
      "✅ /nix/store/x (deduplicated)",
    );
  });

  it("prints plain lines without escape codes when not a terminal", () => {
    const s = sink(false);
    const r = createReporter(s, () => 0);
    r.begin(2, 20);
    r.progress("/a", 5);
    r.done("/a", { kind: "Deduplicated", frac_deduplicated: null }, 10, 1);
    r.failed("/b", "HTTP 500: x");
    r.end();
    expect(s.out.join("")).toBe("✅ /a (deduplicated)\n❌ /b: HTTP 500: x\n");
  });

  it("keeps a single status line on a terminal", () => {
    const s = sink(true);
    let t = 0;
    const r = new TtyReporter(s, () => t);
    r.begin(2, 2 * 1024 * 1024);
    t = 1000;
    r.progress("/a", 1024 * 1024);
    expect(r.statusLine()).toBe("⏳ 0/2 paths, 1.0 MiB / 2.0 MiB, 1.00 MiB/s");
    r.done("/a", { kind: "Uploaded", frac_deduplicated: 0.5 }, 1024 * 1024, 1000);
    expect(r.statusLine()).toBe("⏳ 1/2 paths, 1.0 MiB / 2.0 MiB, 1.00 MiB/s, 50% deduplicated");
    r.end();
    const text = s.out.join("");
    expect(text).toContain("\r\x1b[K✅ /a (1.00 MiB/s, 50% deduplicated)\n");
    expect(text.endsWith("50% deduplicated\n")).toBe(true);
  });

  it("shows bytes sent and skipped for chunked pushes, per path and in the status line", () => {
    const MiB = 1024 * 1024;
    expect(
      doneLine("/nix/store/x", { kind: "Uploaded", frac_deduplicated: null }, 100 * MiB, 10_000, {
        sent: 5 * MiB,
        skipped: 95 * MiB,
      }),
    ).toBe("✅ /nix/store/x (10.00 MiB/s, sent 5.0 MiB, skipped 95.0 MiB)");
    let t = 0;
    const r = new TtyReporter(sink(true), () => t);
    r.begin(2, 200 * MiB);
    t = 1000;
    r.progress("/a", 50 * MiB, { sent: 2 * MiB, skipped: 48 * MiB });
    expect(r.statusLine()).toBe(
      "⏳ 0/2 paths, 50.0 MiB / 200.0 MiB, 50.00 MiB/s, sent 2.0 MiB, skipped 48.0 MiB",
    );
    r.done("/a", { kind: "Uploaded", frac_deduplicated: null }, 100 * MiB, 1000, {
      sent: 4 * MiB,
      skipped: 96 * MiB,
    });
    r.progress("/b", 10 * MiB, { sent: 10 * MiB, skipped: 0 });
    expect(r.statusLine()).toContain("sent 14.0 MiB, skipped 96.0 MiB");
  });
});
