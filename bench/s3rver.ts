/**
 * s3rver (npm) in its own process for the S3 configuration, so that its CPU use lands on neither
 * the benchmark client nor garretd. The child (`s3rver-process.ts`) prints its port on stdout.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { S3rverHandle } from "../test/support/s3rver.ts";
import { spawnTracked, tempDir } from "./cleanup.ts";

const CHILD = fileURLToPath(new URL("./s3rver-process.ts", import.meta.url));

export async function startS3rver(): Promise<S3rverHandle> {
  const dir = await tempDir("s3rver");
  const bucket = `garret-bench-${randomBytes(4).toString("hex")}`;
  const { child, stop } = spawnTracked(process.execPath, [CHILD, dir, bucket], {
    graceMs: 5000,
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /^port (\d+)$/m.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.stderr?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.once("exit", (code) => reject(new Error(`s3rver exited with ${code}:\n${out}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    bucket,
    // s3rver only knows this key pair.
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    stop,
  };
}
