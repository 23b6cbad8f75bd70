"""The pack renderer, run as a child process (``python -m services.pack_render SPEC.json``) so that the
memory WeasyPrint takes for the whole document is returned to the system when the child ends.

It reads the HTML and the files to attach from the spec, lays the document out and writes one PDF/A-3b
with every file as an associated file (/AF, AFRelationship). It reports progress and, last, its peak
memory as JSON lines on stdout. Nothing here touches the database.
"""
from __future__ import annotations

import json
import resource
import sys
import time


def _say(**message) -> None:
    print(json.dumps(message), flush=True)


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
    document.write_pdf(spec["out"], pdf_variant="pdf/a-3b", attachments=attachments, uncompressed_pdf=False)
    _say(progress=100, write_s=round(time.perf_counter() - laid_out, 2),
         peak_rss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        render(json.load(handle))
