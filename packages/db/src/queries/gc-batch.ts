/** Rows per deleting statement or transaction of the collector, on either dialect. */
export const GC_BATCH = 1000;
