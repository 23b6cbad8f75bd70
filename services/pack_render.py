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


def _say(**message) -> None:
    print(json.dumps(message), flush=True)


def render(spec: dict) -> None:
    from weasyprint import HTML, Attachment
    document = HTML(filename=spec["html"], base_url=spec["base_url"]).render()
    _say(progress=70, pages=len(document.pages))
    attachments = [Attachment(filename=path, name=name, description=description, relationship=relationship)
                   for path, name, description, relationship in spec["attachments"]]
    document.write_pdf(spec["out"], pdf_variant="pdf/a-3b", attachments=attachments, uncompressed_pdf=False)
    _say(progress=100, peak_rss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        render(json.load(handle))
