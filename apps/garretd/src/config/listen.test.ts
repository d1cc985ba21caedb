import { describe, expect, it } from "vitest";
import { formatListen, parseListen } from "./listen.ts";

describe("parseListen", () => {
  it("parses the SocketAddr forms atticd accepts", () => {
    expect(parseListen("[::]:8080")).toEqual({ host: "::", port: 8080 });
    expect(parseListen("127.0.0.1:9000")).toEqual({ host: "127.0.0.1", port: 9000 });
    expect(parseListen("0.0.0.0:80")).toEqual({ host: "0.0.0.0", port: 80 });
    expect(parseListen("[::1]:0")).toEqual({ host: "::1", port: 0 });
    expect(parseListen("[fe80::1:2]:65535")).toEqual({ host: "fe80::1:2", port: 65535 });
  });

  it.each([
    "localhost:8080",
    "8080",
    ":8080",
    "::8080",
    "[::]",
    "127.0.0.1",
    "127.0.0.1:65536",
    "256.0.0.1:80",
    "[127.0.0.1]:80",
    "[::]:80x",
    " 127.0.0.1:80",
  ])("rejects %j", (text) => {
    expect(() => parseListen(text)).toThrow(/invalid socket address/);
  });

  it("formats back to the same text", () => {
    for (const text of ["[::]:8080", "127.0.0.1:9000", "[fe80::1]:1"]) {
      expect(formatListen(parseListen(text))).toBe(text);
    }
  });
});
