# redis-cache-proxy: runs the TypeScript sources through tsx (a runtime dependency); only runtime dependencies are installed.
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY .config ./
COPY src ./src
# Listen on every interface inside the container; the other settings come from .config or the environment.
# Protected mode stays on: without PROXY_PASSWORD (or PROXY_PASSWORD_FILE, e.g. a secret under /run/secrets),
# clients from outside the container are refused with -DENIED until one is set or PROTECTED_MODE=no is.
ENV PROXY_LISTEN=0.0.0.0
ENV PROTECTED_MODE=yes
EXPOSE 5000 6380
USER node
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PROXY_PORT || 5000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The same command as npm start: a young generation capped at 16 MiB per semi-space (see README, "Memory").
CMD ["node", "--max-semi-space-size=16", "src/start.mjs"]
