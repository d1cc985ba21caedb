/** Types of read-files.mjs (plain JavaScript so that the read worker loads it as is). */
export function readFilesSync(
  paths: readonly string[],
  allocate: (total: number) => Buffer,
): { buffer: Buffer; sizes: number[] };
