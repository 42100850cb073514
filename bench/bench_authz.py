"""Benchmark: what ``dockguard authz`` adds to each Engine API request, and its own throughput.

Three private dockerds of the same build run side by side: one without an authorization
plugin, one with a do-nothing allow-all plugin (the cost of dockerd's plugin round trips
themselves: it calls AuthZReq and AuthZRes per request), and one with a real ``dockguard authz
serve`` child (enforce mode, decision log to a file).  Requests rotate between the three over
keep-alive unix-socket connections so that machine noise hits all alike:

- ``GET /containers/json``;
- ``POST /containers/create`` with the body the docker CLI sends, then ``DELETE`` of it.

Printed per kind: median and p99 for each daemon, and what dockguard adds over no plugin and
over the do-nothing plugin.  ``--baseline SRC`` adds a fourth daemon whose dockguard plugin runs
from another source tree (``git archive COMMIT src | tar -x -C DIR``, then ``--baseline DIR/src``):
before and after a change, measured side by side under the same machine load.  Then the plugin
alone: AuthZReq calls straight to its socket from several threads, decisions per second for a
GET, a plain create and a refused create.  ``--plugin-only`` skips the daemons and also times
single calls (AuthZReq and AuthZRes, one at a time) to dockguard and to the do-nothing plugin in
turn: the plugin's own share of a request's added latency, without dockerd's.
Goals: ≤ 1 ms median added, ≥ 2,000 decisions/s.  Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.integration.authz_plugin import Plugin, SpecFile, unique_name  # noqa: E402
from tests.integration.dockerd import PrivateDaemon, cleanup_root, import_busybox, start_daemon  # noqa: E402

GOAL_ADDED_MS = 1.0
GOAL_DECISIONS = 2000


class Unix(http.client.HTTPConnection):
    """A keep-alive HTTP connection over a unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__("docker", timeout=60)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.path)
        self.sock = s

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.request(method, path, body=body, headers=headers)
        res = self.getresponse()
        return res.status, res.read()


def cli_body(image: str) -> bytes:
    """What ``docker create IMAGE true`` sends (docker CLI 28)."""
    return json.dumps({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": True,
        "AttachStderr": True, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
        "Cmd": ["true"], "Image": image, "Volumes": {}, "WorkingDir": "", "Entrypoint": None, "OnBuild": None,
        "Labels": {},
        "HostConfig": {
            "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}}, "NetworkMode": "default",
            "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False,
            "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None, "CapDrop": None,
            "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None,
            "IpcMode": "", "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
            "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "",
            "ShmSize": 0, "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "",
            "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
            "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
            "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
            "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0,
            "MemorySwappiness": None, "OomKillDisable": None, "PidsLimit": None, "Ulimits": None, "CpuCount": 0,
            "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None,
        },
        "NetworkingConfig": {"EndpointsConfig": {}},
    }).encode()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def timed(conn: Unix, method: str, path: str, body: bytes | None = None) -> tuple[float, int, bytes]:
    t0 = time.perf_counter()
    status, data = conn.call(method, path, body)
    return (time.perf_counter() - t0) * 1000, status, data


def engine_latency(daemons: dict[str, PrivateDaemon], image: str, n: int) -> dict[str, dict[str, list[float]]]:
    conns = {k: Unix(str(d.socket)) for k, d in daemons.items()}
    for conn in conns.values():  # warm up
        for _ in range(50):
            conn.call("GET", "/v1.41/containers/json")
    kinds = ("GET /containers/json", "POST /containers/create", "DELETE /containers/{id}")
    out: dict[str, dict[str, list[float]]] = {k: {d: [] for d in daemons} for k in kinds}
    for _ in range(n):
        for key, conn in conns.items():
            ms, status, _ = timed(conn, "GET", "/v1.41/containers/json")
            assert status == 200, status
            out[kinds[0]][key].append(ms)
    body = cli_body(image)
    for _ in range(n):
        for key, conn in conns.items():
            ms, status, data = timed(conn, "POST", "/v1.41/containers/create", body)
            assert status == 201, data
            cid = json.loads(data)["Id"]
            ms2, status, _ = timed(conn, "DELETE", f"/v1.41/containers/{cid}")
            assert status == 204, status
            out[kinds[1]][key].append(ms)
            out[kinds[2]][key].append(ms2)
    for conn in conns.values():
        conn.close()
    return out


