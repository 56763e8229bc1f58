# The eid daemon as a container image, built from the npm tarball (its dependencies bundled), so
# the build needs no registry and no checkout: the tarball and this file are the whole context.
#   npm pack                                    # in a checkout: erlang-in-docker-VERSION.tgz
#   docker build --build-arg BASE=node:20-slim -t eid-daemon .
# BASE: any image with Node.js 20+ as `node` on the PATH (node:20-slim; Debian trixie with its
# nodejs package). Run it on the host's network, with the socket's group (docs/deploying.md):
#   docker run -d --name eid --restart=always --net=host \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro eid-daemon
ARG BASE=node:20-slim

FROM ${BASE} AS unpack
COPY erlang-in-docker-*.tgz /tmp/
RUN set -- /tmp/erlang-in-docker-*.tgz; \
    if [ "$#" -ne 1 ]; then echo "need exactly one erlang-in-docker-*.tgz (npm pack) in the context, found: $*" >&2; exit 1; fi; \
    mkdir -p /opt/eid && tar -xzf "$1" -C /opt/eid --strip-components=1 --no-same-owner

FROM ${BASE}
COPY --from=unpack /opt/eid /opt/eid
# Settings as EID_* variables (docker run -e overrides them); the health check reads EID_METRICS.
ENV NODE_ENV=production EID_METRICS=127.0.0.1:9369 EID_LOG_FORMAT=json
# Not root: the Docker socket is reached through its group, given at run time with --group-add.
USER 4369:4369
EXPOSE 4369
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://${process.env.EID_METRICS}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/opt/eid/bin/eid.js", "daemon"]
