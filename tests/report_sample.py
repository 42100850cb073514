"""A realistic report for the formatter tests and the README screenshot.

Checks with every outcome, per-container details, vulnerabilities of several severities in two
images, an image-config finding, a suppressed check and finding, and attacker-controlled names
(a container called ``<script>alert(1)</script>``, a label breaking out of ``</script>``).

Run ``python -m tests.report_sample OUT.html [SCREENSHOT.png]`` to write the HTML report and,
optionally, a screenshot of it taken with the Debian chromium.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from dockguard.model import (
    CheckMeta,
    CheckResult,
    Detail,
    Finding,
    FindingKind,
    NoteStatus,
    Outcome,
    PackageRef,
    Report,
    ReportNote,
    ReportSource,
    Severity,
    Surface,
    VulnerabilityInfo,
    VulnState,
)

EVIL = "<script>alert(1)</script>"
EVIL_JSON = "</script><script>alert(2)</script><!--"
EVIL_ATTR = "\" onmouseover=\"alert(3)\" x='"


def meta(
    cis: str,
    title: str,
    severity: Severity,
    *,
    level: int = 1,
    automated: bool = True,
    scored: bool = True,
    remediation: str = "",
) -> CheckMeta:
    """A CheckMeta as the registry would build it."""
    return CheckMeta(
        id=cis,
        cis=cis,
        title=title,
        section=cis.split(".")[0],
        level=level,
        automated=automated,
        scored=scored,
        severity=severity,
        remediation=remediation or f"Follow CIS Docker Benchmark recommendation {cis}.",
        references=(f"https://docs.docker.com/engine/security/#cis-{cis}",),
    )


def sample_report() -> Report:
    """The sample report (deterministic)."""
    web = "container:web"
    evil = f"container:{EVIL}"
    results = (
        CheckResult(
            meta("1.1.1", "Ensure a separate partition for containers has been created",
                 Severity.LOW),
            Outcome.PASS,
            (Detail("file:/var/lib/docker", "on its own mount /dev/sdb1", Outcome.PASS),),
        ),
        CheckResult(
            meta("1.1.3", "Ensure auditing is configured for the Docker daemon", Severity.MEDIUM,
                 remediation="Add '-w /usr/bin/dockerd -k docker' to "
                 "/etc/audit/rules.d/docker.rules"),
            Outcome.WARN,
            (Detail("file:/usr/bin/dockerd", "no audit rule watches this file"),),
        ),
        CheckResult(
            meta("2.2", "Ensure network traffic is restricted between containers on the default "
                 "bridge", Severity.MEDIUM),
            Outcome.WARN,
            (Detail("daemon", "icc is enabled", value="true"),),
        ),
        CheckResult(
            meta("2.14", "Ensure containers are restricted from acquiring new privileges",
                 Severity.HIGH, level=2),
            Outcome.PASS,
        ),
        CheckResult(
            meta("3.1", "Ensure that the docker.service file ownership is set to root:root",
                 Severity.MEDIUM),
            Outcome.NA,
            reason="docker.service not found under the host root",
        ),
        CheckResult(
            meta("3.17", "Ensure that the daemon.json file ownership is set to root:root",
                 Severity.MEDIUM),
            Outcome.ERROR,
            reason="PermissionError: [Errno 13] Permission denied: '/etc/docker/daemon.json'",
        ),
        CheckResult(
            meta("4.5", "Ensure Content trust for Docker is Enabled", Severity.LOW, level=2),
            Outcome.WARN,
            reason="DOCKER_CONTENT_TRUST is not set",
            suppressed="content trust is not used in this lab (SEC-42)",
        ),
        CheckResult(
            meta("4.6", "Ensure that HEALTHCHECK instructions have been added to container "
                 "images", Severity.LOW),
            Outcome.WARN,
            (
                Detail("image:app:1.0", "no HEALTHCHECK"),
                Detail("image:dg-busybox:1", "no HEALTHCHECK"),
            ),
        ),
        CheckResult(
            meta("5.4", "Ensure that privileged containers are not used", Severity.CRITICAL,
                 remediation="Do not run containers with the --privileged flag."),
            Outcome.WARN,
            (
                Detail(web, "running unprivileged", Outcome.PASS),
                Detail(evil, "Privileged: true", value="true"),
                Detail(f"container:{EVIL_ATTR}", "Privileged: true", value="true"),
            ),
        ),
        CheckResult(
            meta("5.10", "Ensure that the memory usage for containers is limited",
                 Severity.MEDIUM),
            Outcome.WARN,
            (
                Detail(web, "Memory: 0 (unlimited)", value="0"),
                Detail(evil, "Memory: 268435456", Outcome.PASS, value="268435456"),
            ),
        ),
        CheckResult(
            meta("5.26", "Ensure that container health is checked at runtime", Severity.LOW),
            Outcome.PASS,
            (Detail(web, "health: healthy", Outcome.PASS),),
        ),
        CheckResult(
            meta("6.1", "Ensure that image sprawl is avoided", Severity.LOW, automated=False,
                 scored=False),
            Outcome.NOTE,
            reason="manual: review the 2 images and 3 containers on this host",
        ),
        CheckResult(
            meta("7.1", "Ensure swarm mode is not Enabled, if not needed", Severity.MEDIUM),
            Outcome.INFO,
            reason="swarm is inactive",
        ),
    )
    findings = (
        _vuln("CVE-2023-0286", Severity.HIGH, "X.400 address type confusion in X.509 GeneralName", "image:app:1.0",
              "openssl", "1.1.1n-0+deb11u3", "1.1.1n-0+deb11u4",
              "pkg:deb/debian/openssl@1.1.1n-0%2Bdeb11u3?arch=amd64&distro=debian-11", "/var/lib/dpkg/status",
              description="A type confusion vulnerability relating to X.400 address processing.",
              references=("https://security-tracker.debian.org/tracker/CVE-2023-0286",),
              remediation="Upgrade openssl to 1.1.1n-0+deb11u4."),
        _vuln("CVE-2022-37434", Severity.CRITICAL, "zlib inflateGetHeader heap-based buffer over-read", "image:app:1.0",
              "zlib1g", "1:1.2.11.dfsg-2+deb11u1", "1:1.2.11.dfsg-2+deb11u2",
              "pkg:deb/debian/zlib1g@1:1.2.11.dfsg-2%2Bdeb11u1?distro=debian-11",
              "/usr/lib/x86_64-linux-gnu/libz.so.1.2.11",
              references=("https://nvd.nist.gov/vuln/detail/CVE-2022-37434",),
              remediation="Upgrade zlib to 1:1.2.11.dfsg-2+deb11u2."),
        _vuln("PYSEC-2023-74", Severity.MEDIUM, "requests leaks Proxy-Authorization headers", "image:app:1.0",
              "requests", "2.25.1", "2.31.0", "pkg:pypi/requests@2.25.1",
              "/usr/local/lib/python3.11/site-packages/requests-2.25.1.dist-info",
              references=("https://github.com/psf/requests/security/advisories/GHSA-j8r2-6x86-q33q",),
              remediation="Upgrade requests to 2.31.0."),
        _vuln("CVE-2021-42386", Severity.LOW, "busybox awk use-after-free", "image:dg-busybox:1",
              "busybox", "1.35.0", None, "pkg:apk/alpine/busybox@1.35.0", "/bin/busybox"),
        _vuln("CVE-2005-2541", Severity.NEGLIGIBLE, "tar does not warn when extracting setuid files", "image:app:1.0",
              "tar", "1.34+dfsg-1", None, "pkg:deb/debian/tar@1.34%2Bdfsg-1?distro=debian-11", "",
              suppressed="upstream considers this intended behaviour"),
        _vuln("CVE-2024-99999", Severity.UNKNOWN, f"not yet rated {EVIL_JSON}", "image:app:1.0",
              "libfoo", "1.0", None, "", ""),
        Finding(
            id="image-secret-env",
            kind=FindingKind.IMAGE_CONFIG,
            severity=Severity.HIGH,
            title="Secret in ENV: AWS_SECRET_ACCESS_KEY",
            obj=f"image:{EVIL_ATTR}",
            remediation="Pass secrets at run time (docker secrets, mounted files), not in ENV.",
            evidence=(("key", "AWS_SECRET_ACCESS_KEY"),),
        ),
    )
    return Report(
        tool_version="0.1.0",
        started=1_767_225_600.0,
        finished=1_767_225_603.5,
        source=ReportSource(Surface.AUDIT, docker_host="unix:///run/docker.sock", target=EVIL_JSON),
        results=results,
        findings=findings,
        notes=(ReportNote("registry", NoteStatus.NOT_APPLICABLE, "no registry given"),),
    )


def _vuln(vid: str, severity: Severity, title: str, obj: str, package: str, installed: str, fixed: str | None,
          purl: str, path: str, **kw: Any) -> Finding:
    return Finding(
        id=vid, kind=FindingKind.VULNERABILITY, severity=severity, title=title, obj=obj, path=path,
        package=PackageRef(name=package, version=installed, type=purl[4:].split("/", 1)[0] if purl else "", purl=purl,
                           path=path),
        vulnerability=VulnerabilityInfo(state=VulnState.FIXED if fixed else VulnState.AFFECTED, installed=installed,
                                        fixed=fixed),
        **kw,
    )


def main(argv: list[str]) -> int:
    """Write the sample HTML report and optionally a screenshot of it."""
    from dockguard.report import html

    if not argv:
        print("usage: python -m tests.report_sample OUT.html [SCREENSHOT.png]", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.write_text(html.render(sample_report()), encoding="utf-8")
    if len(argv) > 1:
        from tests.integration.test_html_browser import screenshot

        screenshot(out, Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
