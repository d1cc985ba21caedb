/**
 * The listen addresses are tried before anything else runs, so a busy port is one line and
 * nothing has happened yet: no migration, no garbage collection. The probe binds and closes at
 * once; the server binds again later (another process could take the port in between, which
 * `listenFailureMessage` then reports the same way).
 */
import { createServer } from "node:net";
import { formatListen, type ListenAddress } from "../config/listen.ts";

export class ListenError extends Error {
  override name = "ListenError";
}

const REASONS: Record<string, string> = {
  EADDRINUSE:
    "the address is already in use (another garretd, or another program, holds the port); stop it or pass -l ADDR",
  EACCES: "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE); pass -l ADDR",
  EADDRNOTAVAIL: "no network interface has this address; pass -l ADDR",
};

/** A one-line explanation of a failed bind, or undefined if `err` is not one. */
export function listenFailureMessage(err: unknown, address?: string): string | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const reason = typeof e?.code === "string" ? REASONS[e.code] : undefined;
  if (!reason || e.syscall !== "listen") return undefined;
  const where =
    address ??
    (e.address !== undefined ? formatListen({ host: e.address, port: e.port ?? 0 }) : "the listen address");
  return `cannot listen on ${where}: ${reason}`;
}

export async function checkListenAddress(address: ListenAddress): Promise<void> {
  if (address.port === 0) return;
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => {
      reject(new ListenError(listenFailureMessage(err, formatListen(address)) ?? (err as Error).message));
    });
    server.listen({ host: address.host, port: address.port, exclusive: true }, () => resolve());
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
