"""Image configuration checks (CIS 4.1, 4.6, 4.7, 4.8, 4.9, 4.10 applied to one image).

Pure functions from an `Inventory` to `Finding`s of kind ``image-config``.  An image can
hold thousands of instances of one problem (200 000 history entries with ``PASSWORD=``): the
first `Limits.max_findings_per_kind` findings of each id are listed, the rest become one
finding "… and K more" with the highest severity among them.
"""

from __future__ import annotations

import re

from dockguard.image.limits import DEFAULT_LIMITS
from dockguard.image.scan import Inventory
from dockguard.jsontypes import JsonObject
from dockguard.model import Finding, FindingKind, Severity, evidence

_UPDATE = re.compile(r"\b(apt-get|apt|apk|yum|dnf|microdnf|zypper)\s+(?:-\S+\s+)*(update|upgrade)\b")
_INSTALL = re.compile(r"\b(install|add)\b")
_ADD = re.compile(r"(?:#\(nop\)\s*)?\bADD\b\s+(?:--\S+\s+)*(\S+)")


def _config(inv: Inventory) -> JsonObject:
    cfg = inv.metadata.config.get("config") or inv.metadata.config.get("Config") or {}
    return cfg if isinstance(cfg, dict) else {}


def _f(fid: str, cis: str, sev: Severity, title: str, obj: str, remediation: str,
       path: str = "", **facts: object) -> Finding:
    return Finding(
        id=fid, kind=FindingKind.IMAGE_CONFIG, severity=sev, title=title, obj=obj,
        remediation=remediation, path=path, evidence=evidence(cis=cis, **facts),
    )


class _Grouped:
    """Findings by id: the first `limit` of each kept, the others counted."""

    def __init__(self, obj: str, limit: int) -> None:
        self.obj = obj
        self.limit = limit
        self.findings: list[Finding] = []
        self._kept: dict[str, int] = {}
        self._more: dict[str, tuple[int, Severity, str, str]] = {}

    def append(self, finding: Finding) -> None:
        kept = self._kept.get(finding.id, 0)
        if kept < self.limit:
            self._kept[finding.id] = kept + 1
            self.findings.append(finding)
            return
        self.more(finding.id, 1, finding.severity, finding.fact("cis"), finding.remediation)

    def more(self, fid: str, count: int, severity: Severity, cis: str, remediation: str) -> None:
        n, sev, _, _ = self._more.get(fid, (0, severity, cis, remediation))
        self._more[fid] = (n + count, severity if severity.rank > sev.rank else sev, cis, remediation)

    def done(self) -> list[Finding]:
        out = list(self.findings)
        for fid, (n, sev, cis, remediation) in self._more.items():
            out.append(_f(fid, cis, sev, f"… and {n} more {fid} findings (not listed one by one)",
                          self.obj, remediation, grouped=n))
        return out


