/**
 * Child process entry: `node bench/s3rver-process.ts DIR BUCKET` runs s3rver on a
 * free loopback port with one bucket and prints `port N`. Stops on SIGTERM.
 */
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

// s3rver is CommonJS without type declarations; this is the one constructor we use.
const S3rver = createRequire(import.meta.url)("s3rver") as new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

const [directory, bucket] = process.argv.slice(2);
if (!directory || !bucket) {
  process.stderr.write("usage: s3rver-process.ts DIR BUCKET\n");
  process.exit(2);
}
const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  directory,
  silent: true,
  configureBuckets: [{ name: bucket }],
});
const address = await server.run();
process.stdout.write(`port ${address.port}\n`);
process.once("SIGTERM", () => {
  void server.close().finally(() => process.exit(0));
});
