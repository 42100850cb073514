"""One realistic `Report` per surface, built from the typed model only, for the formatter tests.

The formatters must render any report: CIS checks with per-object details (bench), everything
at once (audit: `tests.report_sample`), image findings with package files and a long advisory
text (image scan), probe steps and endpoint findings (daemon and registry probes), findings on
lines of a profile file (seccomp lint) and findings of any kind (diff).
"""

from __future__ import annotations

from dataclasses import replace

from dockguard.model import (
    Change,
    CheckMeta,
    CheckResult,
    Detail,
    Finding,
    FindingKind,
    HostSubject,
    ImageSubject,
    NoteStatus,
    Outcome,
    PackageRef,
    ProbeStep,
    Report,
    ReportNote,
    ReportSource,
    Severity,
    StepStatus,
    Surface,
    VulnerabilityInfo,
    VulnState,
    evidence,
)
from tests.report_sample import meta, sample_report

#: CVE-2023-45803's description (urllib3), over 1,600 characters: longer than GitHub and GitLab take.
LONG_DESCRIPTION = (
    "urllib3 is a user-friendly HTTP client library for Python. urllib3 previously wouldn't remove the "
    "HTTP request body when an HTTP redirect response using status 301, 302, or 303 after the request had "
    "its method changed from one that could accept a request body (like `POST`) to `GET` as is required by "
    "HTTP RFCs. Although this behavior is not specified in the section for redirects, it can be inferred "
    "by piecing together information from different sections and we have observed the behavior in other "
    "major HTTP client implementations like curl and web browsers. Because the vulnerability requires a "
    "previously trusted service to become compromised in order to have an impact on confidentiality we "
    "believe the exploitability of this vulnerability is low. Additionally, many users aren't putting "
    "sensitive data in HTTP request bodies, if this is the case then this vulnerability isn't exploitable. "
    "Both of the following conditions must be true to be affected by this vulnerability: 1. Using urllib3 "
    "and submitting sensitive information in the HTTP request body (such as form data or JSON) and 2. The "
    "origin service is compromised and starts redirecting using 301, 302, or 303 to a malicious peer or the "
    "redirected-to service becomes compromised. This issue has been patched in versions 1.26.18 and 2.0.7 "
    "and users are advised to update to resolve this issue. Users unable to update should disable "
    "redirects for services that aren't expecting to respond with redirects with `redirects=False` and "
    "disable automatic redirects with `redirects=False` and handle 301, 302, and 303 redirects manually by "
    "stripping the HTTP request body."
)

T0 = 1_767_225_600.0


def _report(source: ReportSource, *, results: tuple[CheckResult, ...] = (), findings: tuple[Finding, ...] = (),
            notes: tuple[ReportNote, ...] = (), steps: tuple[ProbeStep, ...] = (),
            packages: tuple[PackageRef, ...] = ()) -> Report:
    return Report(tool_version="0.1.0", started=T0, finished=T0 + 2.0, source=source, results=results,
                  findings=findings, notes=notes, steps=steps, packages=packages)


