"""Zip bombs in type sniffing: real bombs (a 1 GiB entry in a file of about 1 MiB) are refused with 422 before
anything inflates, through the API and at the sniffer, and honest documents (an embedded workbook, a large
stored part) still pass."""
from __future__ import annotations

import functools
import io
import struct
import tracemalloc
import zipfile
import zlib

import pytest

from services.demo import files as demo_files
from services.evidence import media_types
from tests.test_evidence_bad_input import error_of, unchanged  # noqa: F401 (a fixture)

DOCX = media_types.OOXML["word/"]
XLSX = media_types.OOXML["xl/"]
MIB = 1024 * 1024
ODT_TYPE = b"application/vnd.oasis.opendocument.text"


@functools.cache
def bomb_entry(prefix: bytes = b"", mib: int = 1024) -> tuple[bytes, int, int]:
    """A raw DEFLATE stream that inflates to ``prefix`` and then zeros, ``mib`` MiB in all: (data, crc, size).

    Each MiB is a block ended by a full flush, so the same compressed MiB repeats (about 1 KiB each) — a real
    bomb, with a true CRC, built in a second instead of compressing a gibibyte."""
    zeros = bytes(MIB)
    first = prefix + zeros[len(prefix):]
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    first_block = head.compress(first) + head.flush(zlib.Z_FULL_FLUSH)
    repeat = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero_block = repeat.compress(zeros) + repeat.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(first)
    for _ in range(mib - 1):
        crc = zlib.crc32(zeros, crc)
    data = first_block + zero_block * (mib - 1) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    return data, crc, mib * MIB


def raw_zip(entries: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A ZIP file from (name, data as stored, method, crc, inflated size): written by hand, as a bomb is."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, data, method, crc, size in entries:
        offset = out.tell()
        encoded = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size,
                              len(encoded), 0) + encoded + data)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data),
                                  size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    directory = central.getvalue()
    start = out.tell()
    out.write(directory)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), start, 0))
    return out.getvalue()


def stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    return name, data, zipfile.ZIP_STORED, zlib.crc32(data), len(data)


def deflated_bomb(name: str, prefix: bytes = b"", mib: int = 1024) -> tuple[str, bytes, int, int, int]:
    data, crc, size = bomb_entry(prefix, mib)
    return name, data, zipfile.ZIP_DEFLATED, crc, size


def odt_bomb() -> bytes:
    """The pentest's file: an OpenDocument text whose ``mimetype`` entry inflates to 1 GiB."""
    return raw_zip([deflated_bomb("mimetype", ODT_TYPE), stored("content.xml", b"<office:document-content/>")])


def docx_bomb() -> bytes:
    return raw_zip([stored("[Content_Types].xml", b"<Types/>"), deflated_bomb("word/document.xml", b"<w:document>")])


def xlsx_bomb() -> bytes:
    return raw_zip([stored("[Content_Types].xml", b"<Types/>"), deflated_bomb("xl/worksheets/sheet1.xml")])


def nested_bomb() -> bytes:
    """A document whose embedded workbook is the bomb: the outer entry is small and compresses honestly."""
    return raw_zip([stored("[Content_Types].xml", b"<Types/>"), stored("word/document.xml", b"<w:document/>"),
                    stored("word/embeddings/sheet.xlsx", xlsx_bomb())])


BOMBS = {"odt": odt_bomb, "docx": docx_bomb, "xlsx": xlsx_bomb, "nested": nested_bomb}


@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_a_bomb_is_refused_at_the_sniffer_without_inflating(kind, tmp_path):
    path = tmp_path / kind
    path.write_bytes(BOMBS[kind]())
    assert path.stat().st_size < 2 * MIB
    tracemalloc.start()
    try:
        with pytest.raises(media_types.ArchiveTooLarge) as refused:
            media_types.sniff(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.status == 422 and "archive" in refused.value.message
    assert peak < 4 * MIB, f"sniffing a bomb allocated {peak / MIB:.1f} MiB"


@pytest.mark.parametrize("kind,filename", [("odt", "report.odt"), ("docx", "report.docx"),
                                           ("nested", "policy.docx")])
@pytest.mark.usefixtures("unchanged")
def test_a_bomb_upload_is_422_and_stores_nothing(kind, filename, evidence_world):
    w = evidence_world
    error = error_of(w.upload(w.request(DOCX), BOMBS[kind](), filename), 422)
    assert error["code"] == "invalid" and "archive" in error["message"]


@pytest.mark.usefixtures("unchanged")
def test_an_xlsx_bomb_upload_is_422(evidence_world):
    w = evidence_world
    error_of(w.upload(w.request(XLSX), xlsx_bomb(), "register.xlsx"), 422)


def test_archives_nested_three_deep_are_refused(tmp_path):
    inner = raw_zip([stored("note.txt", b"hello")])
    middle = raw_zip([stored("inner.zip", inner)])
    outer = tmp_path / "outer.zip"
    outer.write_bytes(raw_zip([stored("middle.zip", middle)]))
    with pytest.raises(media_types.ArchiveTooLarge, match="nested"):
        media_types.sniff(str(outer))
    two_deep = tmp_path / "two.zip"
    two_deep.write_bytes(middle)
    assert media_types.sniff(str(two_deep)) == media_types.ZIP


def test_an_entry_declaring_an_impossible_size_is_refused(tmp_path):
    """A directory that says 10 bytes for 1 MiB of DEFLATE data: a reader trusting the data would inflate
    without bound."""
    data, crc, _ = bomb_entry(b"", 1024)
    liar = tmp_path / "liar.docx"
    liar.write_bytes(raw_zip([stored("[Content_Types].xml", b"<Types/>"),
                              ("word/document.xml", data, zipfile.ZIP_DEFLATED, crc, 10)]))
    with pytest.raises(media_types.ArchiveTooLarge, match="impossible"):
        media_types.sniff(str(liar))


def test_honest_documents_with_an_embedded_workbook_still_pass(evidence_world):
    w = evidence_world
    workbook = demo_files.xlsx([["control", "result"], ["A.5.15", "pass"]])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document>" + "<w:p>access review</w:p>" * 20_000 + "</w:document>")
        archive.writestr("word/embeddings/sheet.xlsx", workbook)
    response = w.upload(w.request(DOCX), buffer.getvalue(), "review.docx")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["media_type"] == DOCX
