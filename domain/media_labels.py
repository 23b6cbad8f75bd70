"""What a person calls a media type: "PDF", "Excel (.xlsx)", never the MIME string.

Used wherever a page or an e-mail names the types a requirement accepts or the type of a stored file. An
unknown type is shown as it is: a new type in the library still reads, only less kindly.
"""
from __future__ import annotations

LABELS = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel (.xlsx)",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word (.docx)",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint (.pptx)",
    "application/vnd.oasis.opendocument.text": "OpenDocument text (.odt)",
    "application/vnd.oasis.opendocument.spreadsheet": "OpenDocument spreadsheet (.ods)",
    "application/zip": "ZIP archive",
    "application/json": "JSON",
    "text/csv": "CSV",
    "text/plain": "Plain text",
    "text/html": "HTML",
    "image/png": "PNG image",
    "image/jpeg": "JPEG image",
    "message/rfc822": "E-mail (.eml)",
}


def media_label(media_type: str) -> str:
    """The reader's name for ``media_type`` (the type itself when it has none)."""
    return LABELS.get((media_type or "").strip().lower(), media_type)


def media_labels(media_types: list[str]) -> str:
    """Several types as one phrase: "PDF, Excel (.xlsx)"."""
    return ", ".join(media_label(t) for t in media_types)
