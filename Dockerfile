# Strata worker/API image. OpenTofu and the provider mirror are built from the Go module proxy, as on a
# developer machine, so the image needs nothing beyond package registries either.
FROM golang:1.26-bookworm AS tools
WORKDIR /src
COPY scripts/get-tofu.sh scripts/get-providers.sh scripts/get-opa.sh ./scripts/
ENV STRATA_CACHE=/opt/strata-cache
RUN bash scripts/get-tofu.sh && bash scripts/get-providers.sh && bash scripts/get-opa.sh

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.build.json

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production STRATA_CACHE=/opt/strata-cache
COPY --from=tools /opt/strata-cache /opt/strata-cache
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/stacks ./stacks
# Plans are judged by these policies (fail-closed) and priced with these tables; releases are named files.
COPY --from=build /app/policies ./policies
COPY --from=build /app/policies-wasm ./policies-wasm
COPY --from=build /app/pricing ./pricing
COPY --from=build /app/releases ./releases
COPY strata.yaml package.json ./
COPY scripts/worker.sh ./scripts/
RUN printf 'TOFU_BIN_RESOLVED=%s\nTF_CLI_CONFIG_FILE=%s\nOPA_BIN=%s\n' "$(ls /opt/strata-cache/tofu-*/tofu)" "$(ls /opt/strata-cache/tf-providers-*/tofurc)" "$(ls /opt/strata-cache/opa-*/opa)" > /opt/strata-cache/tools.env
USER node
