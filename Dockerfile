# The eid daemon as a container. Run it with the host's network and the Docker socket read-only:
#   docker run -d --name eid --net=host --restart=always \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro eid-daemon
#
# BASE must provide Node.js 20+ at /usr/bin/node (for example a local node:20-slim). No registry
# is assumed: the tests build FROM eid-otp25, a tiny imported rootfs that gets the host's /usr
# (node included) bind-mounted read-only at run time.
#
# The build context is the package as npm installs it: package.json, bin/, dist/ (npm run build) and
# the production node_modules (see test/harness/daemon-image.ts, which stages exactly that).
ARG BASE=node:20-slim
FROM ${BASE}
WORKDIR /opt/eid
COPY package.json ./
COPY bin ./bin
COPY dist ./dist
COPY node_modules ./node_modules
ENV NODE_ENV=production
EXPOSE 4369
ENTRYPOINT ["node", "/opt/eid/bin/eid.js", "daemon"]
