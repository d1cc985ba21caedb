/**
 * The server's logger: JSON lines on stdout, one object per event, with a level filter.
 * Library packages never log; they throw, and the app decides what to say. Callers must never pass
 * tokens, Authorization headers, presigned URLs or config secrets as fields.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  isEnabled(level: LogLevel): boolean;
}

export function parseLogLevel(value: string | undefined, fallback: LogLevel = "info"): LogLevel {
  if (value === undefined || value === "") return fallback;
  const v = value.toLowerCase();
  if (v === "debug" || v === "info" || v === "warn" || v === "error") return v;
  if (v === "trace") return "debug";
  throw new Error(`invalid log level "${value}" (expected debug, info, warn or error)`);
}

export function createLogger(level: LogLevel, write: (line: string) => void = defaultWrite): Logger {
  const min = RANK[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[lvl] < min) return;
    const record: LogFields = { time: new Date().toISOString(), level: lvl, msg, ...fields };
    write(`${JSON.stringify(record, replaceErrors)}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    isEnabled: (lvl) => RANK[lvl] >= min,
  };
}

function defaultWrite(line: string): void {
  process.stdout.write(line);
}

/**
 * Errors are logged with their whole cause chain (the S3 error code and request id live there: attic
 * #232), but never with a statement's parameters: a failed query's message carries them (drizzle's
 * "Failed query: …\nparams: …"), and they may be a cache's signing key. The stack is logged as
 * frames only, since its first lines repeat the message.
 */
function replaceErrors(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const out: LogFields = { name: value.name, message: withoutParameters(value.message) };
    for (const k of ["op", "key", "code", "kind"] as const) {
      const v = (value as unknown as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = v;
    }
    if (value.cause !== undefined) out.cause = value.cause;
    if (value.stack) {
      const frames = value.stack.split("\n").filter((line) => /^\s+at /.test(line));
      out.stack = frames.slice(0, 5).join("\n");
    }
    return out;
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

const PARAMETERS = /\nparams: [\s\S]*$/;

/** A database error's message without the statement's parameters (the SQL text stays: it names the table). */
export function withoutParameters(message: string): string {
  return message.startsWith("Failed query: ") ? message.replace(PARAMETERS, "\nparams: [withheld]") : message;
}

export function silentLogger(): Logger {
  return createLogger("error", () => {});
}