def bench_report() -> Report:
    """CIS results of a host with two containers failing the same checks for different reasons."""
    caps = CheckMeta(id="5.4", cis="5.4", title="Ensure that Linux kernel capabilities are restricted within "
                     "containers", section="5", level=1, automated=True, scored=True, severity=Severity.HIGH,
                     remediation="Drop the capabilities the container does not need.")
    results = (
        CheckResult(meta("2.2", "Ensure network traffic is restricted between containers on the default bridge",
                         Severity.MEDIUM), Outcome.WARN,
                    (Detail("daemon", "icc not set (Docker default: true): containers on the default bridge can "
                            "reach each other"),)),
        CheckResult(meta("3.17", "Ensure that the daemon.json file ownership is set to root:root", Severity.MEDIUM),
                    Outcome.WARN, (Detail("file:/etc/docker/daemon.json", "owned by 1000:0", value="1000:0"),)),
        CheckResult(meta("3.19", "Ensure that the /etc/default/docker file ownership is set to root:root",
                         Severity.MEDIUM), Outcome.NA, reason="/etc/default/docker not found"),
        CheckResult(caps, Outcome.WARN, (
            Detail("container:web", "CapAdd: SYS_ADMIN", value="SYS_ADMIN"),
            Detail("container:db", "CapAdd: NET_ADMIN", value="NET_ADMIN"),
            Detail("container:cache", "default capabilities", Outcome.PASS),
        )),
        CheckResult(meta("5.11", "Ensure that the memory usage for containers is limited", Severity.MEDIUM),
                    Outcome.WARN, (Detail("container:web", "Memory: 0 (unlimited)", value="0"),
                                   Detail("container:db", "Memory: 0 (unlimited)", value="0"))),
        CheckResult(meta("5.6", "Ensure sensitive host system directories are not mounted on containers",
                         Severity.HIGH), Outcome.WARN, (
            Detail("container:web", "mounts /etc read-write"),
            Detail("container:web", "mounts /var/run/docker.sock read-write"),
        )),
        CheckResult(meta("5.7", "Ensure sshd is not run within containers", Severity.MEDIUM), Outcome.ERROR,
                    (Detail("container:web", "cannot list processes: 409 Conflict", Outcome.ERROR),),
                    reason="processes of 1 container could not be listed"),
        CheckResult(meta("1.1.2", "Ensure only trusted users are allowed to control Docker daemon",
                         Severity.HIGH), Outcome.INFO, (
            Detail("user:alice", "can control the Docker daemon (docker group)", Outcome.INFO, "alice"),)),
        CheckResult(meta("6.1", "Ensure that image sprawl is avoided", Severity.LOW, automated=False, scored=False),
                    Outcome.NOTE, reason="3 images, 1 in use"),
    )
    source = ReportSource(Surface.BENCH, docker_host="unix:///var/run/docker.sock", hostname="build-01")
    return _report(source, results=results)


def _vuln(vid: str, severity: Severity, package: str, version: str, fixed: str | None, path: str, *,
          title: str, aliases: tuple[str, ...] = (), description: str = "",
          references: tuple[str, ...] = ()) -> Finding:
    purl = f"pkg:deb/debian/{package}@{version}?distro=debian-12"
    return Finding(
        id=vid, kind=FindingKind.VULNERABILITY, severity=severity, title=title,
        obj="image:registry.example:5000/team/app:1.0", path=path, description=description, references=references,
        package=PackageRef(name=package, version=version, type="deb", purl=purl, path=path),
        vulnerability=VulnerabilityInfo(state=VulnState.FIXED if fixed else VulnState.AFFECTED, installed=version,
                                        fixed=fixed, aliases=aliases),
        remediation=f"Upgrade {package} to {fixed}" if fixed else "",
    )


