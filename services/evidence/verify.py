"""``verify-evidence``: every stored file of every evidence item (each file of a submission) re-hashed, and
the store's files checked against the rows (SPEC §5, §7). Works through the store interface only
(``exists``, ``rehash``, ``all_hashes``), so it checks a local or an S3 store alike.

- **missing**: a row's file is not in the store;
- **altered**: the stored bytes no longer hash to the row's SHA-256;
- **orphan**: a file in the store that no evidence item's files refer to (a file rows point at cannot be told from
  one planted or left behind, so it is reported too). Files of rows committed while the check runs are
  looked up again before they are called orphans.

Built packs keep their PDF in the same store: each is re-hashed like evidence (reported as ``pack N``) and is
no orphan.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from models import Evidence, EvidenceFile, Pack

Progress = Callable[[int, int, int], None]  # (files checked, files in all, bytes checked)


@dataclass
class StoreReport:
    checked: int = 0
    bytes: int = 0
    missing: dict[str, list[int]] = field(default_factory=dict)  # sha256 -> evidence ids
    altered: dict[str, list[int]] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)
    missing_packs: dict[str, list[int]] = field(default_factory=dict)  # sha256 -> pack ids
    altered_packs: dict[str, list[int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.altered or self.orphans or self.missing_packs or self.altered_packs)

    def problems(self) -> list[str]:
        lines = [f"MISSING {sha}: evidence {_ids(ids)}" for sha, ids in sorted(self.missing.items())]
        lines += [f"ALTERED {sha}: evidence {_ids(ids)} (the stored bytes no longer match)"
                  for sha, ids in sorted(self.altered.items())]
        lines += [f"MISSING {sha}: pack {_ids(ids)} (request the pack again to rebuild it)"
                  for sha, ids in sorted(self.missing_packs.items())]
        lines += [f"ALTERED {sha}: pack {_ids(ids)} (the stored bytes no longer match)"
                  for sha, ids in sorted(self.altered_packs.items())]
        lines += [f"ORPHAN {sha}: in the store, but no evidence refers to it" for sha in sorted(self.orphans)]
        return lines

    def summary(self) -> str:
        counts = (f"{len(self.missing) + len(self.missing_packs)} missing, "
                  f"{len(self.altered) + len(self.altered_packs)} altered, {len(self.orphans)} orphan")
        verdict = "intact" if self.ok else "PROBLEMS"
        return f"evidence store {verdict}: {self.checked} file(s), {_size(self.bytes)} re-hashed; {counts}"


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:20])
    return shown + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} B"


def referenced_files() -> dict[str, tuple[list[int], int]]:
    """sha256 -> (evidence ids, size) of every file of every evidence item (each submission's files, and
    the first-file columns of the item itself, which name one of them), two queries."""
    found: dict[str, tuple[set[int], int]] = {}
    rows = (EvidenceFile.select(EvidenceFile.evidence, EvidenceFile.sha256, EvidenceFile.size)
            .order_by(EvidenceFile.evidence, EvidenceFile.position).tuples())
    items = Evidence.select(Evidence.id, Evidence.sha256, Evidence.size).order_by(Evidence.id).tuples()
    for query in (rows, items):
        for evidence_id, sha, size in query.iterator():
            found.setdefault(sha, (set(), size))[0].add(evidence_id)
    return {sha: (sorted(ids), size) for sha, (ids, size) in found.items()}


def pack_files() -> dict[str, tuple[list[int], int]]:
    """sha256 -> (pack ids, size) of every built pack's PDF."""
    files: dict[str, tuple[list[int], int]] = {}
    rows = (Pack.select(Pack.id, Pack.file_sha256, Pack.size).where(Pack.file_sha256.is_null(False))
            .order_by(Pack.id).tuples())
    for pack_id, sha, size in rows.iterator():
        files.setdefault(sha, ([], size or 0))[0].append(pack_id)
    return files


def verify_store(store, progress: Progress | None = None) -> StoreReport:
    """Re-hash every file the evidence rows and built packs refer to, then look for files nothing refers to."""
    report = StoreReport()
    files, packs = referenced_files(), pack_files()
    total = len(files) + len(packs)
    for checked, missing, altered in ((files, report.missing, report.altered),
                                      (packs, report.missing_packs, report.altered_packs)):
        for sha, (ids, size) in checked.items():
            actual = store.rehash(sha)
            if actual is None:
                missing[sha] = ids
            elif actual != sha:
                altered[sha] = ids
            report.checked += 1
            report.bytes += size if actual is not None else 0
            if progress:
                progress(report.checked, total, report.bytes)
    unknown = [sha for sha in store.all_hashes() if sha not in files and sha not in packs]
    if unknown:  # rows committed since the lists above were read are not orphans
        late = {sha for (sha,) in Evidence.select(Evidence.sha256).where(Evidence.sha256.in_(unknown)).tuples()}
        late |= {sha for (sha,) in EvidenceFile.select(EvidenceFile.sha256)
                 .where(EvidenceFile.sha256.in_(unknown)).tuples()}
        late |= {sha for (sha,) in Pack.select(Pack.file_sha256).where(Pack.file_sha256.in_(unknown)).tuples()}
        report.orphans = sorted(sha for sha in unknown if sha not in late)
    return report
