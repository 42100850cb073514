"""The decision: an AuthZ request in, allow or refuse (with every reason) out.

The request is routed (`routes`), its body read into `Subject`s (`translate`), names it refers
to are looked up (`lookup`), and then the CIS section-5 checks of the catalogue — the very
functions ``dockguard bench`` runs — are evaluated through the engine over a one-container
snapshot per subject.  Every WARN detail of a check whose rule is on becomes a refusal unless a
policy exception waives it.  A body that cannot be read, an internal error, or a look-up that
fails where it matters refuses (fail-safe); the server turns that into an allow in audit mode.
"""

from __future__ import annotations

import base64
import binascii
import os
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from dockguard.authz.gojson import Reader, parse_body
from dockguard.authz.lookup import ContainerInfo, Lookup, LookupFailed
from dockguard.authz.policy import Policy, PolicyRule
from dockguard.authz.routes import BODY_DECIDES, QUERY_DECIDES, Kind, Route, normalise
from dockguard.authz.translate import (
    Facet,
    Subject,
    Violation,
    VolumeRef,
    build_options,
    container_create,
    container_start_legacy,
    container_update,
    exec_create,
    mode,
    plugin_privileges,
    service_spec,
    volume_binds,
    volume_create,
)
from dockguard.checks.catalogue import Check, catalogue
from dockguard.engine import Context, FactsMissing, Options, run_check
from dockguard.inputs import MAX_DEPTH, InputError, parse_json, read_bytes
from dockguard.jsontypes import Json
from dockguard.model import Detail, Evaluation, Outcome
from dockguard.snapshot import (
    ContainerFacts,
    DaemonFacts,
    HostFacts,
    Snapshot,
)

MAX_FORWARDED_BODY = 1024 * 1024
"""dockerd forwards a request body to authorization plugins only below this size."""

MAX_SHARED_DEPTH = 4
"""``container:<id>`` chains followed when resolving a shared namespace."""

DEFAULT_DOCKER_SOCKETS = ("/var/run/docker.sock",)

#: The daemon's and the plugin's own state: a container given any of these (or a directory
#: holding one) can replace the plugin, its socket or the daemon's configuration.
PROTECTED_PATHS = (
    "/run/docker/plugins",
    "/etc/docker",
    "/usr/lib/docker/plugins",
    "/var/lib/docker",
    "/run/containerd",
    "/run/docker",
)


@dataclass(frozen=True)
class AuthzRequest:
    """What dockerd sends in ``/AuthZPlugin.AuthZReq``."""

    method: str
    uri: str
    user: str = ""
    auth_method: str = ""
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        low = name.lower()
        for k, v in self.headers.items():
            if k.lower() == low:
                return v
        return None

    @classmethod
    def from_json(cls, data: bytes, origin: str = "AuthZReq") -> AuthzRequest:
        """Parse the plugin-protocol JSON; an `InputError` when it is not what dockerd sends."""
        doc = parse_json(data, origin, max_depth=MAX_DEPTH)
        if not isinstance(doc, dict):
            raise InputError(origin, "expected an object")

        def text(key: str, *alts: str) -> str:
            for k in (key, *alts):
                v = doc.get(k)
                if v is not None:
                    if not isinstance(v, str):
                        raise InputError.at(origin, [k], "expected a string")
                    return v
            return ""

        body: bytes | None = None
        raw = doc.get("RequestBody")
        if raw is not None:
            if not isinstance(raw, str):
                raise InputError.at(origin, ["RequestBody"], "expected base64 text")
            try:
                body = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise InputError.at(origin, ["RequestBody"], "not valid base64") from None
        headers = doc.get("RequestHeaders") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise InputError.at(origin, ["RequestHeaders"], "expected an object of strings")
        method = text("RequestMethod")
        if not method:
            raise InputError.at(origin, ["RequestMethod"], "missing")
        return cls(
            method=method,
            uri=text("RequestUri", "RequestURI"),
            user=text("User"),
            auth_method=text("UserAuthNMethod"),
            body=body or None,
            headers={str(k): v for k, v in headers.items() if isinstance(v, str)},  # all are (checked above)
        )


@dataclass(frozen=True)
class Refusal:
    """One reason to refuse: its rule, the CIS id it comes from and the text shown."""

    rule: str
    text: str
    cis: str = ""
    subject: str = ""
    why: str = ""

    def render(self) -> str:
        """``5.5 privileged container (policy rule privileged)``."""
        return f"{self.text} ({self.why or f'policy rule {self.rule}'})"