def image_scan_report() -> Report:
    """An image scan: OS packages sharing the dpkg database, a Python package with a long advisory,
    an unrated advisory, configuration findings without a path and secrets in ENV."""
    obj = "image:registry.example:5000/team/app:1.0"
    findings = (
        _vuln("CVE-2023-0464", Severity.HIGH, "openssl", "3.0.8-1", "3.0.9-1", "/var/lib/dpkg/status",
              title="excessive resource use verifying X.509 policy constraints"),
        _vuln("CVE-2023-0464", Severity.HIGH, "libssl3", "3.0.8-1", "3.0.9-1", "/var/lib/dpkg/status",
              title="excessive resource use verifying X.509 policy constraints"),
        _vuln("CVE-2023-45803", Severity.MEDIUM, "urllib3", "1.26.5", "1.26.18",
              "/usr/lib/python3/dist-packages/urllib3-1.26.5.dist-info/METADATA",
              title="urllib3's request body not stripped after redirect", description=LONG_DESCRIPTION,
              references=("https://nvd.nist.gov/vuln/detail/CVE-2023-45803",)),
        _vuln("GHSA-g4mx-q9vg-27p4", Severity.MEDIUM, "urllib3", "1.26.5", "1.26.18",
              "/usr/lib/python3/dist-packages/urllib3-1.26.5.dist-info/METADATA", title="urllib3 redirect body",
              aliases=("CVE-2023-45803",)),
        _vuln("CVE-2024-0001", Severity.UNKNOWN, "libfoo", "1.0", None, "/var/lib/dpkg/status",
              title="not yet rated"),
        Finding(id="IMG-ROOT-USER", kind=FindingKind.IMAGE_CONFIG, severity=Severity.MEDIUM,
                title="Image runs as root (no USER)", obj=obj, remediation="Set USER.",
                evidence=evidence(cis="4.1")),
        Finding(id="IMG-SECRET", kind=FindingKind.IMAGE_CONFIG, severity=Severity.HIGH,
                title="AWS secret in env:AWS_SECRET_ACCESS_KEY", obj=obj, remediation="Rotate it.",
                evidence=evidence(cis="4.10", location="env:AWS_SECRET_ACCESS_KEY", redacted="wJal…KEY")),
        Finding(id="IMG-SECRET", kind=FindingKind.IMAGE_CONFIG, severity=Severity.MEDIUM,
                title="password in env:DB_PASSWORD", obj=obj, remediation="Rotate it.",
                evidence=evidence(cis="4.10", location="env:DB_PASSWORD", redacted="hu…er")),
        Finding(id="IMG-SETUID", kind=FindingKind.IMAGE_CONFIG, severity=Severity.LOW,
                title="setuid file /usr/bin/passwd", obj=obj, path="/usr/bin/passwd", remediation="chmod u-s"),
    )
    image = ImageSubject(target="registry.example:5000/team/app:1.0", source_kind="daemon",
                         repo_tags=("registry.example:5000/team/app:1.0",), package_count=120)
    source = ReportSource(Surface.IMAGE_SCAN, target="registry.example:5000/team/app:1.0", images=(image,))
    packages = tuple(f.package for f in findings if f.package)
    return _report(source, findings=findings, packages=packages)


def daemon_probe_report() -> Report:
    """A daemon probe that reached a plain-HTTP endpoint, with one failed and one skipped step."""
    obj = "endpoint:tcp://10.0.0.5:2375"
    findings = (
        Finding(id="endpoint.plain-http", kind=FindingKind.ENDPOINT, severity=Severity.CRITICAL,
                title="The Docker API answers without TLS", obj=obj, remediation="Enable tlsverify.",
                evidence=evidence(api_version="1.41")),
        Finding(id="endpoint.no-auth", kind=FindingKind.ENDPOINT, severity=Severity.CRITICAL,
                title="Anyone can list containers", obj=obj, remediation="Require client certificates."),
    )
    steps = (
        ProbeStep("tcp-connect", StepStatus.COMPLETED),
        ProbeStep("tls-handshake", StepStatus.FAILED, "the server answered in plain HTTP"),
        ProbeStep("client-certificate", StepStatus.SKIPPED, "no TLS"),
        ProbeStep("api-version", StepStatus.COMPLETED),
    )
    return _report(ReportSource(Surface.DAEMON_PROBE, target="tcp://10.0.0.5:2375"), findings=findings, steps=steps)


def unreachable_probe_report() -> Report:
    """A registry probe that reached nothing."""
    steps = (ProbeStep("tcp-connect", StepStatus.FAILED, "connection refused"),
             ProbeStep("tls-handshake", StepStatus.SKIPPED, "not connected"))
    return _report(ReportSource(Surface.REGISTRY_PROBE, target="registry.example:5000"), steps=steps,
                   notes=(ReportNote("registry", NoteStatus.NOT_CHECKED, "connection refused"),))


def registry_probe_report() -> Report:
    """A registry probe with one finding."""
    finding = Finding(id="registry.plain-http", kind=FindingKind.REGISTRY, severity=Severity.HIGH,
                      title="The registry serves plain HTTP", obj="registry:registry.example:5000",
                      remediation="Serve TLS.")
    return _report(ReportSource(Surface.REGISTRY_PROBE, target="registry.example:5000"), findings=(finding,),
                   steps=(ProbeStep("tcp-connect", StepStatus.COMPLETED),))


