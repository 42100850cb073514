"""Typed decoding of image metadata: docker-save ``manifest.json``, OCI indexes and manifests,
image configs.

Every document comes from the image, i.e. from whoever built it.  Each decoder parses with a
size and depth cap (`dockguard.inputs.parse_json`) and checks the type of every value it
uses; anything else is an `InputError` naming the document and the JSON path
(``img.tar:manifest.json: $[0].Layers[2]: expected a string, got an integer``).  Unknown
fields are ignored.  Downstream code may then rely on the shapes documented here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from dockguard.image.digests import DIGEST_RE
from dockguard.image.limits import Limits
from dockguard.inputs import InputError, expect, parse_json
from dockguard.jsontypes import Json, JsonObject

_T = TypeVar("_T")

#: Real manifests and configs nest less than 10 levels.
MAX_DEPTH = 32

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")


@dataclass(frozen=True)
class Platform:
    """``os/architecture[/variant]`` of a descriptor or config."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(x for x in (self.os, self.architecture, self.variant) if x)


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor (digest checked for form, not yet for content)."""

    media_type: str
    digest: str
    size: int | None
    platform: Platform | None = None
    ref_name: str = ""  # org.opencontainers.image.ref.name / io.containerd.image.name
    urls: tuple[str, ...] = ()
    """Where a foreign (non-distributable) layer is fetched from; dockguard never fetches them."""


@dataclass(frozen=True)
class OciIndex:
    """An image index (or Docker manifest list)."""

    manifests: tuple[Descriptor, ...]


@dataclass(frozen=True)
class OciManifest:
    """An image manifest: config and layer descriptors."""

    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class DockerManifestEntry:
    """One image of a docker-save ``manifest.json``: member paths of config and layers, tags."""

    config: str
    layers: tuple[str, ...]
    repo_tags: tuple[str, ...]


def load(data: bytes, origin: str, limits: Limits) -> Json:
    """Parse one metadata document (size and depth capped)."""
    if len(data) > limits.max_json:
        raise InputError(origin, f"{len(data)} bytes is larger than the {limits.max_json} allowed")
    return parse_json(data, origin, max_depth=MAX_DEPTH)


def _opt(obj: JsonObject, key: str, kind: type[_T], origin: str, path: list[str | int], default: _T) -> _T:
    value = obj.get(key)
    if value is None:
        return default
    return expect(value, kind, origin, [*path, key])


def _opt_obj(obj: JsonObject, key: str, origin: str, path: list[str | int]) -> JsonObject:
    value = obj.get(key)
    return {} if value is None else expect(value, dict, origin, [*path, key])


def _opt_list(obj: JsonObject, key: str, origin: str, path: list[str | int]) -> list[Json]:
    value = obj.get(key)
    return [] if value is None else expect(value, list, origin, [*path, key])


def _digest(value: Json, origin: str, path: list[str | int]) -> str:
    text = expect(value, str, origin, path)
    if not DIGEST_RE.match(text):
        raise InputError.at(origin, path, f"not a sha256/sha512 digest: {text[:100]!r}")
    return text


def _platform(value: Json, origin: str, path: list[str | int]) -> Platform | None:
    if value is None:
        return None
    obj = expect(value, dict, origin, path)
    return Platform(
        os=_opt(obj, "os", str, origin, path, ""),
        architecture=_opt(obj, "architecture", str, origin, path, ""),
        variant=_opt(obj, "variant", str, origin, path, ""),
    )


def descriptor(value: Json, origin: str, path: list[str | int]) -> Descriptor:
    """One descriptor object."""
    obj = expect(value, dict, origin, path)
    size_value = obj.get("size")
    size = None
    if size_value is not None:
        size = expect(size_value, int, origin, [*path, "size"])
        if size < 0:
            raise InputError.at(origin, [*path, "size"], f"negative size {size}")
    ann = _opt_obj(obj, "annotations", origin, path)
    ref = ann.get("org.opencontainers.image.ref.name") or ann.get("io.containerd.image.name") or ""
    if not isinstance(ref, str):
        raise InputError.at(origin, [*path, "annotations"], "image name annotation is not a string")
    urls = _opt_list(obj, "urls", origin, path)
    return Descriptor(
        media_type=_opt(obj, "mediaType", str, origin, path, ""),
        digest=_digest(obj.get("digest"), origin, [*path, "digest"]),
        size=size,
        platform=_platform(obj.get("platform"), origin, [*path, "platform"]),
        ref_name=ref,
        urls=tuple(expect(u, str, origin, [*path, "urls", i]) for i, u in enumerate(urls[:16])),
    )


def _descriptors(value: Json, origin: str, path: list[str | int], limit: int, what: str) -> tuple[Descriptor, ...]:
    items = expect(value, list, origin, path)
    if len(items) > limit:
        raise InputError.at(origin, path, f"{len(items)} {what}: more than the {limit} allowed")
    return tuple(descriptor(d, origin, [*path, i]) for i, d in enumerate(items))


def oci_document(doc: Json, origin: str, limits: Limits) -> OciIndex | OciManifest:
    """An index (``manifests``) or a manifest (``config`` + ``layers``)."""
    obj = expect(doc, dict, origin, [])
    media = _opt(obj, "mediaType", str, origin, [], "")
    if media in INDEX_TYPES or ("manifests" in obj and media not in MANIFEST_TYPES):
        return OciIndex(_descriptors(obj.get("manifests", []), origin, ["manifests"],
                                     limits.max_descriptors, "manifests"))
    if "config" not in obj:
        raise InputError(origin, "neither an image index (manifests) nor a manifest (config, layers)")
    return OciManifest(
        config=descriptor(obj["config"], origin, ["config"]),
        layers=_descriptors(obj.get("layers") or [], origin, ["layers"], limits.max_layers, "layers"),
    )


def docker_manifest(doc: Json, origin: str, limits: Limits) -> tuple[DockerManifestEntry, ...]:
    """The entries of a docker-save ``manifest.json`` (at least one)."""
    items = expect(doc, list, origin, [])
    if not items:
        raise InputError(origin, "lists no image")
    out = []
    for i, item in enumerate(items[:16]):
        obj = expect(item, dict, origin, [i])
        config = expect(obj.get("Config"), str, origin, [i, "Config"])
        layers = _opt_list(obj, "Layers", origin, [i])
        if len(layers) > limits.max_layers:
            raise InputError.at(origin, [i, "Layers"],
                                f"{len(layers)} layers: more than the {limits.max_layers} allowed")
        tags = _opt_list(obj, "RepoTags", origin, [i])
        out.append(DockerManifestEntry(
            config=config,
            layers=tuple(expect(p, str, origin, [i, "Layers", j]) for j, p in enumerate(layers)),
            repo_tags=tuple(expect(t, str, origin, [i, "RepoTags", j]) for j, t in enumerate(tags)),
        ))
    return tuple(out)


def image_config(doc: Json, origin: str, limits: Limits) -> JsonObject:
    """Check the fields of an image config that dockguard uses; returns it unchanged.

    After this: ``rootfs.diff_ids`` is a list of digests; ``history`` a list of objects with
    string ``created_by`` and boolean ``empty_layer``; ``config``/``Config`` an object whose
    ``User`` is a string, ``Env`` a list of strings, ``Labels`` a string → string object,
    ``ExposedPorts`` an object and ``Healthcheck.Test`` a list of strings; ``os``,
    ``architecture`` and ``variant`` strings.  Absent and null values are allowed everywhere.
    """
    cfg = expect(doc, dict, origin, [])
    for key in ("os", "architecture", "variant"):
        _opt(cfg, key, str, origin, [], "")
    rootfs = _opt_obj(cfg, "rootfs", origin, [])
    diff_ids = _opt_list(rootfs, "diff_ids", origin, ["rootfs"])
    if len(diff_ids) > limits.max_layers:
        raise InputError.at(origin, ["rootfs", "diff_ids"],
                            f"{len(diff_ids)} layers: more than the {limits.max_layers} allowed")
    for i, d in enumerate(diff_ids):
        _digest(d, origin, ["rootfs", "diff_ids", i])
    history = _opt_list(cfg, "history", origin, [])
    for i, h in enumerate(history):
        entry = expect(h, dict, origin, ["history", i])
        _opt(entry, "created_by", str, origin, ["history", i], "")
        _opt(entry, "empty_layer", bool, origin, ["history", i], False)
    for key in ("config", "Config"):
        inner = _opt_obj(cfg, key, origin, [])
        path: list[str | int] = [key]
        _opt(inner, "User", str, origin, path, "")
        for j, env in enumerate(_opt_list(inner, "Env", origin, path)):
            expect(env, str, origin, [*path, "Env", j])
        for name, value in _opt_obj(inner, "Labels", origin, path).items():
            expect(value, str, origin, [*path, "Labels", str(name)[:100]])
        _opt_obj(inner, "ExposedPorts", origin, path)
        health = _opt_obj(inner, "Healthcheck", origin, path)
        for j, t in enumerate(_opt_list(health, "Test", origin, [*path, "Healthcheck"])):
            expect(t, str, origin, [*path, "Healthcheck", "Test", j])
    return cfg


def diff_ids(config: JsonObject) -> list[str]:
    """``rootfs.diff_ids`` of a config checked by `image_config`."""
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    return [d for d in ids if isinstance(d, str)] if isinstance(ids, list) else []


def platform_of(config: JsonObject) -> Platform:
    """The platform a checked config declares."""

    def text(key: str) -> str:
        value = config.get(key)
        return value if isinstance(value, str) else ""

    return Platform(text("os"), text("architecture"), text("variant"))
