/**
 * What runs a task off the main thread: a named export of a module, called with one argument on a
 * worker thread, its result returned. @garret/db declares it and depends on no pool; garretd gives
 * its worker pool (@garret/chunking's `createWorkerPool`), so database work off the main thread
 * shares the compression workers' isolates instead of starting one of its own.
 */
export interface TaskRunner {
  run(task: unknown, options: { filename: string; name: string }): Promise<unknown>;
}
