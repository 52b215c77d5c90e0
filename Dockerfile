# The kube-egress-gateway image: the CLI (operator, gateway, cni-manager), the
# CNI executable the node agent installs on the host, and the tools the parts
# run. Build from the repository root:
#
#   docker build -t kube-egress-gateway:0.1.0 .
#   buildah bud -t kube-egress-gateway:0.1.0 .
#
# BASE_IMAGE must be Debian bookworm or a derivative (the tools come from its
# apt). The `artifacts` stage builds the Node runtime, CLI bundle and CNI
# executable from the sources with npm (ARTIFACTS=source), or, with
# ARTIFACTS=prebuilt, takes them from dist/image/rootfs in the build context,
# written by `node image/stage.ts`: `npm run image` does that, so its build
# needs no npm and any Debian image serves as BUILDER_IMAGE. The choice is made
# inside one stage rather than by naming a stage in a build argument, which
# buildah 1.28 does not resolve. See docs/image.md.
ARG BASE_IMAGE=debian:bookworm-slim
ARG BUILDER_IMAGE=node:26-bookworm-slim

FROM ${BUILDER_IMAGE} AS artifacts
ARG ARTIFACTS=source
WORKDIR /src
COPY . .
# No npm install scripts: the builder's own Node 26 is the one shipped, so the
# `node` package need not download another, and tap's build is for tests.
# strip (binutils) trims that runtime.
RUN if [ "$ARTIFACTS" = prebuilt ]; then \
      [ -d dist/image/rootfs ] || { echo "ARTIFACTS=prebuilt: no dist/image/rootfs; run node image/stage.ts first" >&2; exit 1; }; \
      cp -a dist/image/rootfs /out; \
    else \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends binutils \
      && npm install --no-fund --no-audit --ignore-scripts \
      && node image/stage.ts --out /out; \
    fi

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
# wireguard-go (nodes without kernel WireGuard), sysctl (procps), iptables
# (the gateway removes the Go original's chains on takeover); nsenter,
# setsid, env and rm are in the base's essential packages. Node needs
# libatomic1.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      iproute2 nftables iptables wireguard-tools wireguard-go procps libatomic1 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
COPY --from=artifacts /out/ /
# The operator runs as this user; the gateway and cni-manager DaemonSets run
# as root (runAsUser: 0 in their securityContext): they manage links,
# namespaces and nftables and write into the host's CNI directories.
USER 65532:65532
ENTRYPOINT ["kube-egress-gateway"]
CMD ["--help"]
