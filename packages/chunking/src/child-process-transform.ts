/**
 * A Transform that pipes bytes through an external program (`xz`, `bzip2`), for codecs Node has no
 * binding for. The program does the CPU work in its own process; stdout is paused while the reader
 * is saturated, so memory stays bounded. A non-zero exit, a missing program or a program that quits
 * before reading all of its input becomes a stream error carrying the program's stderr.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { Transform, type TransformCallback } from "node:stream";
import { CompressionError } from "./compression-type.ts";

const STDERR_LIMIT = 4096;

export class ChildProcessTransform extends Transform {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #command: string;
  #stderr = "";
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #onExit: (() => void) | undefined;
  #inputEnded = false;

  constructor(command: string, args: readonly string[]) {
    super();
    this.#command = command;
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.#child = child;
    child.on("error", (error) => {
      this.destroy(new CompressionError(`cannot run ${command}: ${error.message}`, { cause: error }));
    });
    // EPIPE when the program has quit early; its exit status explains why.
    child.stdin.on("error", () => {});
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text: string) => {
      if (this.#stderr.length < STDERR_LIMIT) this.#stderr += text;
    });
    child.stdout.on("data", (data: Buffer) => {
      if (!this.push(data)) child.stdout.pause();
    });
    child.on("close", (code, signal) => {
      this.#exit = { code, signal };
      const failure = this.#failure();
      if (failure) this.destroy(failure);
      const onExit = this.#onExit;
      this.#onExit = undefined;
      onExit?.();
    });
  }

  override _read(size: number): void {
    this.#child.stdout.resume();
    super._read(size);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#exit) {
      callback(this.#failure() ?? this.#quitEarly());
      return;
    }
    if (this.#child.stdin.write(chunk)) {
      callback();
      return;
    }
    // Either the program drains its input or it exits (and the close handler destroys us).
    const stdin = this.#child.stdin;
    const done = () => {
      stdin.off("drain", done);
      stdin.off("close", done);
      callback();
    };
    stdin.on("drain", done);
    stdin.on("close", done);
  }

  override _flush(callback: TransformCallback): void {
    this.#inputEnded = true;
    this.#child.stdin.end();
    const finish = () => callback(this.#failure());
    if (this.#exit) finish();
    else this.#onExit = finish;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    child.stdin.destroy();
    child.stdout.destroy();
    callback(error);
  }

  #failure(): CompressionError | undefined {
    const exit = this.#exit;
    if (!exit) return undefined;
    if (exit.code === 0) return this.#inputEnded ? undefined : this.#quitEarly();
    const status = exit.code === null ? `signal ${exit.signal}` : `status ${exit.code}`;
    const detail = this.#stderr.trim();
    return new CompressionError(`${this.#command} exited with ${status}${detail ? `: ${detail}` : ""}`);
  }

  #quitEarly(): CompressionError {
    return new CompressionError(`${this.#command} exited before reading all of its input`);
  }
}