TRIVIAL = """
import socketserver, sys
class H(socketserver.StreamRequestHandler):
    rbufsize = 65536
    wbufsize = 0
    def handle(self):
        while True:
            line = self.rfile.readline()
            if not line:
                return
            n = 0
            while True:
                h = self.rfile.readline()
                if h in (b"\\r\\n", b""):
                    break
                if h.lower().startswith(b"content-length:"):
                    n = int(h.split(b":")[1])
            self.rfile.read(n)
            d = b'{"Implements":["authz"]}' if b"Activate" in line else b'{"Allow":true}'
            self.wfile.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(d) + d)
class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
S(sys.argv[1], H).serve_forever()
"""
"""A do-nothing allow-all authorization plugin: dockerd's own cost of asking a plugin."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def authz_doc(method: str, uri: str, body: bytes | None, response: bytes | None = None) -> bytes:
    """What dockerd sends to AuthZReq (or, with `response`, to AuthZRes) for one Engine API request."""
    doc: dict[str, Any] = {"RequestMethod": method, "RequestUri": uri, "RequestHeaders": {}}
    if body is not None:
        doc["RequestBody"] = base64.b64encode(body).decode()
        doc["RequestHeaders"] = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    if response is not None:
        doc.update(ResponseStatusCode=201, ResponseHeaders={"Content-Type": "application/json"},
                   ResponseBody=base64.b64encode(response).decode())
    return json.dumps(doc).encode()


def round_trips(socks: dict[str, Path], n: int, image: str) -> None:
    """One keep-alive connection per plugin, calls in turn: the plugin's own time per call."""
    body = cli_body(image)
    created = json.dumps({"Id": "0" * 64, "Warnings": []}).encode()
    calls = {
        "AuthZReq GET /containers/json": ("/AuthZPlugin.AuthZReq", authz_doc("GET", "/v1.41/containers/json", None)),
        "AuthZReq create": ("/AuthZPlugin.AuthZReq", authz_doc("POST", "/v1.41/containers/create", body)),
        "AuthZRes create": ("/AuthZPlugin.AuthZRes", authz_doc("POST", "/v1.41/containers/create", body, created)),
        "AuthZReq DELETE": ("/AuthZPlugin.AuthZReq", authz_doc("DELETE", f"/v1.41/containers/{'0' * 64}", None)),
    }
    conns = {k: Unix(str(v)) for k, v in socks.items()}
    print(f"  one call at a time, {n} per plugin and kind, turn about (round trip as the caller sees it):")
    for kind, (path, payload) in calls.items():
        times: dict[str, list[float]] = {k: [] for k in conns}
        for i in range(n + 50):
            for k, conn in conns.items():
                ms, status, data = timed(conn, "POST", path, payload)
                assert status == 200, data
                if i >= 50:  # warm-up
                    times[k].append(ms)
        med = {k: statistics.median(v) for k, v in times.items()}
        line = "   ".join(f"{k} median {med[k]:.3f} p99 {pct(v, 99):.3f} ms" for k, v in times.items())
        print(f"    {kind:<30} {line}   dockguard's own: {med['dockguard'] - med['do-nothing']:+.3f} ms")
    for conn in conns.values():
        conn.close()


def plugin_throughput(
    sock: Path, threads: int, per_thread: int, image: str, pid: int
) -> dict[str, tuple[float, float]]:
    authz = authz_doc
    refused = json.loads(cli_body(image))
    refused["HostConfig"].update(Privileged=True, Binds=["/etc:/hostetc"], PidMode="host")
    kinds = {
        "GET /containers/json": authz("GET", "/v1.41/containers/json", None),
        "plain create": authz("POST", "/v1.41/containers/create?name=bench", cli_body(image)),
        "refused create": authz("POST", "/v1.41/containers/create", json.dumps(refused).encode()),
    }
    results = {}
    for name, payload in kinds.items():
        barrier = threading.Barrier(threads + 1)

        def worker(payload: bytes = payload, barrier: threading.Barrier = barrier) -> None:
            conn = Unix(str(sock))
            conn.call("POST", "/AuthZPlugin.AuthZReq", payload)
            barrier.wait()
            for _ in range(per_thread):
                status, _ = conn.call("POST", "/AuthZPlugin.AuthZReq", payload)
                assert status == 200
            conn.close()

        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        barrier.wait()
        t0, c0 = time.perf_counter(), cpu_seconds(pid)
        for t in ts:
            t.join()
        wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - c0
        n = threads * per_thread
        results[name] = (n / wall, n / cpu if cpu > 0 else float("inf"))
    return results


