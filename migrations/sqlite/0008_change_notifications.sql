-- 0008 (SQLite): nothing in the file. The change feed of the Postgres 0008 is, on SQLite, TEMP
-- triggers each garret connection creates for itself (packages/db/src/sqlite-client.ts) plus
-- `PRAGMA data_version` for other processes' commits; triggers stored in the file would call a
-- function atticd does not have.
SELECT 1;