@dataclass(frozen=True)
class Decision:
    """The verdict on one request."""

    allow: bool
    refusals: tuple[Refusal, ...] = ()
    waived: tuple[Refusal, ...] = ()
    endpoint: str = ""

    @property
    def message(self) -> str:
        """What dockerd shows the user ('' when allowed)."""
        if self.allow:
            return ""
        return "dockguard: refused: " + "; ".join(r.render() for r in self.refusals)


def fail_safe(problem: str, endpoint: str = "") -> Decision:
    """A refusal because the request could not be judged."""
    return Decision(False, (Refusal("fail-safe", problem, why="fail-safe"),), endpoint=endpoint)


# --------------------------------------------------------------------------- check bindings


def _unprivileged(c: ContainerFacts) -> ContainerFacts:
    """Privileged is judged by rule `privileged` alone, not again as "all capabilities"."""
    return replace(c, privileged=False) if c.privileged else c


@dataclass(frozen=True)
class Binding:
    """A CIS check run for a policy rule over the facets it reads."""

    rule: PolicyRule
    check_id: str
    facets: frozenset[Facet]
    shown_id: str = ""
    text: str = ""
    """Replaces the check's own detail text (``privileged`` → ``privileged container``)."""
    view: Callable[[ContainerFacts], ContainerFacts] | None = None

    def render(self, d: Detail) -> str:
        """The refusal text for one WARN detail."""
        return f"{self.shown_id or self.check_id} {self.text or d.message}"


def _b(
    rule: PolicyRule,
    check_id: str,
    *facets: Facet,
    shown: str = "",
    text: str = "",
    view: Callable[[ContainerFacts], ContainerFacts] | None = None,
) -> Binding:
    return Binding(rule, check_id, frozenset(facets), shown, text, view)


BINDINGS: tuple[Binding, ...] = (
    _b(PolicyRule.PRIVILEGED, "5.5", Facet.PRIVILEGED, text="privileged container"),
    _b(PolicyRule.CAPABILITIES, "5.4", Facet.CAPS, view=_unprivileged),
    _b(PolicyRule.SENSITIVE_MOUNTS, "5.6", Facet.MOUNTS),
    _b(PolicyRule.DOCKER_SOCKET, "5.32", Facet.MOUNTS),
    _b(PolicyRule.HOST_PID, "5.16", Facet.PID, text="host PID namespace"),
    _b(PolicyRule.HOST_IPC, "5.17", Facet.IPC, text="host IPC namespace"),
    _b(PolicyRule.HOST_UTS, "5.21", Facet.UTS, text="host UTS namespace"),
    _b(PolicyRule.HOST_USERNS, "5.31", Facet.USERNS, text="host user namespace"),
    _b(PolicyRule.SECCOMP, "5.22", Facet.SECOPT, view=_unprivileged),
    _b(PolicyRule.APPARMOR, "5.2", Facet.SECOPT),
    _b(PolicyRule.HOST_DEVICES, "5.18", Facet.DEVICES),
    _b(PolicyRule.EXEC_PRIVILEGED, "5.5", Facet.EXEC_PRIV, shown="5.23", text="docker exec --privileged"),
    _b(PolicyRule.BUILD, "5.10", Facet.BUILD_NET, text="build on the host network"),
    _b(PolicyRule.BUILD, "5.25", Facet.BUILD_CGROUP),
    _b(PolicyRule.HOST_NETWORK, "5.10", Facet.NETWORK, text="host network namespace"),
    _b(PolicyRule.MOUNT_PROPAGATION, "5.20", Facet.MOUNTS),
    _b(PolicyRule.CGROUP_PARENT, "5.25", Facet.CGROUP),
    _b(PolicyRule.NO_NEW_PRIVILEGES, "5.26", Facet.SECOPT),
    _b(PolicyRule.MEMORY_LIMIT, "5.11", Facet.MEMORY),
    _b(PolicyRule.CPU_LIMIT, "5.12", Facet.CPU),
    _b(PolicyRule.PIDS_LIMIT, "5.29", Facet.PIDS),
    _b(PolicyRule.READ_ONLY_ROOTFS, "5.13", Facet.ROOTFS),
    _b(PolicyRule.PRIVILEGED_PORTS, "5.8", Facet.PORTS),
    _b(PolicyRule.PORT_INTERFACES, "5.14", Facet.PORTS),
    _b(PolicyRule.RESTART_POLICY, "5.15", Facet.RESTART),
)


