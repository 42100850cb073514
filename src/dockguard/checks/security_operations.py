"""CIS Docker Benchmark 1.6.0 section 6: Docker security operations (informational)."""

from __future__ import annotations

from dockguard.checks.catalogue import Check, manual
from dockguard.engine import Context
from dockguard.model import Detail, Evaluation, Outcome, Severity

CIS_URL = "https://www.cisecurity.org/benchmark/docker"


def _c_6_1(ctx: Context) -> Evaluation:
    images = ctx.images
    containers = ctx.containers
    used_ids = {c.image_id for c in containers if c.image_id}
    in_use = [i for i in images if i.id in used_ids]
    unused = sorted((i for i in images if i.id not in used_ids), key=lambda i: i.display_name)
    details = [
        Detail(
            "daemon",
            f"{len(images)} images, {len(in_use)} in use by containers",
            Outcome.INFO,
            f"{len(in_use)}/{len(images)}",
        )
    ]
    details += [Detail(f"image:{i.display_name}", "not used by any container", Outcome.INFO) for i in unused]
    return Evaluation(Outcome.INFO, tuple(details), f"{len(in_use)} active/{len(images)} in use")


def _c_6_2(ctx: Context) -> Evaluation:
    containers = ctx.containers
    running = [c for c in containers if c.running]
    stopped = sorted((c for c in containers if not c.running), key=lambda c: c.name)
    details = [
        Detail(
            "daemon",
            f"{len(containers)} containers, {len(running)} running",
            Outcome.INFO,
            f"{len(running)}/{len(containers)}",
        )
    ]
    details += [Detail(c.label, f"not running ({c.status or 'stopped'})", Outcome.INFO) for c in stopped]
    return Evaluation(Outcome.INFO, tuple(details), f"{len(containers)} total/{len(running)} running")


CHECKS: tuple[Check, ...] = (
    manual(
        "6.1",
        "Ensure that image sprawl is avoided",
        level=1,
        remediation="Keep only the images you need, remove stale ones regularly (`docker image "
        "prune`) and pull by digest so that versions stay identifiable.",
        impact="`docker system prune -a` also deletes every image not used by a container.",
        severity=Severity.LOW,
        references=(CIS_URL, "https://docs.docker.com/config/pruning/"),
        fn=_c_6_1,
    ),
    manual(
        "6.2",
        "Ensure that container sprawl is avoided",
        level=1,
        remediation="Review the container inventory periodically and remove containers that "
        "are no longer needed (`docker container prune`).",
        impact="Removed containers lose their writable layer.",
        severity=Severity.LOW,
        references=(CIS_URL, "https://docs.docker.com/config/pruning/"),
        fn=_c_6_2,
    ),
)
