"""Secrets in image configuration (ENV, LABEL, history) and in small text files of layers.

Every hit is redacted before it leaves this module: the matched secret never appears in a
`SecretHit`, only a rule id, where it was found and a masked excerpt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dockguard.jsontypes import JsonObject
from dockguard.model import Severity

MAX_FILE = 256 * 1024


@dataclass(frozen=True)
class SecretHit:
    """A redacted secret: which rule, where (``env:NAME``, ``file:/path:LINE``...), excerpt."""

    rule: str
    title: str
    severity: Severity
    location: str
    redacted: str


@dataclass(frozen=True)
class _Rule:
    id: str
    title: str
    severity: Severity
    pattern: re.Pattern[str]
    keep_prefix: int = 0  # characters of the secret group that are public (AKIA, ghp_)


_ASSIGN_NAMES = (
    r"[A-Za-z0-9_.\-]*(?:api[_\-]?key|secret[_\-]?key|secret|access[_\-]?key|private[_\-]?key"
    r"|auth[_\-]?token|access[_\-]?token|token|password|passwd|pwd|client[_\-]?secret)"
)

RULES: tuple[_Rule, ...] = (
    _Rule(
        "private-key",
        "Private key",
        Severity.HIGH,
        re.compile(r"(-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----)"),
        keep_prefix=10_000,
    ),
    _Rule(
        "aws-access-key-id",
        "AWS access key id",
        Severity.CRITICAL,
        re.compile(r"\b((?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[0-9A-Z]{16})\b"),
        keep_prefix=4,
    ),
    _Rule(
        "aws-secret-access-key",
        "AWS secret access key",
        Severity.CRITICAL,
        re.compile(r"(?i)aws_?secret_?access_?key\s*[=:]\s*[\"']?([A-Za-z0-9/+=]{40})\b"),
    ),
    _Rule(
        "github-token",
        "GitHub token",
        Severity.CRITICAL,
        re.compile(r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})\b"),
        keep_prefix=4,
    ),
    _Rule(
        "slack-token",
        "Slack token",
        Severity.HIGH,
        re.compile(r"\b(xox[baprs]-[A-Za-z0-9-]{10,})\b"),
        keep_prefix=5,
    ),
    _Rule(
        "generic-secret-assignment",
        "Secret assigned to a key/token/password variable",
        Severity.MEDIUM,
        re.compile(
            r"(?i)\b" + _ASSIGN_NAMES + r"\b[\"']?\s*[=:]\s*[\"']?([^\s\"'#,;}{]{6,})"
        ),
    ),
)

# Values that name or reference a secret rather than being one.
_PLACEHOLDER = re.compile(
    r"^(?:\$|<|%|\{|\*+$|x+$|changeme$|password$|secret$|none$|null$|true$|false$|example"
    r"|your[_\-]|/|\.\./|https?://[^@]*$)",
    re.IGNORECASE,
)
_NOT_SECRET_NAMES = re.compile(r"(?i)(gpg_key|gpg_keys|public_key|key_id|_file|_path|_url|_dir)$")


def _redact(line: str, span: tuple[int, int], keep: int) -> str:
    start, end = span
    secret = line[start:end]
    shown = secret[:keep] if keep < len(secret) else secret
    masked = shown + "*" * min(max(len(secret) - len(shown), 4), 20)
    excerpt = line[:start] + masked + line[end:]
    return excerpt.strip()[:200]


def scan_text(text: str, location_prefix: str) -> list[SecretHit]:
    """Secrets in a text; locations are ``<prefix>:<line>``."""
    hits: list[SecretHit] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if len(line) > 4096:
            line = line[:4096]
        for rule in RULES:
            m = rule.pattern.search(line)
            if not m:
                continue
            value = m.group(1)
            if rule.id == "generic-secret-assignment":
                name = m.group(0).split("=")[0].split(":")[0].strip(" \"'")
                if _PLACEHOLDER.match(value) or _NOT_SECRET_NAMES.search(name):
                    continue
            keep = rule.keep_prefix if rule.id != "private-key" else len(value)
            redacted = _redact(line, m.span(1), keep) if rule.id != "private-key" else line.strip()
            hits.append(
                SecretHit(rule.id, rule.title, rule.severity, f"{location_prefix}:{lineno}", redacted)
            )
            break  # one hit per line is enough
    return hits


def scan_config(config: JsonObject) -> list[SecretHit]:
    """Secrets in ENV, LABEL and history ``created_by`` of an image config."""
    return scan_config_limited(config, None)[0]


def scan_config_limited(config: JsonObject, limit: int | None) -> tuple[list[SecretHit], int]:
    """The first `limit` hits of `scan_config` and how many more there were."""
    hits: list[SecretHit] = []
    more = 0

    def add(found: Iterable[SecretHit]) -> None:
        nonlocal more
        for hit in found:
            if limit is None or len(hits) < limit:
                hits.append(hit)
            else:
                more += 1

    cfg = config.get("config") or config.get("Config") or {}
    if not isinstance(cfg, dict):
        cfg = {}
    env_list = cfg.get("Env") or []
    for env in env_list if isinstance(env_list, list) else []:
        name, _, value = str(env).partition("=")
        add(_scan_pair("env", name, value))
    labels = cfg.get("Labels") or {}
    for label, text in (labels.items() if isinstance(labels, dict) else ()):
        add(_scan_pair("label", str(label), str(text)))
    history = config.get("history") or []
    for i, entry in enumerate(history if isinstance(history, list) else []):
        created = str(entry.get("created_by") or "") if isinstance(entry, dict) else ""
        add(SecretHit(hit.rule, hit.title, hit.severity, f"history:{i}", hit.redacted)
            for hit in scan_text(created.replace("\n", " "), f"history:{i}"))
    return hits, more


def _scan_pair(kind: str, name: str, value: str) -> Iterable[SecretHit]:
    found = scan_text(f"{name}={value}", f"{kind}:{name}")
    for hit in found:
        yield SecretHit(hit.rule, hit.title, hit.severity, f"{kind}:{name}", hit.redacted)


_SKIP_PREFIXES = (
    "usr/", "lib/", "lib32/", "lib64/", "libx32/", "bin/", "sbin/", "boot/", "proc/", "sys/",
    "dev/", "run/", "var/lib/", "var/cache/", "var/log/", "etc/ssl/", "etc/ca-certificates/",
    "etc/pki/", "etc/alternatives/", "etc/apparmor.d/", "etc/ld.so.cache",
)
_KEEP_UNDER_USR = ("usr/local/etc/", "usr/src/")
_SKIP_PARTS = ("/site-packages/", "/dist-packages/", "/node_modules/", "/.git/", "/__pycache__/")
_SKIP_EXT = (
    ".pyc", ".so", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".gz", ".xz", ".bz2", ".zst",
    ".zip", ".jar", ".whl", ".mo", ".woff", ".woff2", ".ttf", ".pdf", ".pem.pub", ".pub", ".crt",
)


def wants_file(path: str, size: int) -> bool:
    """Whether a layer file at `path` (no leading slash) is worth scanning for secrets."""
    if size == 0 or size > MAX_FILE:
        return False
    if path.startswith(_SKIP_PREFIXES) and not path.startswith(_KEEP_UNDER_USR):
        return False
    p = "/" + path
    if any(part in p for part in _SKIP_PARTS):
        return False
    return not path.endswith(_SKIP_EXT)


def scan_file(path: str, data: bytes) -> list[SecretHit]:
    """Secrets in a layer file's bytes; binaries (NUL in the first 8 KiB) are skipped."""
    if b"\0" in data[:8192]:
        return []
    return scan_text(data.decode("utf-8", "replace"), f"file:/{path}")
