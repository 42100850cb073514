"""An `ImageSource` that pulls from a registry (``dockguard image scan host:port/name:tag``).

`metadata()` resolves the manifest (an index is followed to the platform) and fetches the
verified config, whose fields are then checked like any image config
(`dockguard.image.decode.image_config`); `open_blob()` streams one layer into a temporary
file while hashing it, so the scanner only ever reads a blob whose digest matched the
manifest.  The decompressed layer is then hashed against the config's diff id by the common
layer pass (`dockguard.image.sources.run_layer`) before anything from it is used or cached:
a registry that serves a genuine blob under a config claiming another image's diff id is
refused.
"""

from __future__ import annotations

import os
from typing import IO

from dockguard.channel.registry_api import (
    Credentials,
    PulledImage,
    RegistryClient,
    credentials_from_config,
    looks_like_reference,
    parse_reference,
)
from dockguard.errors import OperationalError, UsageError
from dockguard.image import decode
from dockguard.image.decode import Descriptor
from dockguard.image.limits import DEFAULT_LIMITS, Limits
from dockguard.image.sources import (
    ImageMetadata,
    ImageSource,
    LayerRef,
    host_platform,
    parse_platform,
)
from dockguard.inputs import InputError

__all__ = ["RegistrySource", "looks_like_registry_ref", "open_registry_source"]


def looks_like_registry_ref(target: str) -> bool:
    """True for TARGETs that name a registry host (``host.tld/…``, ``host:port/…``).

    Use it after the file/directory checks and before falling back to the daemon: bare names
    (``alpine:3``) stay daemon images; ``docker.io/library/alpine:3`` is a registry pull.
    """
    return looks_like_reference(target)


class RegistrySource(ImageSource):
    """Image layers and config fetched over the Distribution API, every digest verified."""

    blob_digests_verified = True  # RegistryClient.open_blob hashes while it downloads

    def __init__(self, client: RegistryClient, target: str, platform: str | None,
                 limits: Limits = DEFAULT_LIMITS) -> None:
        self.client = client
        self.target = target
        self.ref = parse_reference(target)
        self.platform = platform or host_platform()
        self.limits = limits
        self._pulled: PulledImage | None = None
        self._meta: ImageMetadata | None = None
        self._blobs: dict[str, Descriptor] = {}

    def pulled(self) -> PulledImage:
        """The resolved manifest and config (fetched once)."""
        if self._pulled is None:
            self._pulled = self.client.resolve(self.ref, self.platform)
        return self._pulled

    def metadata(self) -> ImageMetadata:
        """Config and ordered layers from the manifest; no layer is downloaded."""
        if self._meta is None:
            pulled = self.pulled()
            origin = f"{self.ref} config {pulled.config_digest}"
            config = decode.image_config(pulled.config, origin, self.limits)
            diff_ids = decode.diff_ids(config)
            if len(pulled.layers) > self.limits.max_layers:
                raise InputError(f"{self.ref} manifest", f"{len(pulled.layers)} layers: more than "
                                 f"the {self.limits.max_layers} allowed", "$.layers")
            if len(diff_ids) != len(pulled.layers):
                raise InputError(
                    origin, f"the manifest has {len(pulled.layers)} layers but the config "
                    f"lists {len(diff_ids)} diff_ids", "$.rootfs.diff_ids"
                )
            layers = []
            for desc, diff_id in zip(pulled.layers, diff_ids, strict=True):
                self._blobs[desc.digest] = desc
                layers.append(LayerRef(diff_id=diff_id, media_type=desc.media_type,
                                       digest=desc.digest, size=desc.size, location=desc.digest))
            tag = f"{self.ref.registry}/{self.ref.repository}:{self.ref.tag}" if self.ref.tag else ""
            self._meta = ImageMetadata(
                name=str(self.ref),
                config=config,
                layers=tuple(layers),
                kind="registry",
                repo_tags=(tag,) if tag else (),
                image_id=pulled.config_digest,
                platform=pulled.platform,
            )
        return self._meta

    def open_blob(self, ref: LayerRef) -> tuple[IO[bytes], bool]:
        """The verified layer blob in a temporary file (seekable)."""
        self.metadata()
        desc = self._blobs.get(ref.digest)
        if desc is None:
            raise OperationalError(f"{self.ref}: layer {ref.digest} is not in the manifest")
        return self.client.open_blob(self.ref.repository, desc), True

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close()


def open_registry_source(
    target: str,
    platform: str | None = None,
    insecure: bool = False,
    username: str | None = None,
    password: str | None = None,
    *,
    ca_cert: str | None = None,
    allow_plain_http_credentials: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> RegistrySource:
    """A RegistrySource for `target`, with credentials from the arguments or docker's config.

    `username`/`password` win; otherwise ``~/.docker/config.json`` (``DOCKER_CONFIG``) auths,
    credHelpers and credsStore are consulted; otherwise the pull is anonymous.
    """
    if platform:
        parse_platform(platform)
    ref = parse_reference(target)
    if (username is None) != (password is None):
        raise UsageError("give both a user name and a password, or neither")
    credentials: Credentials | None = None
    if username is not None and password is not None:
        credentials = Credentials(username, password)
    else:
        credentials = credentials_from_config(ref.registry, os.environ)
    client = RegistryClient(ref.registry, credentials=credentials, insecure=insecure,
                            ca_cert=ca_cert, allow_plain_http_credentials=allow_plain_http_credentials)
    return RegistrySource(client, target, platform, limits)