def _checks() -> dict[str, Check]:
    return {c.meta.id: c for c in catalogue() if c.meta.section == "5" and c.fn is not None}


@dataclass(frozen=True)
class _OneContainer(Context):
    """A context over a one-container snapshot with the default options (no name or label filters).

    The engine's accessors filter and copy the container list on every access; with no filters
    that is the snapshot's own tuple, computed once here.
    """

    facts: ContainerFacts | None = None

    @property
    def containers(self) -> tuple[ContainerFacts, ...]:
        """The one container."""
        return (self.facts,) if self.facts is not None else ()

    @property
    def running(self) -> tuple[ContainerFacts, ...]:
        """The one container when it runs (a container being created or changed is judged as running)."""
        return (self.facts,) if self.facts is not None and self.facts.running else ()


def _run(check: Check, ctx: Context) -> Evaluation:
    """`engine.run_check` without its timing and result record: the same outcome and details."""
    if check.fn is None or check.meta.manual:
        r = run_check(check, ctx)
        return Evaluation(r.outcome, r.details, r.reason)
    try:
        ev: object = check.fn(ctx)
    except FactsMissing as exc:
        return Evaluation(Outcome.NA, reason=str(exc))
    except Exception as exc:
        return Evaluation(Outcome.ERROR, reason=f"{type(exc).__name__}: {exc}")
    if not isinstance(ev, Evaluation):
        return Evaluation(Outcome.ERROR, reason=f"TypeError: check returned {type(ev).__name__}, not Evaluation")
    return ev


# --------------------------------------------------------------------------- the decider


@dataclass(frozen=True)
class _Candidate:
    rule: PolicyRule
    refusal: Refusal
    subject: Subject | None


