/**
 * `POST /_api/v1/oidc/exchange` (garret extension): an identity token from a trusted issuer in,
 * a short-lived cache token out. No Authorization header is needed; the identity token is the
 * credential.
 *
 *     {"token":"eyJ…(GitHub Actions ID token)","validity":"30m"}
 *     → {"token":"eyJ…","jti":"…","sub":"oidc:octo-org/app:refs/heads/main","exp":…,"nbf":…,"policy":"github-main"}
 *
 * `validity` is optional and capped by the policy's max-validity (its default).
 */
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.ts";
import { exchangeIdToken } from "../services/oidc-exchange.ts";
import { readJsonBody } from "./json-body.ts";
import { validitySchema } from "./tokens.ts";

const ExchangeBodySchema = z.strictObject({
  token: z
    .string()
    .min(1)
    .max(16 * 1024),
  validity: validitySchema.optional(),
});

export const oidcRoutes = new Hono<AppEnv>().post("/exchange", async (c) => {
  // No Authorization: the identity token in the body is the credential, so the body is small.
  const body = await readJsonBody(c, ExchangeBodySchema, { anonymous: true, limit: 64 * 1024 });
  return c.json(await exchangeIdToken(c.get("deps"), body.token, body.validity));
});