def report_throughput(plugin: Plugin, threads: int, image: str) -> None:
    per = max(1, 2000 // threads)
    print(f"  plugin alone, {threads} threads x {per} AuthZReq calls each over keep-alive connections:")
    assert plugin.process is not None
    rates = plugin_throughput(plugin.socket, threads, per, image, plugin.process.pid)
    for kind, (rate, per_cpu) in rates.items():
        print(f"    {kind:<22} {rate:8.0f} decisions/s wall "
              f"({'goal met' if rate >= GOAL_DECISIONS else 'goal NOT met'}: >= {GOAL_DECISIONS}/s); "
              f"{per_cpu:8.0f} per CPU-second of the plugin process")


def plugin_only(threads: int, n: int) -> int:
    pdir = Path(tempfile.mkdtemp(prefix="dg-bench-authz-"))
    plugin = Plugin(pdir / "plugin.sock", pdir / "decisions.jsonl", ("-H", "unix:///nonexistent/docker.sock"))
    (pdir / "trivial.py").write_text(TRIVIAL)
    trivial = subprocess.Popen([sys.executable, str(pdir / "trivial.py"), str(pdir / "trivial.sock")],
                               start_new_session=True)
    try:
        plugin.start()
        deadline = time.monotonic() + 20
        while not (pdir / "trivial.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        print("dockguard authz benchmark (plugin only)")
        round_trips({"dockguard": plugin.socket, "do-nothing": pdir / "trivial.sock"}, n, "dg-busybox:1")
        report_throughput(plugin, threads, "dg-busybox:1")
    finally:
        plugin.stop()
        trivial.terminate()
        trivial.wait(timeout=10)
        shutil.rmtree(pdir, ignore_errors=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1000, help="requests per daemon and kind (default 1000)")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--plugin-only", action="store_true",
                    help="only the plugin: its time per call next to the do-nothing plugin's, and its throughput")
    ap.add_argument("--baseline", metavar="SRC", type=Path,
                    help="also a daemon with the dockguard plugin from this source tree (its src/ directory)")
    args = ap.parse_args()
    if args.baseline is not None and not (args.baseline / "dockguard" / "__init__.py").is_file():
        print(f"--baseline {args.baseline}: not a source tree holding dockguard/", file=sys.stderr)
        return 2
    if args.plugin_only:
        return plugin_only(args.threads, args.n)
    if shutil.which("dockerd") is None:
        print("dockerd is not installed: run `make test-deps`", file=sys.stderr)
        return 2
    name, trivial_name = unique_name("dgbench"), unique_name("dgtrivial")
    pdir = Path(tempfile.mkdtemp(prefix="dg-bench-authz-"))
    kinds = ("plain", "trivial", *(("baseline",) if args.baseline else ()), "dockguard")
    roots = {k: Path(tempfile.mkdtemp(prefix=f"dg-bench-{k}-")) for k in kinds}
    plugin = Plugin(pdir / "plugin.sock", pdir / "decisions.jsonl",
                    ("-H", f"unix://{roots['dockguard'] / 'docker.sock'}"))
    base_name = unique_name("dgbase")
    baseline = Plugin(pdir / "baseline.sock", pdir / "baseline.jsonl",
                      ("-H", f"unix://{roots['baseline'] / 'docker.sock'}")) if args.baseline else None
    (pdir / "trivial.py").write_text(TRIVIAL)
    trivial = subprocess.Popen([sys.executable, str(pdir / "trivial.py"), str(pdir / "trivial.sock")],
                               start_new_session=True)
    specs = [SpecFile(name, plugin.socket), SpecFile(trivial_name, pdir / "trivial.sock")]
    if baseline is not None:
        specs.append(SpecFile(base_name, baseline.socket))
    daemons: dict[str, PrivateDaemon] = {}
    try:
        plugin.start()
        if baseline is not None:
            old = os.environ.get("PYTHONPATH")
            os.environ["PYTHONPATH"] = str(args.baseline.resolve())  # the child imports dockguard from there
            try:
                baseline.start()
            finally:
                if old is None:
                    del os.environ["PYTHONPATH"]
                else:
                    os.environ["PYTHONPATH"] = old
        deadline = time.monotonic() + 20
        while not (pdir / "trivial.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for spec in specs:
            spec.write()
        daemons["plain"] = start_daemon(roots["plain"])
        daemons["trivial"] = start_daemon(roots["trivial"], extra_args=(f"--authorization-plugin={trivial_name}",))
        if baseline is not None:
            daemons["baseline"] = start_daemon(roots["baseline"], extra_args=(f"--authorization-plugin={base_name}",))
        daemons["dockguard"] = start_daemon(roots["dockguard"], extra_args=(f"--authorization-plugin={name}",))
        image = ""
        for d in daemons.values():
            image = import_busybox(d.api)
        version = daemons["plain"].api.version()["Version"]
        print(f"dockguard authz benchmark: dockerd {version}, {args.n} requests per daemon and kind, requests "
              "rotate between a daemon without plugin, one with a do-nothing plugin"
              f"{f', one with dockguard from {args.baseline}' if baseline else ''} and one with dockguard")
        for kind, lat in engine_latency(daemons, image, args.n).items():
            med = {k: statistics.median(v) for k, v in lat.items()}
            p99 = {k: pct(v, 99) for k, v in lat.items()}
            added = med["dockguard"] - med["plain"]
            print(f"  {kind}")
            for k in daemons:
                print(f"    {k:<10} median {med[k]:7.3f} ms   p99 {p99[k]:7.3f} ms")
            print(f"    dockguard adds: median {added:+.3f} ms, p99 {p99['dockguard'] - p99['plain']:+.3f} ms over no "
                  f"plugin ({'goal met' if added <= GOAL_ADDED_MS else 'goal NOT met'}: <= {GOAL_ADDED_MS} ms); "
                  f"median {med['dockguard'] - med['trivial']:+.3f} ms over the do-nothing plugin")
            if baseline is not None:
                print(f"    baseline adds: median {med['baseline'] - med['plain']:+.3f} ms over no plugin, "
                      f"{med['baseline'] - med['trivial']:+.3f} ms over the do-nothing plugin; dockguard vs baseline: "
                      f"median {med['dockguard'] - med['baseline']:+.3f} ms, "
                      f"p99 {p99['dockguard'] - p99['baseline']:+.3f} ms")
        for label, p in (("baseline", baseline), ("dockguard", plugin)):
            if p is None:
                continue
            if baseline is not None:
                print(f"  {label}:")
            report_throughput(p, args.threads, image)
            with p.log.open() as f:
                entries = [json.loads(line) for line in f]
            print(f"  decision log: {len(entries)} lines; time to decide inside the plugin (parse, decide):")
            for endpoint in ("GET /containers/json", "POST /containers/create", "DELETE /containers/{id}"):
                # the log names a container by its id: match the pattern's fixed part
                fixed = endpoint.split("{", 1)[0]
                ms = [e["ms"] for e in entries if e["endpoint"] == endpoint or (fixed != endpoint and "/" not in
                                                                                e["endpoint"].removeprefix(fixed))]
                if ms:
                    print(f"    {endpoint:<24} median {statistics.median(ms):.3f} ms   p99 {pct(ms, 99):.3f} ms")
    finally:
        for d in daemons.values():
            d.stop()
        plugin.stop()
        if baseline is not None:
            baseline.stop()
        trivial.terminate()
        trivial.wait(timeout=10)
        for spec in reversed(specs):  # the one that created the directory removes it, last
            spec.remove()
        for r in roots.values():
            cleanup_root(r)
        shutil.rmtree(pdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
