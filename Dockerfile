# The kube-egress-gateway image: the CLI (operator, gateway, cni-manager), the
# CNI executable the node agent installs on the host, and the tools the parts
# run. Build from the repository root:
#
#   docker build -t kube-egress-gateway:0.1.0 .
#   buildah bud -t kube-egress-gateway:0.1.0 .
#
# BASE_IMAGE must be Debian bookworm or a derivative (the tools come from its
# apt). ARTIFACTS=prebuilt takes the Node runtime, CLI bundle and CNI
# executable from dist/image/rootfs (written by `node image/stage.ts`) instead
# of building them in the `source` stage: `npm run image` does that, so its
# build needs neither a builder image nor npm. See docs/image.md.
ARG BASE_IMAGE=debian:bookworm-slim
ARG BUILDER_IMAGE=node:26-bookworm-slim
ARG ARTIFACTS=source

FROM ${BUILDER_IMAGE} AS source
# strip (binutils) trims the Node runtime the image ships.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the builder's own Node 26 is the one shipped, so the
# `node` package need not download another, and tap's build is for tests.
RUN npm install --no-fund --no-audit --ignore-scripts
COPY . .
RUN node image/stage.ts --out /out

FROM scratch AS prebuilt
COPY dist/image/rootfs/ /out/

FROM ${ARTIFACTS} AS artifacts

FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="kube-egress-gateway" \
      org.opencontainers.image.description="Static egress IPs for Kubernetes pods on Azure: operator, gateway daemon, CNI plugin and node agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
# What the parts execute: ip (iproute2), nft (nftables), wg (wireguard-tools),
# wireguard-go (nodes without kernel WireGuard), sysctl (procps); nsenter,
# setsid, env and rm are in the base's essential packages. Node needs
# libatomic1.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      iproute2 nftables wireguard-tools wireguard-go procps libatomic1 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
COPY --from=artifacts /out/ /
# The operator runs as this user; the gateway and cni-manager DaemonSets run
# as root (runAsUser: 0 in their securityContext): they manage links,
# namespaces and nftables and write into the host's CNI directories.
USER 65532:65532
ENTRYPOINT ["kube-egress-gateway"]
CMD ["--help"]
