/**
 * Where a stored object lives, as atticd records it in the `remote_file` and `remote_file_id`
 * columns of `chunk` (and historically `nar`). The JSON is serde's externally tagged enum form
 * (attic `server/src/storage/mod.rs`, `RemoteFile`), so rows written by atticd and by us are
 * interchangeable:
 *
 *   {"Local":{"name":"0f6c4b9e-2a4e-4d8c-9d0e-6b1f1c3d2e4a.chunk"}}
 *   {"S3":{"region":"us-east-1","bucket":"attic","key":"0f6c4b9e-2a4e-4d8c-9d0e-6b1f1c3d2e4a.chunk"}}
 *
 * and the matching ids `local:<name>` and `s3:<region>/<bucket>/<key>`. atticd's test-only `Http`
 * variant is rejected: no deployment has such rows.
 */

export type RemoteFile =
  | { Local: { name: string } }
  | { S3: { region: string; bucket: string; key: string } };

/** The UNIQUE `remote_file_id` atticd derives from a remote file. */
export function remoteFileId(file: RemoteFile): string {
  if ("Local" in file) return `local:${file.Local.name}`;
  return `s3:${file.S3.region}/${file.S3.bucket}/${file.S3.key}`;
}

/** Serializes to exactly the bytes serde_json writes (field order included). */
export function serializeRemoteFile(file: RemoteFile): string {
  if ("Local" in file) return JSON.stringify({ Local: { name: file.Local.name } });
  const { region, bucket, key } = file.S3;
  return JSON.stringify({ S3: { region, bucket, key } });
}

/** Parses a `remote_file` column value; throws a TypeError naming the problem on anything else. */
export function parseRemoteFile(json: string): RemoteFile {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new TypeError("remote_file is not valid JSON");
  }
  if (!isRecord(value)) throw new TypeError("remote_file must be a JSON object");
  const tags = Object.keys(value);
  if (tags.length !== 1) throw new TypeError("remote_file must have exactly one variant tag");
  const tag = tags[0];
  const body = value[tag as string];
  if (tag === "Local") {
    if (isRecord(body) && typeof body.name === "string") return { Local: { name: body.name } };
    throw new TypeError("remote_file Local variant needs a string `name`");
  }
  if (tag === "S3") {
    if (
      isRecord(body) &&
      typeof body.region === "string" &&
      typeof body.bucket === "string" &&
      typeof body.key === "string"
    ) {
      return { S3: { region: body.region, bucket: body.bucket, key: body.key } };
    }
    throw new TypeError("remote_file S3 variant needs string `region`, `bucket` and `key`");
  }
  throw new TypeError(`remote_file variant ${JSON.stringify(tag)} is not supported`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
