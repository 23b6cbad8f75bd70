"""``verify-pack FILE``: is this PDF the pack Attest built, whole and unaltered?

Without the database it checks the file on its own: it is a complete PDF, PDF/A-3 by its XMP (pdfaid part 3,
conformance B) with an output intent, every embedded file is an associated file (/AF) with an AFRelationship,
the embedded ``manifest.json`` lists each embedded evidence file with the hash and size it has, the rendered
pages show every listed hash and the manifest's own hash. With the database and store at hand it also checks
the pack row (the whole file's SHA-256, so any altered byte shows), each evidence row and stored file, and that
the audit head hash of the manifest is an event of an intact trail.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass, field

from pypdf import PdfReader, apply_configuration
from pypdf.errors import PdfReadError

from models import AuditEvent, Evidence, Pack
from services.audit.audit_log import verify_chain
from services.evidence.files import files_of, first_file

from .packs import MANIFEST

# Packs embed up to PACK_EMBED_MAX_MB of evidence; pypdf refuses streams over 75 MB unless told otherwise.
STREAM_LIMIT = 4 * 1024 * 1024 * 1024
HASH = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


@dataclass
class PackReport:
    problems: list[str] = field(default_factory=list)
    manifest: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _reader(data: bytes, report: PackReport) -> PdfReader | None:
    if not data.startswith(b"%PDF-"):
        report.problems.append("not a PDF file (no %PDF- header)")
        return None
    if b"%%EOF" not in data[-1024:]:
        report.problems.append("truncated: the file does not end with %%EOF")
    try:
        reader = PdfReader(io.BytesIO(data), strict=True)
        _ = reader.trailer["/Root"]
        return reader
    except (PdfReadError, KeyError, ValueError, OSError) as exc:
        report.problems.append(f"unreadable PDF: {exc}")
        return None


def check_pdfa_structure(reader: PdfReader) -> list[str]:
    """PDF/A-3b markers this pack must carry (WeasyPrint writes them; nothing here validates PDF/A fully)."""
    problems = []
    root = reader.trailer["/Root"]
    metadata = root.get("/Metadata")
    xmp = metadata.get_object().get_data() if metadata else b""
    if not re.search(rb'pdfaid:part(="3"|>3<)', xmp):
        problems.append("XMP metadata does not declare PDF/A part 3")
    if not re.search(rb'pdfaid:conformance(="B"|>B<)', xmp):
        problems.append("XMP metadata does not declare PDF/A conformance B")
    if not root.get("/OutputIntents"):
        problems.append("no output intent")
    listed = set()
    for spec in root.get("/AF", []):
        spec = spec.get_object()
        if "/AFRelationship" not in spec:
            problems.append(f"associated file {spec.get('/F')} has no AFRelationship")
        listed.add(str(spec.get("/F")))
    for name in _embedded_names(reader):
        if name not in listed:
            problems.append(f"embedded file {name} is not listed in /AF")
    return problems


def _embedded_names(reader: PdfReader) -> list[str]:
    return list(reader.attachments)


def _read_embedded(reader: PdfReader, report: PackReport) -> dict[str, bytes]:
    files = {}
    for name in _embedded_names(reader):
        try:
            contents = reader.attachments[name]
        except Exception as exc:  # noqa: BLE001 - a damaged stream is a finding, not a crash
            report.problems.append(f"embedded file {name} cannot be read: {exc}")
            continue
        if len(contents) != 1:
            report.problems.append(f"embedded file name {name} occurs {len(contents)} times")
        files[name] = contents[0]
    return files


def _page_text(reader: PdfReader, report: PackReport) -> str:
    try:
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except Exception as exc:  # noqa: BLE001
        report.problems.append(f"the rendered pages cannot be read: {exc}")
        return ""


def _check_manifest(manifest: dict, files: dict[str, bytes], text: str, manifest_bytes: bytes,
                    report: PackReport) -> None:
    shown = set(HASH.findall(text))
    if hashlib.sha256(manifest_bytes).hexdigest() not in shown:
        report.problems.append("the manifest's SHA-256 is not the one printed on the cover (manifest altered)")
    if str(manifest.get("pack", {}).get("id")) not in text:
        report.problems.append("the pack id is not in the rendered pages")
    head = manifest.get("audit_trail", {}).get("head_hash", "")
    if head not in shown:
        report.problems.append("the audit head hash of the manifest is not the one printed in the pack")
    expected = {MANIFEST}
    for item in manifest.get("evidence", []):
        for entry in files_of_entry(item):
            _check_file(item.get("id"), entry, files, shown, expected, report)
    for extra in sorted(set(files) - expected):
        report.problems.append(f"embedded file {extra} is not in the manifest")


def files_of_entry(item: dict) -> list[dict]:
    """The files a manifest's evidence entry lists: ``files`` (every file of its submission), or, in a pack
    built before submissions held several files, the entry itself."""
    listed = item.get("files")
    return listed if isinstance(listed, list) and listed else [item]


def _check_file(evidence_id, entry: dict, files: dict[str, bytes], shown: set[str], expected: set[str],
                report: PackReport) -> None:
    """One file of one evidence entry: its hash printed in the index, and if embedded, its bytes."""
    what = f"evidence {evidence_id}" + (f" file {entry['position']}" if entry.get("position", 1) != 1 else "")
    if entry.get("sha256") not in shown:
        report.problems.append(f"{what}: its SHA-256 is not in the rendered index")
    if not entry.get("embedded"):
        return
    name = entry.get("attachment")
    expected.add(name)
    body = files.get(name)
    if body is None:
        report.problems.append(f"{what}: embedded file {name} is missing")
    elif hashlib.sha256(body).hexdigest() != entry.get("sha256"):
        report.problems.append(f"{what}: embedded file {name} does not match its SHA-256")
    elif len(body) != entry.get("size"):
        report.problems.append(f"{what}: embedded file {name} is not {entry.get('size')} bytes")


def verify_file(data: bytes) -> PackReport:
    """Check a pack on its own (no database)."""
    report = PackReport()
    with apply_configuration(maximum_declared_stream_length=STREAM_LIMIT, zlib_maximum_output_length=STREAM_LIMIT):
        reader = _reader(data, report)
        if reader is None:
            return report
        files = _read_embedded(reader, report)
        if MANIFEST not in files:
            report.problems.append("not an Attest pack: no manifest.json is embedded")
            return report
        try:
            report.manifest = json.loads(files[MANIFEST])
            assert isinstance(report.manifest, dict) and report.manifest.get("format") == "attest-pack/1"
        except (ValueError, AssertionError):
            report.problems.append("manifest.json is not an Attest pack manifest")
            return report
        report.problems += check_pdfa_structure(reader)
        _check_manifest(report.manifest, files, _page_text(reader, report), files[MANIFEST], report)
    return report


def verify_against_records(data: bytes, report: PackReport, store) -> None:
    """Check a pack against the database, the evidence store and the audit trail (adds to ``report``)."""
    manifest = report.manifest or {}
    pack = Pack.get_or_none(Pack.id == manifest.get("pack", {}).get("id"))
    if pack is None:
        report.problems.append("no pack with this id in the database (a foreign or forged pack)")
        return
    if pack.file_sha256 != hashlib.sha256(data).hexdigest():
        report.problems.append(f"the file's SHA-256 differs from pack {pack.id}'s recorded one (altered bytes)")
    if pack.head_hash != manifest.get("audit_trail", {}).get("head_hash"):
        report.problems.append("the manifest's audit head hash differs from the one recorded for this pack")
    head = manifest.get("audit_trail", {}).get("head_hash")
    if head and not AuditEvent.select().where(AuditEvent.hash == head).exists():
        report.problems.append("the audit head hash is not an event of the audit trail")
    ids = [i["id"] for i in manifest.get("evidence", [])]
    rows = {e.id: e for e in Evidence.select().where(Evidence.id.in_(ids or [0]))}
    recorded = files_of(ids)
    for item in manifest.get("evidence", []):
        row = rows.get(item["id"])
        if row is None or (row.sha256, row.size, row.media_type) != (item["sha256"], item["size"], item["media_type"]):
            report.problems.append(f"evidence {item['id']}: differs from the database record")
            continue
        listed = [(f.get("sha256"), f.get("size"), f.get("media_type")) for f in files_of_entry(item)]
        on_record = [(f.sha256, f.size, f.media_type) for f in recorded.get(row.id) or [first_file(row)]]
        if listed != on_record:
            report.problems.append(f"evidence {item['id']}: its files differ from the database record")
        for sha, _, _ in listed:
            if store.rehash(sha) not in (sha, None):
                report.problems.append(f"evidence {item['id']}: the stored file {sha} no longer matches its SHA-256")
    report.problems += [f"audit trail: {p}" for p in verify_chain()]
    report.notes.append(f"checked against pack {pack.id} in the database and the evidence store")
