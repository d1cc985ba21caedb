/** The embedded database's file name in the data directory (atticd's first start uses the same). */
export const EMBEDDED_SQLITE_FILE = "server.db";
