# garretd container image: Node 24 (Debian slim), production dependencies only, non-root.
# Node runs the TypeScript sources itself (type stripping): no loader, no build step, no compiler.
#
#   docker build -t garret .
#   docker run -v /etc/garret:/etc/garret:ro -p 8080:8080 garret --mode api-server
#
# The configuration is read from /etc/garret/server.toml (mount it); secrets can come from the
# environment (ATTIC_SERVER_DATABASE_URL, ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64, AWS_*).

FROM node:24-slim AS deps
# No native addon is compiled: zstd comes from node:zlib, so this stage needs no compiler.
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/nix/package.json packages/nix/
COPY packages/protocol/package.json packages/protocol/
COPY packages/token/package.json packages/token/
COPY packages/db/package.json packages/db/
COPY packages/storage/package.json packages/storage/
COPY packages/chunking/package.json packages/chunking/
COPY apps/garretd/package.json apps/garretd/
COPY apps/garret/package.json apps/garret/
# --ignore-scripts: the root `prepare` script (filling the compile cache) needs the sources, not here yet.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-slim
ENV NODE_ENV=production \
    GARRET_DATA_DIR=/var/lib/garret
WORKDIR /app
# node_modules, including any nested under a workspace, and the package manifests.
COPY --from=deps /app/ ./
COPY migrations ./migrations
COPY packages ./packages
COPY apps/garretd ./apps/garretd
RUN mkdir -p /var/lib/garret /etc/garret && chown node:node /var/lib/garret && chmod 700 /var/lib/garret
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "apps/garretd/bin/garretd.js", "-f", "/etc/garret/server.toml"]
CMD ["--mode", "monolithic"]
