"""Pure parts of the channel area: references, challenges, platforms, certificates, tls-init,
endpoint parsing and the daemon-side registry checks."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dockguard.channel import daemon_probe, daemon_registry, tlsinit, tlsprobe
from dockguard.channel.daemon_probe import Transport
from dockguard.channel.registry_api import (
    Descriptor,
    Reference,
    credentials_from_config,
    looks_like_reference,
    parse_challenge,
    parse_descriptor,
    parse_reference,
    select_platform,
)
from dockguard.channel.result import (
    StepFacts,
    StepResult,
    StepSequence,
    completed,
    failed,
    skipped,
)
from dockguard.errors import OperationalError, UsageError
from dockguard.exit_policy import decide, parse_fail_on
from dockguard.image.decode import Platform
from dockguard.image.digests import DigestMismatch
from dockguard.inputs import InputError
from dockguard.model import Finding, FindingKind, Report, Severity, StepStatus, Surface
from dockguard.snapshot import (
    ConfigSource,
    ConfigValue,
    DaemonConfig,
    DaemonFacts,
    FileFact,
    FileKind,
    HostFacts,
    IndexConfig,
)

D = "sha256:" + "a" * 64
UNIX, TCP = Transport.UNIX, Transport.TCP


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ubuntu", Reference("docker.io", "library/ubuntu", "latest")),
        ("ubuntu:22.04", Reference("docker.io", "library/ubuntu", "22.04")),
        ("foo/bar", Reference("docker.io", "foo/bar", "latest")),
        ("index.docker.io/foo/bar:1", Reference("docker.io", "foo/bar", "1")),
        ("localhost/foo", Reference("localhost", "foo", "latest")),
        ("localhost:5000/a/b/c:v1", Reference("localhost:5000", "a/b/c", "v1")),
        ("127.0.0.1:5000/app@" + D, Reference("127.0.0.1:5000", "app", None, D)),
        ("reg.example/app:1.0@" + D, Reference("reg.example", "app", "1.0", D)),
        ("Reg/app", Reference("Reg", "app", "latest")),  # upper case: a host, like docker
        ("[::1]:5000/app", Reference("[::1]:5000", "app", "latest")),
    ],
)
def test_parse_reference_like_docker(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "UPPER", "a//b", "app:", "app@sha256:abc", "https://reg/app", "reg:5000/App:1",
     "app:-x", " app", "reg.example/-app"],
)
def test_parse_reference_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_reference(text)


def test_reference_api_host_and_str() -> None:
    ref = parse_reference("alpine:3")
    assert ref.api_host == "registry-1.docker.io"
    assert str(ref) == "docker.io/library/alpine:3"
    assert parse_reference("r.example:5000/x@" + D).reference == D


def test_looks_like_reference(tmp_path: Path) -> None:
    assert looks_like_reference("127.0.0.1:5000/app:1")
    assert looks_like_reference("registry.example/app")
    assert looks_like_reference("docker.io/library/alpine:3")
    assert not looks_like_reference("alpine:3")
    assert not looks_like_reference("foo/bar")
    (tmp_path / "x.y").mkdir()
    (tmp_path / "x.y" / "image.tar").write_bytes(b"")
    assert not looks_like_reference(str(tmp_path / "x.y" / "image.tar"))


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "registry.example",
                      "scope": "repository:a/b:pull,push"}
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def test_select_platform() -> None:
    entries = [
        Descriptor("m", "sha256:" + "1" * 64, 1, Platform("linux", "amd64")),
        Descriptor("m", "sha256:" + "2" * 64, 1, Platform("linux", "arm", "v7")),
        Descriptor("m", "sha256:" + "3" * 64, 1, Platform("linux", "arm64", "v8")),
        Descriptor("m", "sha256:" + "4" * 64, 1),
    ]
    assert select_platform(entries, "linux/amd64") is entries[0]
    assert select_platform(entries, "linux/arm64") is entries[2]
    assert select_platform(entries, "linux/arm/v7") is entries[1]
    assert select_platform(entries, "linux/arm/v6") is None
    assert select_platform(entries, "windows/amd64") is None


def test_check_bytes() -> None:
    import hashlib

    from dockguard.image.digests import check_bytes

    data = b"hello"
    check_bytes(data, "sha256:" + hashlib.sha256(data).hexdigest(), "x")
    with pytest.raises(DigestMismatch):
        check_bytes(b"hellO", "sha256:" + hashlib.sha256(data).hexdigest(), "x")


def test_descriptor_rejects_foreign_layers_and_bad_digests() -> None:
    with pytest.raises(OperationalError, match="foreign"):
        parse_descriptor({"digest": D, "size": 1, "urls": ["http://x"]}, "l")
    with pytest.raises(InputError, match=r"l: \$.digest: not a sha256/sha512 digest"):
        parse_descriptor({"digest": "md5:abc", "size": 1}, "l")
    with pytest.raises(InputError, match=r"l: \$.size: a descriptor needs its size"):
        parse_descriptor({"digest": D}, "l")
    # The registry reads descriptors with the image decoder: one type, one set of rules.
    assert parse_descriptor({"digest": D, "size": 2, "mediaType": "m", "platform": {
        "os": "linux", "architecture": "arm64", "variant": "v8"}}, "l") == Descriptor(
            "m", D, 2, Platform("linux", "arm64", "v8"))


def test_credentials_from_config_auths(tmp_path: Path) -> None:
    import base64

    auth = base64.b64encode(b"bob:pw:with:colons").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {
        "https://reg.example:5000": {"auth": auth},
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:tok").decode()},
    }}))
    env = {"DOCKER_CONFIG": str(tmp_path), "PATH": "/usr/bin"}
    creds = credentials_from_config("reg.example:5000", env)
    assert creds is not None and (creds.username, creds.password) == ("bob", "pw:with:colons")
    hub = credentials_from_config("docker.io", env)
    assert hub is not None and hub.username == "hub"
    assert credentials_from_config("other.example", env) is None
    assert "pw" not in repr(creds)


def _cert(
    *, san: list[x509.GeneralName] | None, key_size: int = 2048, days: int = 100,
    eku: list[x509.ObjectIdentifier] | None = None, algo: hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None = None,
) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "daemon")])
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(1)
         .not_valid_before(now - dt.timedelta(days=1))
         .not_valid_after(now + dt.timedelta(days=days)))
    if san is not None:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return b.sign(key, algo or hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _ids(der: bytes, host: str) -> dict[str, Severity]:
    info = tlsprobe.parse_certificate(der)
    return {f.id: f.severity for f in tlsprobe.certificate_findings(info, host, "o", FindingKind.ENDPOINT)}


def test_certificate_findings() -> None:
    import ipaddress

    good = _cert(san=[x509.DNSName("d.example"), x509.IPAddress(ipaddress.ip_address("10.0.0.1"))],
                 eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    assert _ids(good, "d.example") == {}
    assert _ids(good, "10.0.0.1") == {}
    # An IP needs an IP SAN; the CN does not count (Go clients ignore it).
    assert _ids(good, "10.0.0.2") == {"endpoint.cert-san-mismatch": Severity.MEDIUM}
    assert _ids(_cert(san=None), "daemon") == {"endpoint.cert-san-mismatch": Severity.MEDIUM}
    wildcard = _cert(san=[x509.DNSName("*.example")])
    assert _ids(wildcard, "a.example") == {}
    assert "endpoint.cert-san-mismatch" in _ids(wildcard, "a.b.example")
    weak = _cert(san=[x509.DNSName("h")], key_size=1024)
    assert _ids(weak, "h") == {"endpoint.cert-weak-key": Severity.HIGH}
    client_only = _cert(san=[x509.DNSName("h")], eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    assert _ids(client_only, "h") == {"endpoint.cert-eku": Severity.MEDIUM}
    soon = _cert(san=[x509.DNSName("h")], days=5)
    assert _ids(soon, "h") == {"endpoint.cert-expiring": Severity.MEDIUM}


def test_certificate_sha1_signature() -> None:
    import dataclasses

    ca = trustme.CA()
    der = x509.load_pem_x509_certificate(ca.cert_pem.bytes()).public_bytes(
        serialization.Encoding.DER)
    info = tlsprobe.parse_certificate(der)
    assert "sha256" in info.signature_algorithm.lower()
    # This cryptography build refuses to sign with SHA-1, so judge a parsed name instead.
    sha1 = dataclasses.replace(info, signature_algorithm="sha1WithRSAEncryption",
                               dns_names=("h",), ext_key_usage=None)
    found = tlsprobe.certificate_findings(sha1, "h", "o", FindingKind.ENDPOINT)
    assert [f.id for f in found] == ["endpoint.cert-weak-signature"]


def test_version_findings() -> None:
    A, R = tlsprobe.VersionSupport.ACCEPTED, tlsprobe.VersionSupport.REFUSED
    ok = (tlsprobe.VersionProbe("TLSv1.0", R), tlsprobe.VersionProbe("TLSv1.1", R),
          tlsprobe.VersionProbe("TLSv1.2", A))
    assert tlsprobe.version_findings(ok, "o", FindingKind.REGISTRY) == []
    old = tlsprobe.version_findings((*ok[:1], tlsprobe.VersionProbe("TLSv1.1", A), ok[2]), "o",
                                    FindingKind.REGISTRY)
    assert [(f.id, f.severity) for f in old] == [("registry.tls-old-version", Severity.HIGH)]
    assert "TLSv1.1" in old[0].title
    assert old[0].fact("versions") == "TLSv1.0=refused, TLSv1.1=accepted, TLSv1.2=accepted"
    # An attempt that ended otherwise says nothing about the version, and says why.
    unknown = tlsprobe.VersionProbe("TLSv1.0", tlsprobe.VersionSupport.UNKNOWN, "timed out")
    assert unknown.label == "unknown: timed out"
    assert tlsprobe.version_findings((unknown,), "o", FindingKind.REGISTRY) == []


def test_tls_init_certificates(tmp_path: Path) -> None:
    files = tlsinit.generate(tmp_path / "out", "daemon.example", ("192.0.2.7",), days=30)
    server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    client = x509.load_pem_x509_certificate(files.client_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["daemon.example"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.7"]
    assert list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH]
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server.verify_directly_issued_by(ca)
    client.verify_directly_issued_by(ca)
    assert 29 <= (server.not_valid_after_utc - dt.datetime.now(dt.UTC)).days <= 30
    snippet = files.daemon_json(2376)
    hosts = snippet["hosts"]
    assert snippet["tlsverify"] is True and isinstance(hosts, list) and hosts[-1] == "tcp://0.0.0.0:2376"
    assert files.client_env()["DOCKER_TLS_VERIFY"] == "1"
    text = tlsinit.instructions(files)
    assert json.dumps(snippet, indent=2) in text


@pytest.mark.parametrize(("host", "ips", "days"), [
    ("", (), 10), ("a b", (), 10), ("h", ("not-an-ip",), 10), ("h", (), 0), ("h", (), 5000),
    ("a:b", (), 10),
])
def test_tls_init_rejects_bad_input(tmp_path: Path, host: str, ips: tuple[str, ...],
                                    days: int) -> None:
    with pytest.raises(UsageError):
        tlsinit.generate(tmp_path / "o", host, ips, days)
    assert not (tmp_path / "o").exists()


def test_tls_init_force_overwrites(tmp_path: Path) -> None:
    first = tlsinit.generate(tmp_path / "o", "h")
    before = first.ca_key.read_bytes()
    with pytest.raises(UsageError, match="--force"):
        tlsinit.generate(tmp_path / "o", "h")
    tlsinit.generate(tmp_path / "o", "h", force=True)
    assert first.ca_key.read_bytes() != before
    assert first.ca_key.stat().st_mode & 0o777 == 0o400


@pytest.mark.parametrize(("text", "expected"), [
    ("unix:///var/run/docker.sock", daemon_probe.DaemonEndpoint(UNIX, path="/var/run/docker.sock")),
    ("/run/d.sock", daemon_probe.DaemonEndpoint(UNIX, path="/run/d.sock")),
    ("tcp://10.0.0.1:2376", daemon_probe.DaemonEndpoint(TCP, host="10.0.0.1", port=2376)),
    ("tcp://[::1]:2375", daemon_probe.DaemonEndpoint(TCP, host="::1", port=2375)),
    ("tcp://h", daemon_probe.DaemonEndpoint(TCP, host="h", port=2375)),
])
def test_parse_endpoint(text: str, expected: daemon_probe.DaemonEndpoint) -> None:
    assert daemon_probe.parse_endpoint(text) == expected


@pytest.mark.parametrize("text", ["ssh://h", "npipe:////./pipe/docker", "tcp://", "tcp://h:x"])
def test_parse_endpoint_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        daemon_probe.parse_endpoint(text)


def _run(*steps: StepResult[StepFacts], names: tuple[str, ...] = daemon_probe.TCP_STEPS
         ) -> tuple[Report, StepSequence]:
    seq = StepSequence(names)
    for step in steps:
        seq.add(step)
    return seq.report(Surface.DAEMON_PROBE, "tcp://h:1"), seq


def test_probe_reports_go_through_the_one_exit_policy() -> None:
    high = Finding("x", FindingKind.ENDPOINT, Severity.HIGH, "t", "o")
    report, _ = _run(completed("plain-http", "refused", findings=(high,)))
    assert decide(report, None).code == 0
    assert decide(report, parse_fail_on("high")).code == 1
    assert decide(report, parse_fail_on("critical")).code == 0
    assert decide(replace(report, findings=(replace(high, suppressed="ok"),)), parse_fail_on("low")).code == 0
    unreachable, _ = _run(failed("plain-http", "refused", halt="target unreachable"))
    assert decide(unreachable, None).code == 2
    assert decide(unreachable, parse_fail_on("low")).code == 2


def test_a_halting_step_skips_the_rest_with_its_reason() -> None:
    report, seq = _run(failed("plain-http", "cannot connect", halt="target unreachable"))
    assert [(s.name, s.status) for s in report.steps] == [
        ("plain-http", StepStatus.FAILED),
        *((name, StepStatus.SKIPPED) for name in daemon_probe.TCP_STEPS[1:])]
    assert {s.reason for s in report.steps[1:]} == {"target unreachable"}
    assert not report.reachable
    assert seq.failed_steps() == ("plain-http",)
    with pytest.raises(ValueError, match="unknown probe step"):
        seq.add(skipped("no-such-step", "x"))


def test_step_facts_become_the_report_evidence() -> None:
    facts = daemon_probe.PlainHttpFacts(True, "1.41")
    report, seq = _run(completed("plain-http", "HTTP 200", facts, halt="plain"))
    assert report.steps[0].evidence == (("plain_http", "True"), ("api_version", "1.41"))
    assert report.steps[0].fact("api_version") == "1.41"
    assert seq.facts("plain-http", daemon_probe.PlainHttpFacts) is facts
    assert seq.facts("plain-http", daemon_probe.PingFacts) is None  # typed lookup
    assert report.surface is Surface.DAEMON_PROBE and report.source.target == "tcp://h:1"


@pytest.mark.parametrize(("anon", "foreign", "plain", "verdict"), [
    (True, False, False, True),
    (False, None, False, False),  # answered a client without a certificate
    (True, True, False, False),   # accepted a foreign CA
    (None, None, True, False),    # plain HTTP
    (True, None, False, None),    # the foreign-certificate step failed: cannot tell
    (None, None, None, None),     # nothing reached
])
def test_tls_authentication_is_never_a_pass_without_evidence(
    anon: bool | None, foreign: bool | None, plain: bool | None, verdict: bool | None
) -> None:
    facts = daemon_probe.DaemonEndpointFacts(
        "tcp://h:1", daemon_probe.Transport.TCP, reachable=plain is not None, plain_http=plain,
        client_verification=anon, foreign_client_cert_accepted=foreign)
    assert facts.tls_authentication is verdict


def _daemon(**kw: object) -> DaemonFacts:
    return DaemonFacts(**kw)  # type: ignore[arg-type]


def test_insecure_registries() -> None:
    d = _daemon(
        insecure_registry_cidrs=("127.0.0.0/8", "::1/128", "10.0.0.0/8", "192.168.1.0/24"),
        index_configs=(IndexConfig("docker.io", True, True), IndexConfig("reg.lan:5000", False),
                       IndexConfig("127.0.0.1:5000", False)),
        config=DaemonConfig({"insecure-registries": ConfigValue(("reg.lan:5000",), ConfigSource.FILE)}),
    )
    found = {f.obj: f.severity for f in daemon_registry.insecure_registry_findings(d)}
    assert found == {
        "daemon:insecure-registries:10.0.0.0/8": Severity.CRITICAL,
        "daemon:insecure-registries:192.168.1.0/24": Severity.HIGH,
        "daemon:insecure-registries:reg.lan:5000": Severity.HIGH,
        "daemon:insecure-registries:127.0.0.1:5000": Severity.HIGH,
    }
    assert daemon_registry.insecure_registry_findings(
        _daemon(insecure_registry_cidrs=("127.0.0.0/8", "::1/128"))) == []


def test_http_mirrors() -> None:
    d = _daemon(registry_mirrors=("https://m.example", "http://plain.example"),
                index_configs=(IndexConfig("docker.io", True, True, ("http://plain.example",)),))
    found = daemon_registry.mirror_findings(d)
    assert [(f.id, f.obj) for f in found] == [
        ("registry.daemon-http-mirror", "daemon:registry-mirrors:http://plain.example")]


def test_certs_d_layout_and_permissions() -> None:
    base = "/etc/docker/certs.d"

    def f(path: str, mode: int, kind: FileKind = FileKind.FILE, uid: int = 0) -> tuple[str, FileFact]:
        return path, FileFact(path, True, kind, mode, uid, 0)

    host = HostFacts(files=dict([
        f(base, 0o755, FileKind.DIR),
        f(f"{base}/good:5000", 0o755, FileKind.DIR),
        f(f"{base}/good:5000/ca.crt", 0o444),
        f(f"{base}/good:5000/client.cert", 0o444),
        f(f"{base}/good:5000/client.key", 0o400),
        f(f"{base}/bad:5000", 0o777, FileKind.DIR),
        f(f"{base}/bad:5000/ca.cert", 0o644),
        f(f"{base}/bad:5000/client.key", 0o644, uid=1000),
        f(f"{base}/bad:5000/other.crt", 0o666),
    ]))
    found = sorted((x.id, x.obj) for x in daemon_registry.certs_d_findings(host))
    assert found == sorted([
        ("registry.certs-d-writable", f"file:{base}/bad:5000"),
        ("registry.certs-d-cert-without-key", f"file:{base}/bad:5000/ca.cert"),
        ("registry.certs-d-key-readable", f"file:{base}/bad:5000/client.key"),
        ("registry.certs-d-key-owner", f"file:{base}/bad:5000/client.key"),
        ("registry.certs-d-orphan-key", f"file:{base}/bad:5000/client.key"),
        ("registry.certs-d-writable", f"file:{base}/bad:5000/other.crt"),
    ])
    both = daemon_registry.daemon_registry_findings(None, host)
    assert len(both) == len(found)
