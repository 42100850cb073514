"""CIS Docker Benchmark 1.6.0 section 4: container images and build file.

The image checks read `ImageFacts` (inspect + history); 4.1 reads the running containers'
effective user.  The manual checks 4.4, 4.8 and 4.10 show the results of dockguard's image
scans when ``audit`` made them: ``Snapshot.image_scans``, one `ImageScanSummary` per image.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from dockguard.checks.catalogue import Check, check, manual
from dockguard.engine import Context, FactsMissing, per_object
from dockguard.model import Detail, Evaluation, Outcome, Severity
from dockguard.snapshot import ContainerFacts, HistoryEntry, ImageFacts, ImageScanSummary

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


# --------------------------------------------------------------------------- image scans


class _ScanCheck:
    """How one of 4.4/4.8/4.10 reads an `ImageScanSummary`."""

    def __init__(self, noun: str, plural: str, hint: str) -> None:
        self.noun = noun
        self.plural = plural
        self.hint = hint

    def found(self, scan: ImageScanSummary) -> list[str] | None:
        """What the scan found (one line each), or None when it could not tell."""
        raise NotImplementedError

    def clean(self, scan: ImageScanSummary) -> str:
        """The detail of an image where nothing was found."""
        return f"no {self.noun} found"


class _Vulnerabilities(_ScanCheck):
    def found(self, scan: ImageScanSummary) -> list[str] | None:
        if scan.vulnerabilities is None:
            return None
        counts = sorted(((s, n) for s, n in scan.vulnerabilities.items() if n > 0), key=lambda sn: -sn[0].rank)
        total = sum(n for _, n in counts)
        if not total:
            return []
        return [f"{total} vulnerabilities ({', '.join(f'{s.value} {n}' for s, n in counts)})"]

    def clean(self, scan: ImageScanSummary) -> str:
        return "no known vulnerability"


class _SetuidFiles(_ScanCheck):
    def found(self, scan: ImageScanSummary) -> list[str] | None:
        return [f"setuid/setgid file: {path}" for path in scan.setuid_files]


class _Secrets(_ScanCheck):
    def found(self, scan: ImageScanSummary) -> list[str] | None:
        return [f"possible secret: {text}" for text in scan.secrets]


def _not_determined(scan: ImageScanSummary, what: _ScanCheck) -> str | None:
    """Why a scan cannot vouch that the image is free of `what`, or None when it can."""
    if isinstance(what, _Vulnerabilities) and scan.vulnerabilities is None:
        return "vulnerabilities not checked: no vulnerability database"
    if not scan.complete:
        part = f", e.g. {scan.not_read[0]}" if scan.not_read else ""
        return f"the scan was incomplete ({len(scan.not_read) or 'some'} part(s) not read{part})"
    return None


def _scan_eval(ctx: Context, what: _ScanCheck) -> Evaluation:
    """4.4/4.8/4.10 from the image scans in the snapshot (``audit`` makes them).

    Per image: what was found (INFO: the checks are manual, facts for a human), nothing found on a
    complete scan (PASS), a failed scan (ERROR) or an incomplete one / no database (N/A): an
    image is never called clean on a scan that could not read all of it.  The result's reason
    says what the scans found, in its own words.
    """
    scans = ctx.snapshot.image_scans
    if scans is None:
        return Evaluation(Outcome.NOTE, reason=what.hint)
    wanted = [s for s in scans if ctx.image_name_wanted(s.image)]
    if not wanted:
        return Evaluation(Outcome.NOTE, reason="no image was scanned; " + what.hint)
    details: list[Detail] = []
    failed: list[str] = []
    unknown: list[str] = []
    with_items: list[str] = []
    clean: list[str] = []
    for scan in sorted(wanted, key=lambda s: s.image):
        obj = f"image:{scan.image}"
        if scan.error:
            failed.append(scan.image)
            details.append(Detail(obj, f"image scan failed: {scan.error}", Outcome.ERROR))
            continue
        items = what.found(scan)
        if items:
            with_items.append(scan.image)
            details.extend(Detail(obj, item, Outcome.INFO) for item in items)
        why = _not_determined(scan, what)
        if why is not None:
            unknown.append(scan.image)
            details.append(Detail(obj, f"not determined: {why}", Outcome.NA))
        elif not items:
            clean.append(scan.image)
            details.append(Detail(obj, what.clean(scan), Outcome.PASS, "0"))
    parts = []
    if with_items:
        parts.append(f"{what.plural} found in {_images(with_items)}")
    if failed:
        parts.append(f"the scan failed for {_images(failed)}")
    if unknown:
        parts.append(f"not determined for {_images(unknown)}")
    if clean:
        parts.append(f"none found in {_images(clean)}" if parts else f"no {what.noun} found in {_images(clean)}")
    reason = "; ".join(parts)
    order = {Outcome.ERROR: 0, Outcome.INFO: 1, Outcome.NA: 2, Outcome.PASS: 3}
    details.sort(key=lambda d: order.get(d.outcome, 4))
    if failed:
        return Evaluation(Outcome.ERROR, tuple(details), reason)
    if with_items:
        return Evaluation(Outcome.INFO, tuple(details), reason)
    if unknown:
        return Evaluation(Outcome.NA, tuple(details), reason)
    return Evaluation(Outcome.PASS, tuple(details), reason)


def _images(names: list[str]) -> str:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{len(names)} scanned image(s) ({shown})"


# --------------------------------------------------------------------------- checks


def _c_4_1(ctx: Context) -> Evaluation:
    return per_object(((c.label, _root_problem(c)) for c in ctx.running), none_reason=NO_RUNNING)


_VULNERABILITIES = _Vulnerabilities(
    "vulnerability",
    "vulnerabilities",
    "manual check: scan images (e.g. `dockguard image scan <name>`, or `dockguard audit`) and rebuild them on "
    "patched bases",
)
_SETUID = _SetuidFiles(
    "setuid/setgid file",
    "setuid/setgid files",
    "manual check: list files with `find / -perm /6000 -type f` in each image (or run `dockguard audit`)",
)
_SECRETS = _Secrets(
    "possible secret",
    "possible secrets",
    "manual check: review Dockerfiles, ENV, LABEL and history for credentials (or run `dockguard audit`)",
)


def _c_4_4(ctx: Context) -> Evaluation:
    return _scan_eval(ctx, _VULNERABILITIES)


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
    return _scan_eval(ctx, _SETUID)


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
    return _scan_eval(ctx, _SECRETS)


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
