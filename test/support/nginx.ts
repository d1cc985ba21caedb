/**
 * Debian's nginx (/usr/sbin/nginx) serving a directory as a static binary cache for tests: a child
 * process in the foreground with its own configuration, pid file, temp paths and access log in a
 * temporary directory, on a free loopback port. Never the system service.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";

export const NGINX_BIN = "/usr/sbin/nginx";

export interface NginxServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  /** Request paths (`GET /nar/x.nar.xz 200`) from the access log, in order. */
  requests(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * The one nginx configuration of tests and benchmarks: `root` served as a static binary cache on
 * 127.0.0.1:`port`, pid file and temp paths in `dir`, tuned as cache-shootout's baseline (sendfile,
 * long keep-alive). `accessLog`: a file of `METHOD URI STATUS` lines; none when omitted.
 */
export function nginxConfig(opts: {
  dir: string;
  port: number;
  root: string;
  workers: number | "auto";
  accessLog?: string;
}): string {
  const { dir, port, root } = opts;
  const log = opts.accessLog
    ? `log_format requests '$request_method $uri $status';\n  access_log ${opts.accessLog} requests;`
    : "access_log off;";
  // Workers run as root so that they can read the served directory wherever it was made (mkdtemp is 0700).
  return `
daemon off;
master_process on;
user root;
worker_processes ${opts.workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  ${log}
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  types { text/x-nix-narinfo narinfo; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`;
}

export async function startNginx(root: string): Promise<NginxServer> {
  const dir = await mkdtemp(join(tmpdir(), "garret-nginx-"));
  const port = await freePort();
  const accessLog = join(dir, "access.log");
  const conf = nginxConfig({ dir, port, root, workers: 1, accessLog });
  const confPath = join(dir, "nginx.conf");
  await writeFile(confPath, conf);
  await writeFile(accessLog, "");
  const child: ChildProcess = spawn(NGINX_BIN, ["-c", confPath, "-p", dir, "-e", join(dir, "error.log")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let output = "";
  child.stderr?.on("data", (b: Buffer) => {
    output += b.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${output}`);
    const ok = await fetch(`${url}/nix-cache-info`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`nginx did not answer within 15 s: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopped = false;
  return {
    url,
    async requests() {
      const text = await readFile(accessLog, "utf8");
      return text.split("\n").filter((l) => l.length > 0);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        // SIGQUIT: graceful shutdown of master and workers.
        child.kill("SIGQUIT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
