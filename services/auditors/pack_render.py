"""The pack renderer, run as a child process (``python -m services.auditors.pack_render SPEC.json``) so that the
memory WeasyPrint takes for the whole document is returned to the system when the child ends. Given ``-``
for the spec, it first imports WeasyPrint and warms the fonts, then reads the spec's path from stdin
(``services.auditors.packs.Renderer`` starts it so, before the pack's data is gathered); on an empty stdin it ends.

It reads the HTML and the files to attach from the spec, lays the document out and writes one PDF/A-3b
with every file as an associated file (/AF, AFRelationship). It reports progress and, last, its peak
memory as JSON lines on stdout. Nothing here touches the database.
"""
from __future__ import annotations

import gc
import json
import resource
import sys
import time
import zlib

import pydyf

# zlib's default level; 9, which pydyf uses, took three times as long here for a file 2 % smaller.
FLATE_LEVEL = 6
# A file whose first 64 KiB deflate to more than this share of their size is already compressed (PDF, PNG,
# JPEG, ZIP, Office files): it is stored as it is, not deflated again for nothing.
INCOMPRESSIBLE = 0.9
SAMPLE = 64 * 1024


def _say(**message) -> None:
    print(json.dumps(message), flush=True)


class _OnceStream(pydyf.Stream):
    """A stream whose bytes are encoded once.

    pydyf encodes a stream's ``data`` each time it is asked for, and for a PDF identifier (PDF/A requires
    one) it asks twice: once to write the object and once to hash the whole file, so every page, font and
    attachment was deflated twice, at level 9. Here each is deflated once, at ``FLATE_LEVEL``, or stored
    as it is when deflating does not pay."""

    def __init__(self, original: pydyf.Stream):
        super().__init__(original.stream, original.extra, original.compress)
        self.number, self.offset, self.generation, self.free = (original.number, original.offset,
                                                                original.generation, original.free)
        self._data: bytes | None = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            body = b"\n".join(pydyf._to_bytes(item) for item in self.stream)
            extra = pydyf.Dictionary(self.extra.copy())
            if self.compress and _worth_deflating(body):
                extra["Filter"] = "/FlateDecode"
                packer = zlib.compressobj(level=FLATE_LEVEL)
                body = packer.compress(body) + packer.flush()
            extra["Length"] = len(body)
            self._data = b"\n".join((extra.data, b"stream", body, b"endstream"))
        return self._data


def _worth_deflating(body: bytes) -> bool:
    if len(body) <= SAMPLE:
        return True  # small: deflating costs little, and page content always shrinks
    sample = body[:SAMPLE]
    return len(zlib.compress(sample, 1)) < INCOMPRESSIBLE * len(sample)


def encode_streams_once(document, pdf: pydyf.PDF) -> None:
    """WeasyPrint ``finisher``: replace every stream by one that is encoded once (see ``_OnceStream``)."""
    for index, item in enumerate(pdf.objects):
        if isinstance(item, pydyf.Stream):
            pdf.objects[index] = _OnceStream(item)


def render(spec: dict) -> None:
    from weasyprint import HTML, Attachment
    from weasyprint.urls import URLFetcher
    # One fetcher for the document and every attachment (each new one builds an SSL context: ms apiece),
    # and local files only: nothing in a pack is fetched from the network.
    fetcher = URLFetcher(allowed_protocols=("file",))
    started = time.perf_counter()
    document = HTML(filename=spec["html"], base_url=spec["base_url"], url_fetcher=fetcher).render()
    laid_out = time.perf_counter()
    _say(progress=70, pages=len(document.pages), layout_s=round(laid_out - started, 2))
    attachments = [Attachment(filename=path, name=name, description=description, relationship=relationship,
                              url_fetcher=fetcher)
                   for path, name, description, relationship in spec["attachments"]]
    document.write_pdf(spec["out"], pdf_variant="pdf/a-3b", attachments=attachments, uncompressed_pdf=False,
                       finisher=encode_streams_once)
    _say(progress=100, write_s=round(time.perf_counter() - laid_out, 2),
         peak_rss_kib=peak_rss_kib())


def peak_rss_kib() -> int:
    """This process's own peak memory: ``VmHWM``, the high-water mark of the address space ``exec`` gave it.

    Not ``getrusage``'s ``ru_maxrss``: Linux keeps that across ``fork`` and ``exec``, so a child started by a
    large worker (or the benchmark, holding its data set) reported the parent's size at the fork, not its own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def warm_up() -> None:
    """Import WeasyPrint, lay out a line in the pack's fonts (fontconfig's cache, Pango's font map) and write it
    as the pack is written: the PDF modules' imports and the C types cffi parses on first use when drawing
    (about 0.2 CPU s) are then paid while the parent still gathers the pack, not after."""
    from weasyprint import HTML
    document = HTML(string='<p style="border-bottom: 0.3pt solid #eaecf0; color: #667085">Attest <b>evidence</b> '
                           '<span style="font-family: DejaVu Sans Mono">0123abcdef</span></p>').render()
    document.write_pdf(pdf_variant="pdf/a-3b", finisher=encode_streams_once)


def quiet_collector() -> None:
    """Fewer cyclic garbage collections during the render: layout allocates millions of short-lived objects
    and each full collection walks every live one (WeasyPrint's modules among them, hence the freeze). About
    a tenth of the child's CPU time on the benchmark's pack; its peak memory is unchanged (the boxes are kept
    until the end anyway, and a collection still runs every 50,000 allocations)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def main(argv: list[str]) -> int:
    source = argv[1]
    if source == "-":
        warm_up()
        quiet_collector()
        source = sys.stdin.readline().strip()
        if not source:
            return 0  # the build stopped before there was anything to render
    else:
        quiet_collector()
    with open(source) as handle:
        render(json.load(handle))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
