"""The files of a submission: an evidence item (one version, reviewed as one) holds one or more files, each
an ``EvidenceFile`` row (SHA-256, size, sniffed media type, original name, storage key), in the order sent.
The item's own file columns repeat its first file's, for the readers and API fields of a single file."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from models import Evidence, EvidenceFile


def files_of(evidence_ids: Iterable[int]) -> dict[int, list[EvidenceFile]]:
    """Evidence id -> its files in position order, in one query (ids without rows map to nothing)."""
    ids = sorted(set(evidence_ids))
    out: dict[int, list[EvidenceFile]] = defaultdict(list)
    if not ids:
        return out
    for row in (EvidenceFile.select().where(EvidenceFile.evidence.in_(ids))
                .order_by(EvidenceFile.evidence, EvidenceFile.position)):
        out[row.evidence_id].append(row)
    return out


def first_file(item: Evidence) -> EvidenceFile:
    """The item's own file columns as its one file (unsaved, ``id`` None): how an item written without file
    rows (a bulk import, a row older than the table that the back-fill did not see) reads."""
    return EvidenceFile(evidence=item.id, position=1, sha256=item.sha256, size=item.size,
                        media_type=item.media_type, original_filename=item.original_filename, storage_key=item.sha256)


def attach_files(items: list[Evidence]) -> list[Evidence]:
    """Set ``item.file_rows`` (its files, in order; never empty) on each item, in one query; returns the items."""
    found = files_of(item.id for item in items)
    for item in items:
        item.file_rows = found.get(item.id) or [first_file(item)]
    return items


def file_url(evidence_id: int, f: EvidenceFile) -> str:
    """The API download of one file: the item's ``/file`` for its first, ``/files/<id>/file`` for the others."""
    if f.position == 1 or f.id is None:
        return f"/api/v1/evidence/{evidence_id}/file"
    return f"/api/v1/evidence/{evidence_id}/files/{f.id}/file"
