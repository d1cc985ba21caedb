/**
 * A TCP proxy on loopback that puts faults between garretd and a dependency (s3rver, Postgres):
 * `pass` forwards, `refuse` resets every connection at once (a stopped service), `blackhole`
 * accepts and never answers (a hung one), and `delayMs` holds each piece of data that long in both
 * directions (a slow one). Switching away from `pass` cuts the connections already open.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export type FaultMode = "pass" | "refuse" | "blackhole";

export class FaultProxy {
  mode: FaultMode = "pass";
  delayMs = 0;
  /** Connections accepted, for asserting that the dependency was actually used. */
  accepted = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  readonly port: number;

  private constructor(server: Server, port: number) {
    this.server = server;
    this.port = port;
  }

  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, target));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    proxy = new FaultProxy(server, typeof address === "object" && address ? address.port : 0);
    return proxy;
  }

  set(mode: FaultMode, delayMs = 0): void {
    this.mode = mode;
    this.delayMs = delayMs;
    if (mode !== "pass") this.cut();
  }

  /** Destroys every open connection. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once("close", () => this.sockets.delete(s));
    s.on("error", () => s.destroy());
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    this.accepted++;
    this.track(client);
    if (this.mode === "refuse") {
      client.resetAndDestroy();
      return;
    }
    if (this.mode === "blackhole") return;
    const upstream = createConnection(target);
    this.track(upstream);
    const forward = (from: Socket, to: Socket) => {
      from.on("data", (data: Buffer) => {
        if (this.delayMs <= 0) {
          if (!to.write(data)) from.pause();
          return;
        }
        from.pause();
        setTimeout(() => {
          if (!to.destroyed) to.write(data);
          from.resume();
        }, this.delayMs);
      });
      to.on("drain", () => from.resume());
      from.on("end", () => to.end());
      from.on("close", () => to.destroy());
    };
    forward(client, upstream);
    forward(upstream, client);
  }
}