def seccomp_lint_report(profile: str = "profiles/app.json") -> Report:
    """Findings on lines of a profile file, two on one line, and one on a container's inline profile."""
    obj = f"profile:{profile}"
    findings = (
        Finding(id="seccomp.allows-dangerous", kind=FindingKind.SECCOMP, severity=Severity.HIGH,
                title="allows ptrace", obj=obj, path=profile, line=12, remediation="Remove ptrace."),
        Finding(id="seccomp.allows-dangerous", kind=FindingKind.SECCOMP, severity=Severity.HIGH,
                title="allows keyctl", obj=obj, path=profile, line=40, remediation="Remove keyctl."),
        Finding(id="seccomp.allows-dangerous", kind=FindingKind.SECCOMP, severity=Severity.MEDIUM,
                title="allows add_key", obj=obj, path=profile, line=40, remediation="Remove add_key."),
        Finding(id="seccomp.default-allow", kind=FindingKind.SECCOMP, severity=Severity.CRITICAL,
                title="defaultAction SCMP_ACT_ALLOW", obj="container:legacy", remediation="Deny by default."),
    )
    return _report(ReportSource(Surface.SECCOMP_LINT, target=profile), findings=findings)


def diff_report() -> Report:
    """What `dockguard diff` reports: findings of any kind, old ones suppressed."""
    base = sample_report()
    new = tuple(f for f in base.findings if not f.suppressed)[:3]
    old = tuple(replace(f, suppressed="unchanged since old.json") for f in base.findings[3:5])
    return _report(ReportSource(Surface.DIFF, target="new.json"), findings=new + old)


def registry_scan_report() -> Report:
    """A registry scan: two images' vulnerabilities, one image that failed, the run's figures."""
    base = image_scan_report()
    other = tuple(replace(f, obj="image:registry.example:5000/team/web:2.1") for f in base.findings[:2])
    notes = (ReportNote("image:registry.example:5000/team/broken:1", NoteStatus.ERROR,
                        "blob sha256:0a1b… does not match its digest"),)
    steps = (ProbeStep("registry-scan", StepStatus.COMPLETED, "3 images, 2 stored",
                       evidence(images="3", layers_referenced="9", layers_analysed="4", dedupe_factor="2.25")),)
    return _report(ReportSource(Surface.REGISTRY_SCAN, target="registry.example:5000"),
                   findings=base.findings + other, notes=notes, steps=steps)


def fleet_report() -> Report:
    """A fleet report: two hosts, a CVE running on both, a failing check new since the last run
    and one fixed."""
    hosts = (HostSubject("web-1", "web-1", "4bbd:7a1c", run="r2", taken=T0, previous_run="r1",
                         previous_taken=T0 - 86400),
             HostSubject("web-2", "web-2", "91fe:03d2", run="r3", taken=T0, containers=2, images=1))
    vuln = next(f for f in image_scan_report().findings if f.kind is FindingKind.VULNERABILITY)
    findings = (
        replace(vuln, obj="host:web-1/image:app:1.0", change=Change.NEW,
                evidence=evidence(host="web-1", containers="api, worker", layer="sha256:5f70bf18a086")),
        replace(vuln, obj="host:web-2/image:app:1.0", evidence=evidence(host="web-2", containers="api")),
        Finding(id="5.4", kind=FindingKind.CHECK, severity=Severity.HIGH, title="privileged container",
                obj="host:web-1", evidence=evidence(host="web-1", container="debug"), change=Change.NEW),
        Finding(id="2.7", kind=FindingKind.CHECK, severity=Severity.HIGH, title="TLS authentication",
                obj="host:web-2", change=Change.FIXED, suppressed="fixed since run r1"),
    )
    return _report(ReportSource(Surface.FLEET, target="store.sqlite", hosts=hosts), findings=findings,
                   notes=(ReportNote("host:db-1", NoteStatus.NOT_CHECKED, "recorded by collect only: never audited"),))


SURFACE_REPORTS = {
    "bench": bench_report,
    "audit": sample_report,
    "image-scan": image_scan_report,
    "daemon-probe": daemon_probe_report,
    "registry-probe": registry_probe_report,
    "registry-probe-unreachable": unreachable_probe_report,
    "seccomp-lint": seccomp_lint_report,
    "diff": diff_report,
    "registry-scan": registry_scan_report,
    "fleet": fleet_report,
}
