# The node agent image for `shark tap` (cluster mode). The DaemonSet runs
# `shark agent --idle` as the container's main process; the CLI execs
# `shark agent …` in it through the API server.
#   npm run image                                     # local arch, podman or docker
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/shark:0.1.0 --push .
#   shark tap -A --agent-image REGISTRY/shark:0.1.0   # or SHARK_AGENT_IMAGE=…
# Capture needs only NET_RAW/NET_ADMIN (granted by the DaemonSet), not privileged;
# --tls (eBPF) needs more: see docs/tls-capture.md.
#
# BASE / BUILD_BASE default to the public Node image. The test suite builds
# them from Debian packages and the npm registry instead (scripts/image/base.sh)
# and passes them here with --build-arg, since no image registry is reachable.
ARG BASE=node:20-bookworm-slim
ARG BUILD_BASE=node:20-bookworm-slim

# Both stages run on the target platform (no --platform=$BUILDPLATFORM): `cap`
# is a native addon compiled by node-gyp, so it must be built for TARGETARCH
# (under qemu when cross-building); JavaScript is the same on every arch.
FROM ${BUILD_BASE} AS build
ARG TARGETARCH
# A base of the wrong architecture would build an addon that cannot load: stop here.
RUN node -e 'const want = { amd64: "x64", arm64: "arm64" }[process.env.TARGETARCH || ""]; if (want && process.arch !== want) { console.error(`base is ${process.arch}, target is ${process.env.TARGETARCH}`); process.exit(1); }'
# The public image lacks the compiler and libpcap headers; the local build base has them.
RUN if ! dpkg -s libpcap-dev g++ make python3 >/dev/null 2>&1; then \
      apt-get update && apt-get install -y --no-install-recommends libpcap-dev python3 make g++ \
      && rm -rf /var/lib/apt/lists/*; fi
# node-gyp uses the headers that come with Node instead of downloading them.
ENV npm_config_nodedir=/usr/local npm_config_update_notifier=false
WORKDIR /src
COPY package.json package-lock.json ./
# Behind a TLS-intercepting proxy, mount its CA bundle for the build and name it
# (build.sh does: --volume HOST_BUNDLE:/etc/ssl/build-ca.crt --build-arg NPM_CAFILE=…).
ARG NPM_CAFILE=
RUN if [ -n "$NPM_CAFILE" ]; then export npm_config_cafile="$NPM_CAFILE"; fi; npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/oclif-manifest.mjs scripts/bundle.mjs ./scripts/
COPY src ./src
COPY bin ./bin
RUN if [ -n "$NPM_CAFILE" ]; then export npm_config_cafile="$NPM_CAFILE"; fi; \
    npx tsc -p tsconfig.json && node scripts/bundle.mjs && node scripts/oclif-manifest.mjs && npm prune --omit=dev --no-audit --no-fund

# `shark tap --tls` / `shark agent --tls`: the BPF program (CO-RE: compiled once
# against this build host's BTF, relocated by libbpf on the node's kernel) and
# its loader, linked statically so the runtime image needs no libbpf.
FROM ${BUILD_BASE} AS bpf
RUN if ! dpkg -s clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool >/dev/null 2>&1; then \
      apt-get update && apt-get install -y --no-install-recommends clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool gcc libc6-dev \
      && rm -rf /var/lib/apt/lists/*; fi
WORKDIR /src
COPY native/tls-capture ./native/tls-capture
RUN bash native/tls-capture/build.sh /out

# Live capture's helper process (dumpcap-like: kernel timestamps, a ring
# decoupled from dissection, spool, shedding): C, libpcap only.
FROM ${BUILD_BASE} AS capture
RUN if ! dpkg -s libpcap-dev gcc libc6-dev >/dev/null 2>&1; then \
      apt-get update && apt-get install -y --no-install-recommends libpcap-dev gcc libc6-dev \
      && rm -rf /var/lib/apt/lists/*; fi
WORKDIR /src
COPY native/capture ./native/capture
RUN bash native/capture/build.sh /out

FROM ${BASE}
ARG TARGETARCH
RUN if ! dpkg -s libpcap0.8 >/dev/null 2>&1; then \
      apt-get update && apt-get install -y --no-install-recommends libpcap0.8 \
      && rm -rf /var/lib/apt/lists/*; fi
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/oclif.manifest.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=bpf /out/shark-tls-capture /usr/local/lib/shark/shark-tls-capture
COPY --from=capture /out/shark-capture /usr/local/lib/shark/shark-capture
RUN ln -s /app/bin/run.js /usr/local/bin/shark && chmod +x /app/bin/run.js
# The root filesystem is read-only in the DaemonSet; /tmp is an emptyDir.
ENV HOME=/tmp NODE_ENV=production
LABEL org.opencontainers.image.title="shark node agent" org.opencontainers.image.source="https://github.com/shark-cli/shark"
CMD ["shark", "agent", "--idle"]
