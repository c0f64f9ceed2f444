# The node agent image for `shark tap` (cluster mode). The DaemonSet runs
# `shark agent --idle`; the CLI execs `shark agent …` in it through the API.
#   docker build -t ghcr.io/shark-cli/shark:0.1.0 .
#   shark tap -A --agent-image ghcr.io/shark-cli/shark:0.1.0
# Capture needs only NET_RAW/NET_ADMIN (granted by the DaemonSet), not privileged.

FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap-dev python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts=false
COPY tsconfig.json ./
COPY src ./src
COPY bin ./bin
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
RUN ln -s /app/bin/run.js /usr/local/bin/shark && chmod +x /app/bin/run.js
# The root filesystem is read-only in the DaemonSet; /tmp is an emptyDir.
ENV HOME=/tmp NODE_ENV=production
CMD ["shark", "agent", "--idle"]
