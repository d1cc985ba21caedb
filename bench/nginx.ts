/**
 * nginx from Debian serving a `nix copy --to file://` directory, the baseline every ratio is taken
 * against (cache-shootout's "nginx-zstd": pre-compressed `.nar.zst` files, sendfile). It runs in the
 * foreground (`daemon off`) on a free loopback port with its own configuration, pid file and temp
 * paths, never as the system service. Installed with apt (nginx-light, else nginx) when missing.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { NGINX_BIN, nginxConfig } from "../test/support/nginx.ts";
import { spawnTracked, tempDir } from "./cleanup.ts";
import { aptInstall, commandWorks, exec } from "./exec.ts";
import { freePort, waitForHttp } from "./ports.ts";

export interface NginxHandle {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

const NGINX = NGINX_BIN;

export async function ensureNginx(): Promise<void> {
  if (await commandWorks(NGINX, ["-v"])) return;
  process.stderr.write("bench: nginx not found, installing it from Debian\n");
  await aptInstall(["nginx-light", "nginx"]);
  if (!(await commandWorks(NGINX, ["-v"]))) throw new Error(`nginx was installed but \`${NGINX} -v\` fails`);
}

export async function nginxVersion(): Promise<string> {
  const r = await exec(NGINX, ["-v"]);
  return (r.stderr || r.stdout).trim();
}

export async function startNginx(root: string): Promise<NginxHandle> {
  const dir = await tempDir("nginx");
  const port = await freePort();
  const conf = nginxConfig({ dir, port, root, workers: "auto" });
  const confPath = join(dir, "nginx.conf");
  await writeFile(confPath, conf);
  const { child, stop } = spawnTracked(NGINX, ["-c", confPath, "-p", dir, "-e", join(dir, "error.log")], {
    graceMs: 5000,
  });
  let output = "";
  child.stderr?.on("data", (b: Buffer) => {
    output += b.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/nix-cache-info`, child, () => output);
  if (child.pid === undefined) throw new Error("nginx has no pid");
  return { url, pid: child.pid, stop };
}
