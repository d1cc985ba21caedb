/**
 * The `listen` socket address, spelled as Rust's `SocketAddr` parses it: `IPv4:port` or
 * `[IPv6]:port` (`[::]:8080`, `127.0.0.1:9000`, `0.0.0.0:80`). Host names are not accepted, as in atticd.
 */

import { isIPv4, isIPv6 } from "node:net";

export interface ListenAddress {
  /** The bare address, without brackets: `::`, `127.0.0.1`. */
  host: string;
  port: number;
}

export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const v6 = m?.[1];
  const v4 = m?.[2];
  const port = Number(m?.[3]);
  const hostOk = v6 !== undefined ? isIPv6(v6) : v4 !== undefined && isIPv4(v4);
  if (!m || !hostOk || port > 65_535) {
    throw new Error(`invalid socket address "${text}": expected IPv4:port or [IPv6]:port, e.g. "[::]:8080"`);
  }
  return { host: (v6 ?? v4) as string, port };
}

/** The inverse of parseListen, for logs and URLs. */
export function formatListen(addr: ListenAddress): string {
  return addr.host.includes(":") ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}
