"""The pack renderer's child process (services.auditors.pack_render, services.auditors.packs.Renderer):
every file attached byte for byte, deflated where that pays and stored as it is where it does not, each stream
written once;
a child that fails says why, and one that is not used is ended."""
from __future__ import annotations

import hashlib
import json
import os
import re

import pytest
from pypdf import PdfReader

from services.auditors import pack_verify, packs
from services.auditors.pack_render import SAMPLE


def _raw_streams(data: bytes) -> dict[int, bytes]:
    """Object number -> the dictionary of every stream object written at the top level of the file."""
    return {int(m.group(1)): m.group(2) for m in re.finditer(rb"\n(\d+) 0 obj\n(<<.*?>>)\nstream\n", data, re.S)}


def _render(tmp_path, files: dict[str, bytes]) -> tuple[bytes, dict]:
    paths = []
    for name, body in files.items():
        path = tmp_path / name
        path.write_bytes(body)
        paths.append((str(path), name, f"{name} (test)"))
    manifest = json.dumps({"files": sorted(files)}).encode()
    html = ("<html><body><h1>Pack</h1>" + "".join(f"<p>{hashlib.sha256(b).hexdigest()}</p>" for b in files.values())
            + "</body></html>")
    out = tmp_path / "out.pdf"
    with packs.Renderer() as renderer:
        report = renderer.render(html, manifest, paths, str(out))
    return out.read_bytes(), report


def test_attachments_are_exact_and_compressed_only_where_it_pays(tmp_path):
    noise = os.urandom(3 * SAMPLE)              # like a PDF, JPEG or ZIP: deflating it gains nothing
    text = b"access review, signed off\n" * 8000  # a log or CSV export: deflates well
    data, report = _render(tmp_path, {"scan.bin": noise, "log.txt": text})
    assert report["pages"] == 1 and report["peak_rss_kib"] > 0
    reader = PdfReader(tmp_path / "out.pdf")
    assert reader.attachments["scan.bin"] == [noise] and reader.attachments["log.txt"] == [text]
    assert json.loads(reader.attachments["manifest.json"][0]) == {"files": ["log.txt", "scan.bin"]}
    assert pack_verify.check_pdfa_structure(reader) == []
    streams = _raw_streams(data)
    embedded = {m: d for m, d in streams.items() if b"/EmbeddedFile" in d}
    by_size = {int(re.search(rb"/Size (\d+)", d).group(1)): d for d in embedded.values()}
    assert b"/Filter" not in by_size[len(noise)]          # stored as it is
    assert b"/FlateDecode" in by_size[len(text)]          # deflated
    assert int(re.search(rb"/Length (\d+)", by_size[len(text)]).group(1)) < len(text) // 20
    pages = [d for d in streams.values() if b"/EmbeddedFile" not in d and b"/XRef" not in d]
    assert pages and all(b"/FlateDecode" in d for d in pages)  # page content and fonts still deflated
    assert len(data) < len(noise) + len(text) // 20 + 200_000  # nothing written twice


def test_a_failing_render_reports_the_childs_reason(tmp_path):
    with packs.Renderer() as renderer, pytest.raises(packs.BuildError, match="No such file or directory"):
        renderer.render("<p>x</p>", b"{}", [], str(tmp_path / "missing-dir" / "out.pdf"))


def test_an_unused_renderer_is_ended(tmp_path):
    with packs.Renderer() as renderer:
        child = renderer.child
        assert child.poll() is None  # started at once, warming up while the caller gathers the pack
    assert child.poll() is not None


def test_the_reported_peak_is_the_renderers_own_memory_not_its_parents(tmp_path):
    """Linux keeps ``ru_maxrss`` across fork and exec: a renderer started by a large worker reported the
    worker's size. The pack's audit event must give the child's own peak."""
    ballast = b"x" * (400 * 1024 * 1024)  # written, so resident in this process when the child starts
    _, report = _render(tmp_path, {"note.txt": b"hello"})
    assert len(ballast) and 0 < report["peak_rss_kib"] < 300 * 1024