def check_image(inv: Inventory, obj: str, limit: int = DEFAULT_LIMITS.max_findings_per_kind) -> list[Finding]:
    """All configuration findings for one image; `obj` is its label (``image:NAME``)."""
    out = _Grouped(obj, limit)
    if inv.metadata.kind == "rootfs":
        _file_findings(inv, out)
        return out.done()
    cfg = _config(inv)
    user = str(cfg.get("User") or "").strip()
    name = user.split(":")[0]
    if name in ("", "root", "0"):
        out.append(_f("IMG-ROOT-USER", "4.1", Severity.MEDIUM,
                      "Image runs as root" + (f" (USER {user})" if user else " (no USER)"),
                      obj, "Create a non-root user and set USER in the Dockerfile.", user=user))
    health = cfg.get("Healthcheck") or {}
    test = health.get("Test") if isinstance(health, dict) else None
    if not test or test == ["NONE"]:
        out.append(_f("IMG-NO-HEALTHCHECK", "4.6", Severity.LOW, "Image has no HEALTHCHECK",
                      obj, "Add a HEALTHCHECK instruction."))
    history = inv.metadata.config.get("history")
    for i, entry in enumerate(history if isinstance(history, list) else []):
        created = str(entry.get("created_by") or "") if isinstance(entry, dict) else ""
        for command in re.split(r"&&|;|\|\|", created):
            if _UPDATE.search(command) and not _INSTALL.search(created):
                out.append(_f("IMG-UPDATE-ALONE", "4.7", Severity.LOW,
                              "Package index update without install in the same instruction",
                              obj, "Combine update and install in one RUN instruction.",
                              history=i, created_by=created[:300]))
                break
        m = _ADD.search(created)
        if m and "COPY" not in created.split("ADD")[0] and i > 0:
            src = m.group(1)
            url = src.startswith(("http://", "https://"))
            out.append(_f("IMG-ADD", "4.9",
                          Severity.MEDIUM if url else Severity.LOW,
                          "ADD " + ("downloads from a URL" if url else "used instead of COPY"),
                          obj, "Use COPY (and verified downloads in RUN) instead of ADD.",
                          history=i, created_by=created[:300]))
    ports = cfg.get("ExposedPorts")
    for port in ports if isinstance(ports, dict) else {}:  # `decode.image_config` checked it
        num = str(port).split("/")[0]
        if num.isdigit() and int(num) < 1024:
            out.append(_f("IMG-PRIVILEGED-PORT", "5.8", Severity.LOW,
                          f"Image exposes privileged port {port}", obj,
                          "Listen on a port above 1023 inside the container.", port=str(port)))
    tags = inv.metadata.repo_tags or ((inv.metadata.name,) if inv.metadata.kind == "daemon" else ())
    for tag in tags:
        last = tag.rsplit("/", 1)[-1]
        if last.endswith(":latest") or (":" not in last and "@" not in last):
            out.append(_f("IMG-LATEST-TAG", "4.x", Severity.LOW,
                          f"Image referenced by the mutable tag {tag if ':' in last else tag + ':latest'}",
                          obj, "Pin images by a version tag or digest."))
            break
    _file_findings(inv, out)
    return out.done()


def _file_findings(inv: Inventory, out: _Grouped) -> None:
    obj = out.obj
    for fact in inv.setuid_files:
        bits = ("setuid" if fact.mode & 0o4000 else "") + (
            "setgid" if fact.mode & 0o2000 and not fact.mode & 0o4000 else "")
        if fact.mode & 0o4000 and fact.mode & 0o2000:
            bits = "setuid+setgid"
        out.append(_f("IMG-SETUID", "4.8", Severity.LOW, f"{bits} file {fact.path}", obj,
                      "Remove setuid/setgid bits you do not need (chmod u-s,g-s).",
                      path=fact.path, mode=oct(fact.mode), layer=fact.layer))
    for fact in inv.world_writable_dirs:
        out.append(_f("IMG-WORLD-WRITABLE-DIR", "4.8", Severity.MEDIUM,
                      f"World-writable directory without sticky bit {fact.path}", obj,
                      "chmod o-w or add the sticky bit (chmod +t).",
                      path=fact.path, mode=oct(fact.mode), layer=fact.layer))
    for hit, layer in inv.secrets:
        path = hit.location.split(":", 1)[1].rsplit(":", 1)[0] if hit.location.startswith(
            "file:") else ""
        out.append(_f("IMG-SECRET", "4.10", hit.severity, f"{hit.title} in {hit.location}", obj,
                      _SECRET_FIX, path=path, rule=hit.rule, location=hit.location,
                      redacted=hit.redacted, layer=layer))
    if inv.secrets_omitted:
        worst = max((h.severity for h, _ in inv.secrets), key=lambda s: s.rank, default=Severity.MEDIUM)
        out.more("IMG-SECRET", inv.secrets_omitted, worst, "4.10", _SECRET_FIX)


_SECRET_FIX = ("Remove the secret from the image and rotate it; pass secrets at run "
               "time (build secrets, mounted files).")