class Decider:
    """Decides AuthZ requests under one policy; thread-safe (no mutable state)."""

    def __init__(
        self,
        policy: Policy,
        lookup: Lookup | None = None,
        *,
        docker_sockets: tuple[str, ...] = (),
        protected: tuple[str, ...] = (),
        guarded_dirs: tuple[str, ...] = (),
        own_socket: str = "",
        resolve_symlinks: bool = True,
    ) -> None:
        self.policy = policy
        self.lookup = lookup
        self.resolve_symlinks = resolve_symlinks
        self._checks = _checks()
        missing = {b.check_id for b in BINDINGS} - set(self._checks)
        if missing:
            raise RuntimeError(f"checks missing from the catalogue: {sorted(missing)}")
        sockets = tuple(dict.fromkeys((*DEFAULT_DOCKER_SOCKETS, *policy.docker_sockets, *docker_sockets)))
        self.sockets = sockets
        self.protected = tuple(dict.fromkeys((*PROTECTED_PATHS, *policy.protected_paths, *protected)))
        self.guarded_dirs = tuple(dict.fromkeys(guarded_dirs))
        self.own_socket = own_socket
        # What the checks need besides the container: the daemon's sockets (5.32), a seccomp
        # default in force (5.22 then judges only the container's own options) and AppArmor
        # (5.2 then judges the requested profile).
        self._daemon = DaemonFacts(security_options=("name=seccomp,profile=builtin",))
        self._host = HostFacts(apparmor_enabled=True, docker_sockets=sockets)
        self._options = Options()
        # the bindings whose rule is on, with their checks, for subjects judged under their own rules
        self._active = tuple((b, self._checks[b.check_id]) for b in BINDINGS if policy.on(b.rule))

    # ------------------------------------------------------------------ entry points

    def decide(self, req: AuthzRequest) -> Decision:
        """The decision on `req`; never raises (fail-safe refusal instead)."""
        try:
            return self._decide(req)
        except InputError as exc:
            return fail_safe(f"malformed request: {exc}", _endpoint(req))
        except Exception as exc:
            return fail_safe(f"internal error: {type(exc).__name__}: {exc}", _endpoint(req))

    def judge(self, subjects: list[Subject], user: str = "", findings: tuple[Violation, ...] = ()) -> Decision:
        """Judge subjects built elsewhere (``authz check``: existing containers, compose)."""
        cands = [_Candidate(f.rule, self._finding_refusal(f, None), None) for f in findings]
        for s in subjects:
            cands.extend(self._evaluate(s))
        return self._apply_policy(cands, user, "")

    # ------------------------------------------------------------------ routing

    def _decide(self, req: AuthzRequest) -> Decision:
        route = normalise(req.method, req.uri)
        endpoint = f"{route.method} {route.path}"
        if not route.matches:
            if self.policy.default_allow:
                return Decision(True, endpoint=endpoint)
            return Decision(
                False,
                (
                    Refusal(
                        "default",
                        f"{endpoint} is not an Engine API endpoint dockguard knows",
                        why="policy default: deny",
                    ),
                ),
                endpoint=endpoint,
            )
        kinds = route.kinds
        if kinds == {Kind.ALLOW}:
            return Decision(True, endpoint=endpoint)
        findings: list[Violation] = []
        subjects: list[Subject] = []
        ctype = (req.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if kinds & QUERY_DECIDES and ctype == "application/x-www-form-urlencoded":
            findings.append(
                Violation(
                    PolicyRule.HIDDEN_BODY,
                    "form-encoded body: dockerd reads its parameters like the query, but the plugin never sees them",
                )
            )
        legacy_start = Kind.CONTAINER_START in kinds and route.older_than("1.24")
        needs_body = bool(kinds & BODY_DECIDES)
        if legacy_start and req.body is None:
            length = (req.header("Content-Length") or "").strip()
            # dockerd ignores a start body of 7 bytes or less; anything else it would apply
            if not (length.isdigit() and int(length) <= 7):
                findings.append(
                    Violation(
                        PolicyRule.HIDDEN_BODY,
                        f"start with API {route.version} may carry a HostConfig "
                        f"the plugin cannot see ({self._hidden_reason(req, ctype)})",
                    )
                )
        body: Json = None
        if needs_body or (legacy_start and req.body is not None):
            if req.body is None:
                findings.append(
                    Violation(
                        PolicyRule.HIDDEN_BODY,
                        "the request body is not visible to the authorization "
                        f"plugin ({self._hidden_reason(req, ctype)})",
                    )
                )
            else:
                body = parse_body(req.body)
        have = body is not None
        r = Reader()
        for kind in sorted(kinds):
            self._route(kind, route, req, body if have else None, have, r, subjects, findings)
        cands = [_Candidate(f.rule, self._finding_refusal(f, None), None) for f in findings]
        for s in subjects:
            cands.extend(self._evaluate(s))
        return self._apply_policy(cands, req.user, endpoint)

    @staticmethod
    def _hidden_reason(req: AuthzRequest, ctype: str) -> str:
        length = (req.header("Content-Length") or "").strip()
        if length.isdigit() and int(length) >= MAX_FORWARDED_BODY:
            return f"{length} bytes: over dockerd's 1 MiB forwarding limit"
        if ctype and ctype != "application/json":
            return f"Content-Type {ctype} is not application/json"
        if not length:
            return "no Content-Length: chunked, or over the forwarding limit"
        return "not forwarded by dockerd"

    def _route(
        self,
        kind: Kind,
        route: Route,
        req: AuthzRequest,
        body: Json,
        have: bool,
        r: Reader,
        subjects: list[Subject],
        findings: list[Violation],
    ) -> None:
        if kind is Kind.CONTAINER_CREATE and have:
            names = route.params("name")
            subjects.append(container_create(body, names[0] if names else "", r))
        elif kind is Kind.CONTAINER_START:
            if any(v for v in route.params("checkpoint-dir")):
                findings.append(Violation(PolicyRule.CHECKPOINT_DIR, "restore from a checkpoint directory on the host"))
            if have and route.older_than("1.24"):
                subjects.append(container_start_legacy(body, route.var(kind, "id"), r))
        elif kind is Kind.CONTAINER_UPDATE and have:
            subjects.append(container_update(body, route.var(kind, "id"), r))
        elif kind is Kind.EXEC_CREATE and have:
            subjects.append(exec_create(body, route.var(kind, "id"), r))
        elif kind is Kind.VOLUME_CREATE and have:
            subjects.append(volume_create(body, r))
        elif kind in (Kind.SERVICE_CREATE, Kind.SERVICE_UPDATE) and have:
            subjects.extend(service_spec(body, r))
        elif kind is Kind.BUILD:
            subjects.append(build_options(route.params("networkmode"), route.params("cgroupparent")))
        elif kind is Kind.GRPC:
            findings.append(
                Violation(
                    PolicyRule.BUILDKIT_GRPC,
                    "BuildKit gRPC session: its build options never reach the authorization plugin",
                )
            )
        elif kind is Kind.PLUGIN_PULL:
            local = (route.params("name") or route.params("remote") or [""])[0]
            self._self_plugin(local, "install a plugin under the name of", findings)
            if have:
                subjects.append(plugin_privileges(body, f"plugin {local}", r))
        elif kind is Kind.PLUGIN_UPGRADE:
            self._self_plugin(route.var(kind, "name"), "upgrade", findings)
            if have:
                subjects.append(plugin_privileges(body, f"plugin {route.var(kind, 'name')}", r))
        elif kind is Kind.PLUGIN_CREATE:
            self._self_plugin((route.params("name") or [""])[0], "create a plugin under the name of", findings)
            findings.append(
                Violation(
                    PolicyRule.PLUGINS, "/plugins/create installs a plugin whose privileges the request does not show"
                )
            )
        elif kind is Kind.PLUGIN_MANAGE:
            verb = route.path.rsplit("/", 1)[-1] if route.method == "POST" else "remove"
            self._self_plugin(route.var(kind, "name"), verb, findings)
        elif kind is Kind.SWARM_JOIN:
            findings.append(
                Violation(
                    PolicyRule.SWARM_JOIN,
                    "joining a swarm: its managers start tasks on this node without passing the authorization plugin",
                )
            )
        elif kind is Kind.CHECKPOINT_CREATE and have:
            obj = r.obj(body, ())
            if r.text(obj, "CheckpointDir", ()):
                findings.append(Violation(PolicyRule.CHECKPOINT_DIR, "checkpoint written to a directory on the host"))
        elif kind is Kind.CHECKPOINT_DELETE and any(v for v in route.params("dir")):
            findings.append(Violation(PolicyRule.CHECKPOINT_DIR, "checkpoint removed from a directory on the host"))

    def _self_plugin(self, name: str, verb: str, findings: list[Violation]) -> None:
        ref = plugin_ref(name)
        if ref and ref in {plugin_ref(n) for n in own_plugin_names(self.policy.plugin_name, self.own_socket)}:
            findings.append(Violation(PolicyRule.SELF, f"would {verb} the authorization plugin {name}"))

    # ------------------------------------------------------------------ evaluation

    def _finding_refusal(self, f: Violation, s: Subject | None, rule: PolicyRule | None = None) -> Refusal:
        text = f"{f.cis} {f.text}" if f.cis else f.text
        return Refusal((rule or f.rule).value, text, f.cis, s.what if s else "")

    def _evaluate(self, s: Subject) -> list[_Candidate]:
        extra: list[Violation] = list(s.findings)
        s = self._resolve(s, extra)
        if Facet.MOUNTS in s.facets:
            extra.extend(self._protected_mounts(s.facts))
        out: list[_Candidate] = []
        ctxs: dict[int, Context] = {}
        if s.rule_override is None:
            active = self._active
        else:
            active = tuple((b, self._checks[b.check_id]) for b in BINDINGS) if self.policy.on(s.rule_override) else ()
        for b, check in active:
            rule = s.rule_override or b.rule
            if not b.facets <= s.facets:
                continue
            key = id(b.view)
            ctx = ctxs.get(key)
            if ctx is None:
                facts = b.view(s.facts) if b.view else s.facts
                snap = Snapshot(containers=(facts,), daemon=self._daemon, host=self._host)
                ctx = _OneContainer(snap, self._options, facts)
                ctxs[key] = ctx
            result = _run(check, ctx)
            if result.outcome in (Outcome.ERROR, Outcome.NA):
                out.append(
                    _Candidate(
                        rule,
                        Refusal(
                            rule.value,
                            f"{b.check_id} could not be evaluated: {result.reason}",
                            b.check_id,
                            s.what,
                            "fail-safe",
                        ),
                        s,
                    )
                )
                continue
            for d in result.details:
                if d.outcome is Outcome.WARN:
                    out.append(_Candidate(rule, Refusal(rule.value, b.render(d), b.shown_id or b.check_id, s.what), s))
        for f in extra:
            rule = s.rule_override or f.rule
            out.append(_Candidate(rule, self._finding_refusal(f, s, rule), s))
        return out

    def _protected_mounts(self, c: ContainerFacts) -> list[Violation]:
        out = []
        for m in c.mounts:
            if m.type != "bind" or not m.source:
                continue
            srcs = _run_alias(posixpath.normpath("/" + m.source.lstrip("/")))
            for p, inside in [(p, True) for p in self.protected] + [(d, False) for d in self.guarded_dirs]:
                if any(_under(q, src) or (inside and _under(src, q)) for q in _run_alias(p) for src in srcs):
                    out.append(Violation(PolicyRule.SELF, f"host {m.source} mounted at {m.destination} exposes {p}"))
                    break
        return out

    def _resolve(self, s: Subject, extra: list[Violation]) -> Subject:
        """Fill in what the request only names: volumes, volumes-from, shared namespaces, symlinks."""
        facts = s.facts
        mounts = list(facts.mounts)
        vol_refs = list(s.volumes)
        for ref in s.volumes_from:
            info = self._container(
                ref, extra, PolicyRule.SENSITIVE_MOUNTS, "5.6", f"the mounts of --volumes-from {ref}"
            )
            if info is not None:
                mounts.extend(info.mounts)
                vol_refs.extend(VolumeRef(n, d, rw) for n, d, rw in info.volume_names)
        for v in vol_refs:
            if self.lookup is None:
                extra.append(
                    Violation(
                        PolicyRule.SENSITIVE_MOUNTS,
                        f"named volume {v.name} cannot be verified (no daemon to look it up)",
                        "5.6",
                    )
                )
                continue
            try:
                vi = self.lookup.volume(v.name)
            except LookupFailed as exc:
                extra.append(
                    Violation(PolicyRule.SENSITIVE_MOUNTS, f"named volume {v.name} cannot be verified: {exc}", "5.6")
                )
                continue
            if vi is not None:
                mounts.extend(volume_binds(vi.driver, vi.options, v.destination, v.rw))
        if self.resolve_symlinks:
            for m in list(mounts):
                if m.type == "bind" and m.source.startswith("/"):
                    real = os.path.realpath(m.source)
                    if real not in _run_alias(posixpath.normpath(m.source)):
                        mounts.append(replace(m, source=real))
        modes: dict[str, str] = {}  # pid_mode/ipc_mode/network_mode followed to what they share
        for attr, rule, cis, what in (
            ("pid_mode", PolicyRule.HOST_PID, "5.16", "PID"),
            ("ipc_mode", PolicyRule.HOST_IPC, "5.17", "IPC"),
            (
                "network_mode",
                PolicyRule.BUILD if Facet.BUILD_NET in s.facets else PolicyRule.HOST_NETWORK,
                "5.10",
                "network",
            ),
        ):
            value = getattr(facts, attr)
            if value.lower().startswith("container:") and self.policy.on(s.rule_override or rule):
                modes[attr] = self._shared_mode(value, attr, extra, rule, cis, what)
        if not modes and len(mounts) == len(facts.mounts):
            return s
        return replace(s, facts=replace(
            facts,
            mounts=tuple(mounts),
            pid_mode=modes.get("pid_mode", facts.pid_mode),
            ipc_mode=modes.get("ipc_mode", facts.ipc_mode),
            network_mode=modes.get("network_mode", facts.network_mode),
        ))

    def _shared_mode(self, value: str, attr: str, extra: list[Violation], rule: PolicyRule, cis: str, what: str) -> str:
        """Follow ``container:<id>`` to the namespace it really is (host or not)."""
        for _ in range(MAX_SHARED_DEPTH):
            ref = value.split(":", 1)[1]
            info = self._container(ref, extra, rule, cis, f"the {what} namespace of container {ref}")
            if info is None:
                return value
            nxt = mode(getattr(info, attr))
            if nxt == "host":
                return "host"
            if not nxt.lower().startswith("container:"):
                return value
            value = nxt
        extra.append(
            Violation(rule, f"the {what} namespace chain through container:{value} is too long to follow", cis)
        )
        return value

    def _container(
        self, ref: str, extra: list[Violation], rule: PolicyRule, cis: str, what: str
    ) -> ContainerInfo | None:
        if self.lookup is None:
            extra.append(Violation(rule, f"{what} cannot be verified (no daemon to look it up)", cis))
            return None
        try:
            return self.lookup.container(ref)
        except LookupFailed as exc:
            extra.append(Violation(rule, f"{what} cannot be verified: {exc}", cis))
            return None

    # ------------------------------------------------------------------ policy

    def _apply_policy(self, cands: list[_Candidate], user: str, endpoint: str) -> Decision:
        refusals: list[Refusal] = []
        waived: list[Refusal] = []
        identities: dict[str, tuple[str | None, Mapping[str, str] | None]] = {}
        seen: set[tuple[str, str]] = set()
        for c in cands:
            if c.refusal.why != "fail-safe" and not self.policy.on(c.rule):
                continue
            key = (c.refusal.rule, c.refusal.text)
            if key in seen:
                continue
            seen.add(key)
            if self._waived(c, user, identities):
                waived.append(c.refusal)
            else:
                refusals.append(c.refusal)
        return Decision(not refusals, tuple(refusals), tuple(waived), endpoint)

    def _waived(self, c: _Candidate, user: str, cache: dict[str, tuple[str | None, Mapping[str, str] | None]]) -> bool:
        relevant = [e for e in self.policy.exceptions if c.rule in e.rules]
        if not relevant:
            return False
        image: str | None = None
        labels: Mapping[str, str] | None = None
        s = c.subject
        if s is not None:
            image, labels = s.image, s.labels
            if s.target and any(e.needs_identity for e in relevant) and self.lookup is not None:
                if s.target not in cache:
                    try:
                        info = self.lookup.container(s.target)
                    except LookupFailed:
                        info = None
                    cache[s.target] = (info.image, info.labels) if info else (None, None)
                image, labels = cache[s.target]
        return any(e.matches(c.rule, user, image, labels) for e in relevant)


SPEC_DIRS = ("/etc/docker/plugins", "/usr/lib/docker/plugins")
SOCKET_DIR = "/run/docker/plugins"
MAX_SPEC = 64 * 1024


def own_plugin_names(policy_name: str, socket_path: str) -> set[str]:
    """Every name dockerd may know this plugin by: the policy's, the socket's, and spec files naming it.

    Read when a plugin-management request arrives (rare), so a spec file written after the
    plugin started counts too.
    """
    names = {policy_name}
    if not socket_path:
        return names
    sock = os.path.abspath(socket_path)
    names.add(os.path.splitext(os.path.basename(sock))[0])
    targets = {sock, f"unix://{sock}"}
    for d in SPEC_DIRS:
        try:
            entries = os.listdir(d)
        except OSError:
            continue
        for entry in entries:
            stem, ext = os.path.splitext(entry)
            if ext not in (".spec", ".json"):
                continue
            try:
                data = read_bytes(os.path.join(d, entry), limit=MAX_SPEC, what="plugin spec")
            except InputError:
                continue
            text = data.decode("utf-8", "replace").strip()
            if ext == ".json":
                try:
                    doc = parse_json(data, entry)
                except InputError:
                    continue
                text = str(doc.get("Addr", "")) if isinstance(doc, dict) else ""
            if text.strip() in targets:
                names.add(stem)
    try:
        for entry in os.listdir(SOCKET_DIR):
            path = os.path.join(SOCKET_DIR, entry)
            if os.path.realpath(path) == os.path.realpath(sock):
                names.add(os.path.splitext(entry)[0])
    except OSError:
        pass
    return names


def _endpoint(req: AuthzRequest) -> str:
    try:
        route = normalise(req.method, req.uri)
    except Exception:
        return ""
    return f"{route.method} {route.path}"


def plugin_ref(name: str) -> str:
    """A managed-plugin reference reduced to compare names (``docker.io/library/x:latest`` → ``x``)."""
    n = name.strip().lower()
    n = n.split("@", 1)[0]
    last = n.rsplit("/", 1)[-1]
    if ":" in last:
        n = n[: len(n) - len(last)] + last.split(":", 1)[0]
    for prefix in ("registry-1.docker.io/", "index.docker.io/", "docker.io/"):
        n = n.removeprefix(prefix)
    return n.removeprefix("library/")


def _run_alias(path: str) -> set[str]:
    out = {path}
    if path.startswith("/var/run/") or path == "/var/run":
        out.add("/run" + path[len("/var/run") :])
    elif path.startswith("/run/") or path == "/run":
        out.add("/var/run" + path[len("/run") :])
    return out


def _under(path: str, root: str) -> bool:
    """True when `path` is `root` or inside it."""
    return path == root or root == "/" or path.startswith(root.rstrip("/") + "/")
