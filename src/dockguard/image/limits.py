"""The bounds of one image scan: fixed figures (`Limits`) and what a scan has used (`ScanBudget`).

An image is attacker-controlled: a few KB of manifest, config or compressed layer can ask for
gigabytes of memory, billions of reads or an endless database query.  Every reader in
``dockguard.image`` therefore works against one `ScanBudget` per scan, built from a frozen
`Limits`.  What happens when a figure is reached depends on where it is:

* metadata (manifest, index, config, number of layers, index nesting, descriptors) → the image
  is refused with an `InputError` (exit 2): such an image cannot be run anyway;
* content (entries, bytes read, bytes held in memory, package database rows, query time) →
  what was not read is named in the scan's *incomplete* list, the result is never cached, and a
  ``--fail-on`` gate on it exits 2.

The figures are documented in docs/security.md; peak memory of a scan stays under 512 MiB.
"""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """Safety bounds applied to every archive, layer and package database of one scan."""

    # -- per layer (tar stream)
    max_entries: int = 1_000_000              # tar entries in one layer
    max_read: int = 64 * MiB                  # largest package database file kept
    max_manifest_file: int = 1 * MiB          # largest npm package.json kept
    max_pymeta: int = 256 * KiB               # head of a Python METADATA/PKG-INFO kept
    max_pax: int = 1 * MiB                    # largest pax / GNU long-name header
    max_layer_bytes: int = 64 * GiB           # decompressed bytes of one layer
    max_ratio: int = 1000                     # decompressed / compressed, once past max_read
    max_path: int = 4096                      # bytes of one entry path
    # -- per scan
    max_scan_entries: int = 1_000_000         # tar entries over all layers
    max_scan_bytes: int = 64 * GiB            # decompressed layer bytes read over all layers
    max_held: int = 256 * MiB                 # file bodies and entry records kept in memory
    max_layers: int = 512                     # layers listed by a manifest (distinct or not)
    max_archive_members: int = 65_536         # members of a docker-save / OCI tar
    # -- metadata (manifests, indexes, configs)
    max_json: int = 16 * MiB                  # one manifest, index or config
    max_metadata: int = 64 * MiB              # all metadata documents of one scan together
    max_descriptors: int = 1024               # distinct manifests/indexes visited in an index
    max_index_depth: int = 2                  # nested indexes below index.json
    # -- package databases
    max_packages: int = 100_000               # packages in one scan (all databases together)
    max_rpm_header: int = 16 * MiB            # one rpm header blob
    sqlite_seconds: float = 10.0              # wall time of one rpmdb query
    sqlite_steps: int = 200_000_000           # sqlite VM steps of one rpmdb query
    # -- archives (jar/war/ear...) and other files cataloguers open
    max_archive_depth: int = 4                # archives inside archives (app.jar!/lib/x.jar is 1)
    max_archive_entries: int = 100_000        # central-directory entries of one archive
    max_archive_scan_entries: int = 1_000_000  # entries of one archive and everything nested in it
    max_archive_inflated: int = 1 * GiB       # bytes inflated from one archive and its nested ones
    max_nested_archive: int = 256 * MiB       # largest archive inside an archive that is opened
    max_archive_member: int = 1 * MiB         # largest pom.properties / MANIFEST.MF read
    max_section: int = 16 * MiB               # largest ELF section decompressed (cargo-auditable)
    # -- findings and secrets
    max_secret_hits_per_file: int = 20        # further hits in one file are counted, not kept
    max_secret_hits: int = 1000               # secret hits kept per layer and for the config
    max_findings_per_kind: int = 50           # image-config findings of one id per image


DEFAULT_LIMITS = Limits()

#: Bytes of memory one recorded tar entry costs besides its path (str object and list slot in
#: the layer analysis, dict slot in the squashed view, allocator slack), as measured.
ENTRY_OVERHEAD = 250


class BudgetExceeded(Exception):
    """A scan-wide figure of `Limits` was reached; the message says which."""


class ScanBudget:
    """What one scan has used of its `Limits` (counters only; the figures stay frozen).

    `charge_*` methods raise `BudgetExceeded`; `hold` answers False instead so that the caller
    can skip one file and go on.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.entries = 0
        self.bytes_read = 0
        self.held = 0
        self.metadata = 0
        self.descriptors = 0
        self.exhausted: set[str] = set()  # which figures were reached (for the report)

    def charge_entry(self) -> None:
        """One more tar entry over the whole scan."""
        self.entries += 1
        if self.entries > self.limits.max_scan_entries:
            self.exhausted.add("entries")
            raise BudgetExceeded(f"more than {self.limits.max_scan_entries} entries in the image")

    def charge_read(self, n: int) -> None:
        """`n` more decompressed layer bytes read."""
        self.bytes_read += n
        if self.bytes_read > self.limits.max_scan_bytes:
            self.exhausted.add("bytes")
            raise BudgetExceeded(f"more than {self.limits.max_scan_bytes} layer bytes in the image")

    def hold(self, n: int) -> bool:
        """Reserve `n` bytes of memory for kept data; False (and nothing reserved) when full."""
        if self.held + n > self.limits.max_held:
            self.exhausted.add("held")
            return False
        self.held += n
        return True

    def release(self, n: int) -> None:
        """Give back `n` bytes reserved with `hold` (data that was dropped again)."""
        self.held = max(0, self.held - n)

    def charge_metadata(self, n: int, what: str) -> None:
        """`n` more bytes of manifests, indexes and configs parsed."""
        self.metadata += n
        if self.metadata > self.limits.max_metadata:
            raise BudgetExceeded(
                f"{what}: image metadata larger than {self.limits.max_metadata} bytes in total")

    def charge_descriptor(self, what: str) -> None:
        """One more distinct manifest or index visited."""
        self.descriptors += 1
        if self.descriptors > self.limits.max_descriptors:
            raise BudgetExceeded(f"{what}: more than {self.limits.max_descriptors} manifests and indexes")
