# dockguard as a container: it audits the Docker host it runs on, through read-only mounts of
# the host and the daemon's socket, as an auditor rather than a risk (docs/container.md).
#
#   docker build -t dockguard .
#   docker run --rm ... dockguard            # the full, hardened line: docs/container.md
#
# BASE: any Debian-like image with Python >= 3.11 and pip (default: the official slim image).
# PIP_OPTIONS: extra options for the one `pip install`, e.g. "--no-index --no-build-isolation"
# for an offline base that already holds the dependencies and setuptools>=77 (as the tests do).
ARG BASE=python:3.11-slim
FROM ${BASE}
ARG PIP_OPTIONS=

LABEL org.opencontainers.image.title="dockguard" \
      org.opencontainers.image.description="Audit the security of a Docker installation end to end" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/container.md"

# The root filesystem is read-only at run time: no byte code written, HOME and the temp dir on
# the tmpfs at /tmp, and the caches (vulnerability database, layer cache) under /var/cache/dockguard,
# where a volume keeps them between runs.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/var/cache

COPY pyproject.toml README.md /usr/src/dockguard/
COPY src/ /usr/src/dockguard/src/
RUN python3 -m pip install --no-cache-dir --root-user-action=ignore --disable-pip-version-check \
        ${PIP_OPTIONS} /usr/src/dockguard \
 && rm -rf /usr/src/dockguard \
 && mkdir -p /var/cache/dockguard \
 && dockguard --version

# uid 0 with every capability dropped at run time (docker run --cap-drop ALL): the host's
# root-only files and the daemon's socket are owned by root, and another uid would need
# CAP_DAC_READ_SEARCH and the socket's group instead (docs/container.md explains the choice).
USER 0:0
WORKDIR /tmp
ENTRYPOINT ["dockguard"]
CMD ["audit", "--host-root", "/host"]
