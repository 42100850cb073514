"""CIS Docker Benchmark 1.6.0 section 4: container images and build file.

The image checks read `ImageFacts` (inspect + history); 4.1 reads the running containers'
effective user.  The manual checks 4.4, 4.8 and 4.10 show the results of a dockguard image scan
when one ran: ``ctx.options.extras["image_scans"]`` is a mapping image name -> scan summary with
the optional keys ``vulnerabilities`` (a count, a severity -> count mapping, or a list of
findings / ids), ``setuid_files`` (paths), ``secrets`` (already redacted descriptions) and
``error`` (why the scan failed).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dockguard.checks.catalogue import Check, check, manual
from dockguard.engine import Context, FactsMissing, per_object
from dockguard.model import Detail, Evaluation, Outcome, Severity
from dockguard.snapshot import ContainerFacts, HistoryEntry, ImageFacts

CIS_URL = "https://www.cisecurity.org/benchmark/docker"
_DOCKERFILE_REF = "https://docs.docker.com/engine/reference/builder/"
_BEST_PRACTICES = "https://docs.docker.com/develop/develop-images/dockerfile_best-practices/"

NO_RUNNING = "no running containers"


# --------------------------------------------------------------------------- helpers


def is_root_user(user: str) -> bool:
    """True when a Config.User value makes the process run as uid 0.

    ``""`` (no USER), ``0``, ``root`` and any ``0:<gid>`` / ``root:<group>`` form are root;
    docker-bench only recognises the first three, so ``0:0`` slipped through.
    """
    name = user.strip().split(":", 1)[0].strip()
    if name in ("", "root"):
        return True
    return name.isdigit() and int(name) == 0


def _root_problem(c: ContainerFacts) -> str | None:
    if not is_root_user(c.user):
        return None
    shown = c.user if c.user else "no USER set"
    return f"runs as root ({shown})"


_KEYWORDS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
_NOP = re.compile(r"^/bin/sh\s+-c\s+#\(nop\)\s*([A-Za-z]+)\s*(.*)$", re.S)
# The legacy builder records RUN as "/bin/sh -c cmd", prefixed by "|N ARG=v ..." with build args.
_SHELL = re.compile(r"^(?:\|\d+\s+(?:\S+=\S*\s+)*)?/bin/(?:ba)?sh\s+-c\s+(.*)$", re.S)


def parse_history(created_by: str) -> tuple[str, str]:
    """Split a history line into (INSTRUCTION, arguments).

    Handles the legacy builder (``/bin/sh -c #(nop) ADD file:… in /``, ``/bin/sh -c apt-get …``)
    and BuildKit (``RUN /bin/sh -c … # buildkit``, ``ADD x / # buildkit``).  Lines from
    ``docker commit`` or unknown tools give ``("", line)``.
    """
    text = created_by.strip()
    text = re.sub(r"\s*#\s*buildkit\s*$", "", text)
    m = _NOP.match(text)
    if m:
        return m.group(1).upper(), m.group(2).strip()
    m = _SHELL.match(text)
    if m:
        return "RUN", m.group(1).strip()
    word, _, rest = text.partition(" ")
    if word in _KEYWORDS:
        rest = rest.strip()
        if word == "RUN":
            m = _SHELL.match(rest)
            if m:
                rest = m.group(1).strip()
        return word, rest
    return "", text


_PKG_MANAGERS = frozenset({"apt-get", "apt", "apk", "yum", "dnf", "microdnf"})
_INSTALL_VERBS = frozenset({"install", "add", "upgrade", "dist-upgrade", "full-upgrade", "reinstall", "groupinstall"})
# Options of those tools that take a separate argument ("apt-get -o X=Y update").
_OPTS_WITH_ARG = frozenset(
    {
        "-o",
        "-c",
        "-t",
        "-X",
        "--repository",
        "-p",
        "--root",
        "--enablerepo",
        "--disablerepo",
        "--setopt",
        "--installroot",
        "--releasever",
        "--target-release",
        "--config-file",
    }
)
_SEPARATORS = re.compile(r"&&|\|\||;|\||\n")


def _pkg_actions(command: str) -> list[str]:
    """Package-manager verbs ('update' / 'install') of a shell command line, in order."""
    actions: list[str] = []
    for part in _SEPARATORS.split(command.replace("\\\n", " ")):
        tokens = [t.strip("\"'[],") for t in part.split()]
        tokens = [t for t in tokens if t]
        i = 0
        # Skip wrappers and environment assignments in front of the tool.
        while i < len(tokens) and (
            tokens[i] in ("sudo", "env", "exec", "then", "do", "else")
            or ("=" in tokens[i] and not tokens[i].startswith("-"))
        ):
            i += 1
        if i >= len(tokens) or tokens[i].rsplit("/", 1)[-1] not in _PKG_MANAGERS:
            continue
        i += 1
        while i < len(tokens) and tokens[i].startswith("-"):
            i += 2 if tokens[i] in _OPTS_WITH_ARG else 1
        if i >= len(tokens):
            continue
        verb = tokens[i]
        if verb == "update":
            actions.append("update")
        elif verb in _INSTALL_VERBS:
            actions.append("install")
    return actions


def update_alone(created_by: str) -> bool:
    """True when a RUN line refreshes package indexes without installing afterwards."""
    instr, args = parse_history(created_by)
    if instr not in ("RUN", ""):
        return False
    actions = _pkg_actions(args)
    if "update" not in actions:
        return False
    last_update = len(actions) - 1 - actions[::-1].index("update")
    return "install" not in actions[last_update + 1 :]


_BASE_ROOTFS_ADD = re.compile(r"^file:[0-9a-f]{16,}\s+in\s+/\s*$")


def _created_key(entry: HistoryEntry) -> float | None:
    """Creation time as seconds: the collector stores the API's unix time; RFC 3339 also works."""
    text = entry.created.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def oldest_entry_index(history: Sequence[HistoryEntry]) -> int | None:
    """Index of the oldest history entry, i.e. the base image's root filesystem layer.

    Snapshots store history oldest first (the reverse of the Engine API); when the timestamps
    show the list runs the other way (first entry newer than the last), the last one is oldest.
    """
    if not history:
        return None
    first, last = _created_key(history[0]), _created_key(history[-1])
    if first is not None and last is not None and first > last:
        return len(history) - 1
    return 0


def add_instructions(history: Sequence[HistoryEntry]) -> list[str]:
    """Arguments of ADD instructions that do not belong to the base image's root filesystem."""
    oldest = oldest_entry_index(history)
    found: list[str] = []
    for idx, entry in enumerate(history):
        instr, args = parse_history(entry.created_by)
        if instr != "ADD" or idx == oldest or _BASE_ROOTFS_ADD.match(args):
            continue
        found.append(args)
    return found


def _image_label(img: ImageFacts) -> str:
    return f"image:{img.display_name}"


def _images_or_na(ctx: Context) -> tuple[ImageFacts, ...]:
    images = ctx.images
    if not images:
        raise FactsMissing("no images")
    return images


def _with_history(ctx: Context) -> tuple[list[ImageFacts], list[str]]:
    images = _images_or_na(ctx)
    have = [i for i in images if i.history is not None]
    missing = [i.display_name for i in images if i.history is None]
    if not have:
        raise FactsMissing("image history not collected")
    return have, missing


def _missing_note(missing: list[str]) -> str:
    return f"history not collected for: {', '.join(missing)}" if missing else ""


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- scans seam


def _image_scans(ctx: Context) -> Mapping[str, Any] | None:
    scans = ctx.options.extras.get("image_scans")
    return scans if isinstance(scans, Mapping) else None


def _summarise_vulns(value: Any) -> tuple[int, str]:
    """Count and describe a scan's vulnerabilities, whatever shape the scan reports."""
    if isinstance(value, bool):
        return 0, "no vulnerability data"
    if isinstance(value, int):
        return value, f"{value} vulnerabilities"
    if isinstance(value, Mapping):
        counts = {str(k).upper(): int(v) for k, v in value.items() if isinstance(v, int)}
        total = sum(counts.values())
        parts = [f"{k} {v}" for k, v in sorted(counts.items(), key=_sev_order) if v]
        return total, f"{total} vulnerabilities" + (f" ({', '.join(parts)})" if parts else "")
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        items = list(value)
        sev: Counter[str] = Counter()
        for item in items:
            if isinstance(item, Mapping) and item.get("severity"):
                sev[str(item["severity"]).upper()] += 1
        parts = [f"{k} {v}" for k, v in sorted(sev.items(), key=_sev_order)]
        return len(items), f"{len(items)} vulnerabilities" + (f" ({', '.join(parts)})" if parts else "")
    return 0, "no vulnerability data"


def _sev_order(item: tuple[str, int]) -> int:
    try:
        return -Severity(item[0]).rank
    except ValueError:
        return 0


def _describe(item: Any) -> str:
    """One line for a setuid file or a secret; raw secret values are never printed."""
    if isinstance(item, Mapping):
        keys = ("kind", "rule", "type", "location", "path", "where", "file", "mode", "message")
        parts = [f"{k}={item[k]}" for k in keys if item.get(k) not in (None, "")]
        return ", ".join(parts) if parts else "(unnamed)"
    return str(item)


def _scan_eval(ctx: Context, key: str, noun: str, hint: str) -> Evaluation:
    scans = _image_scans(ctx)
    if scans is None:
        return Evaluation(Outcome.NOTE, reason=hint)
    details: list[Detail] = []
    for name in sorted(scans):
        scan = scans[name]
        obj = f"image:{name}"
        if not isinstance(scan, Mapping):
            continue
        if scan.get("error"):
            details.append(Detail(obj, f"image scan failed: {scan['error']}", Outcome.ERROR))
            continue
        if key not in scan:
            continue
        value = scan[key]
        if key == "vulnerabilities":
            count, text = _summarise_vulns(value)
            details.append(Detail(obj, text, Outcome.WARN if count else Outcome.PASS, str(count)))
            continue
        items = list(value) if isinstance(value, Iterable) and not isinstance(value, str) else []
        if not items:
            details.append(Detail(obj, f"no {noun} found", Outcome.PASS, "0"))
        for item in items:
            details.append(Detail(obj, f"{noun}: {_describe(item)}", Outcome.WARN))
    if not details:
        return Evaluation(Outcome.NOTE, reason=f"the image scan reported no {noun} data; " + hint)
    return Evaluation(Outcome.INFO, tuple(details), f"from dockguard image scan ({noun})")


# --------------------------------------------------------------------------- checks


def _c_4_1(ctx: Context) -> Evaluation:
    return per_object(((c.label, _root_problem(c)) for c in ctx.running), none_reason=NO_RUNNING)


def _c_4_4(ctx: Context) -> Evaluation:
    return _scan_eval(
        ctx,
        "vulnerabilities",
        "vulnerabilities",
        "manual check: scan images (e.g. `dockguard image <name>`) and rebuild them on patched bases",
    )


# docker/cli: any non-empty value that strconv.ParseBool does not read as false enables trust.
_PARSEBOOL_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


def _c_4_5(ctx: Context) -> Evaluation:
    errs = ctx.snapshot.errors_for("environment")
    if errs:
        raise FactsMissing(f"audit environment not collected: {errs[0].message}")
    value = ctx.snapshot.environment.get("DOCKER_CONTENT_TRUST")
    if value and value not in _PARSEBOOL_FALSE:
        return Evaluation(
            Outcome.PASS,
            (Detail("environment", "content trust enabled", Outcome.PASS, value),),
        )
    shown = "unset" if value is None else f"set to {value!r}"
    return Evaluation(
        Outcome.WARN,
        (Detail("environment", f"DOCKER_CONTENT_TRUST is {shown}", Outcome.WARN, value),),
    )


def _healthcheck_problem(img: ImageFacts) -> str | None:
    hc = img.healthcheck
    if hc is None or not hc:
        return "no HEALTHCHECK"
    if hc[0].upper() == "NONE":
        return "HEALTHCHECK disabled (NONE)"
    return None


def _c_4_6(ctx: Context) -> Evaluation:
    images = _images_or_na(ctx)
    return per_object((_image_label(i), _healthcheck_problem(i)) for i in images)


def _c_4_7(ctx: Context) -> Evaluation:
    images, missing = _with_history(ctx)
    details: list[Detail] = []
    for img in images:
        assert img.history is not None
        for entry in img.history:
            if update_alone(entry.created_by):
                details.append(
                    Detail(
                        _image_label(img),
                        "package index update without install in the same instruction",
                        Outcome.INFO,
                        _short(entry.created_by),
                    )
                )
    if details:
        return Evaluation(Outcome.INFO, tuple(details), _missing_note(missing))
    reason = f"no update-only instruction in the history of {len(images)} image(s)"
    if missing:
        reason += "; " + _missing_note(missing)
    return Evaluation(Outcome.PASS, (), reason)


def _c_4_8(ctx: Context) -> Evaluation:
    return _scan_eval(
        ctx,
        "setuid_files",
        "setuid/setgid file",
        "manual check: list files with `find / -perm /6000 -type f` in each image",
    )


def _c_4_9(ctx: Context) -> Evaluation:
    images, missing = _with_history(ctx)
    details: list[Detail] = []
    for img in images:
        assert img.history is not None
        for args in add_instructions(img.history):
            remote = " (remote URL)" if re.search(r"\bhttps?://", args) else ""
            details.append(Detail(_image_label(img), f"ADD instruction{remote}", Outcome.INFO, _short(args)))
    if details:
        return Evaluation(Outcome.INFO, tuple(details), _missing_note(missing))
    reason = f"no ADD beyond the base layer in {len(images)} image(s)"
    if missing:
        reason += "; " + _missing_note(missing)
    return Evaluation(Outcome.PASS, (), reason)


def _c_4_10(ctx: Context) -> Evaluation:
    return _scan_eval(
        ctx,
        "secrets",
        "possible secret",
        "manual check: review Dockerfiles, ENV, LABEL and history for credentials",
    )


CHECKS: tuple[Check, ...] = (
    check(
        "4.1",
        "Ensure that a user for the container has been created",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Create an unprivileged user in the image (useradd/adduser) and switch to it "
        "with a USER instruction, or run the container with --user <uid>:<gid>.",
        impact="Bind-mounted host directories must be readable/writable by the chosen uid.",
        references=(CIS_URL, _DOCKERFILE_REF + "#user"),
        fn=_c_4_1,
    ),
    manual(
        "4.2",
        "Ensure that containers use only trusted base images",
        level=1,
        severity=Severity.MEDIUM,
        remediation="Build from official or internally maintained base images, pull them over "
        "verified channels (content trust, digests) and review their history before use.",
        references=(CIS_URL, "https://docs.docker.com/engine/security/trust/"),
    ),
    manual(
        "4.3",
        "Ensure that unnecessary packages are not installed in the container",
        level=1,
        remediation="Start from a minimal base image and install only what the application "
        "needs at run time; keep build tools in an earlier stage of a multi-stage build.",
        references=(CIS_URL, _BEST_PRACTICES),
    ),
    manual(
        "4.4",
        "Ensure images are scanned and rebuilt to include security patches",
        level=1,
        severity=Severity.HIGH,
        remediation="Scan images regularly, rebuild them on an up-to-date base with patched "
        "packages, and restart containers from the rebuilt images.",
        impact="Rebuilt images have to be re-tested and redeployed.",
        references=(CIS_URL, _BEST_PRACTICES),
        fn=_c_4_4,
    ),
    check(
        "4.5",
        "Ensure Content trust for Docker is Enabled",
        level=2,
        severity=Severity.LOW,
        remediation="Export DOCKER_CONTENT_TRUST=1 for the users and automation that pull, "
        "build and push images (e.g. in /etc/environment or the CI environment).",
        impact="Unsigned tags can no longer be pulled, built from or run.",
        references=(CIS_URL, "https://docs.docker.com/engine/security/trust/"),
        fn=_c_4_5,
    ),
    check(
        "4.6",
        "Ensure that HEALTHCHECK instructions have been added to container images",
        level=1,
        severity=Severity.LOW,
        remediation="Add a HEALTHCHECK instruction that probes the service to each image and rebuild it.",
        references=(CIS_URL, _DOCKERFILE_REF + "#healthcheck"),
        fn=_c_4_6,
    ),
    manual(
        "4.7",
        "Ensure update instructions are not used alone in the Dockerfile",
        level=1,
        remediation="Refresh package indexes and install packages in the same RUN instruction "
        "(e.g. `apt-get update && apt-get install -y pkg=version`), or build with --no-cache.",
        references=(CIS_URL, _BEST_PRACTICES + "#run"),
        fn=_c_4_7,
    ),
    manual(
        "4.8",
        "Ensure setuid and setgid permissions are removed",
        level=2,
        severity=Severity.MEDIUM,
        remediation="Strip setuid/setgid bits from binaries that do not need them at build "
        "time, e.g. `RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +` with exceptions.",
        impact="Programs that legitimately rely on setuid/setgid (su, ping on old kernels) stop "
        "working; review the list before stripping.",
        references=(CIS_URL, "https://man7.org/linux/man-pages/man2/setuid.2.html"),
        fn=_c_4_8,
    ),
    manual(
        "4.9",
        "Ensure that COPY is used instead of ADD in Dockerfiles",
        level=1,
        remediation="Use COPY for local files; fetch remote content explicitly (curl + checksum "
        "verification) instead of ADD <url>, and unpack archives deliberately.",
        impact="Builds that relied on ADD's URL download or automatic extraction need rework.",
        references=(CIS_URL, _BEST_PRACTICES + "#add-or-copy"),
        fn=_c_4_9,
    ),
    manual(
        "4.10",
        "Ensure secrets are not stored in Dockerfiles",
        level=1,
        severity=Severity.HIGH,
        remediation="Keep credentials out of Dockerfiles, ENV, LABEL and layers; pass them at "
        "build time with BuildKit secret mounts and at run time with a secrets manager.",
        impact="Builds need a secrets-management workflow.",
        references=(CIS_URL, "https://docs.docker.com/build/building/secrets/"),
        fn=_c_4_10,
    ),
    manual(
        "4.11",
        "Ensure only verified packages are installed",
        level=2,
        severity=Severity.MEDIUM,
        remediation="Install packages only from repositories whose signatures are verified "
        "(GPG-signed apt/yum/apk repositories, checksummed downloads).",
        references=(CIS_URL,),
    ),
    manual(
        "4.12",
        "Ensure all signed artifacts are validated",
        level=2,
        severity=Severity.MEDIUM,
        remediation="Verify signatures of images and other artifacts before publishing them to "
        "a registry and before deploying them.",
        references=(CIS_URL, "https://docs.docker.com/engine/security/trust/"),
    ),
)
