"""What a stored file is, from its content (libmagic through python-magic), never from its name.

libmagic calls most Office and OpenDocument files ``application/zip`` (or guesses from the order of the
archive's first entries), so a ZIP archive is told apart by its parts: an OpenDocument file names its type
in its first entry ``mimetype``; an Office Open XML package has ``[Content_Types].xml`` and a ``word/``,
``xl/`` or ``ppt/`` part.
"""
from __future__ import annotations

import zipfile

import magic

OOXML = {"word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}
ZIP = "application/zip"
# Plain text that a requirement may name more precisely: libmagic cannot always tell CSV from other text.
TEXT_REFINEMENTS = {"text/plain": ("text/csv",), "application/csv": ("text/csv",)}


def sniff(path: str) -> str:
    """The media type of the file at ``path``, from its bytes."""
    detected = magic.from_file(path, mime=True)
    if zipfile.is_zipfile(path):
        return _zip_package_type(path)
    return detected


def _zip_package_type(path: str) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if names and names[0] == "mimetype":
                declared = archive.read("mimetype")[:100].decode("ascii", "replace").strip()
                if declared.startswith("application/vnd.oasis.opendocument."):
                    return declared
            if "[Content_Types].xml" in names:
                for prefix, media_type in OOXML.items():
                    if any(name.startswith(prefix) for name in names):
                        return media_type
    except (zipfile.BadZipFile, OSError, KeyError, RuntimeError):
        pass
    return ZIP


def resolve(detected: str, accepted: list[str]) -> str | None:
    """The accepted media type the detected content counts as, or None when it is none of them."""
    if detected in accepted:
        return detected
    for refined in TEXT_REFINEMENTS.get(detected, ()):
        if refined in accepted:
            return refined
    return None
