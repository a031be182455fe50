# The e2e suite's test image on kind: Node 24 at /usr/local/bin/node, as the local provider's
# localhost/ambit/node image (e2e/scripts/images.sh) has it.
FROM node:24-bookworm-slim
ENTRYPOINT ["/usr/local/bin/node"]
