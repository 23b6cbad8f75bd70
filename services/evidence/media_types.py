"""What a stored file is, from its content (libmagic through python-magic), never from its name.

libmagic calls most Office and OpenDocument files ``application/zip`` (or guesses from the order of the
archive's first entries), so a ZIP archive is told apart by its parts: an OpenDocument file names its type
in its first entry ``mimetype``; an Office Open XML package has ``[Content_Types].xml`` and a ``word/``,
``xl/`` or ``ppt/`` part.

An archive is also checked for a *zip bomb* before anything is read from it: every entry (and every entry of
an archive inside it, two levels deep) is judged from the central directory — how far it inflates, its
compression ratio, whether its sizes are even possible for DEFLATE — and only a few bytes of any entry are ever
inflated. An archive beyond the limits is refused (422) whatever its type; sniffing never needs more than the
first bytes of an entry, so a 1 GiB ``mimetype`` costs nothing.
"""
from __future__ import annotations

import shutil
import tempfile
import zipfile

import magic

from domain.errors import ValidationError

OOXML = {"word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}
ZIP = "application/zip"
# Plain text that a requirement may name more precisely: libmagic cannot always tell CSV from other text.
TEXT_REFINEMENTS = {"text/plain": ("text/csv",), "application/csv": ("text/csv",)}

# Zip-bomb limits. DEFLATE's best ratio is about 1032:1; real documents stay far below 100:1 on any entry
# large enough to matter (XML of a big spreadsheet compresses about 10-30:1).
MAX_RATIO = 100                      # inflated / compressed, for an entry above RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024            # small entries may compress as well as they like
MAX_INFLATED = 1024 * 1024 * 1024    # every entry of every level together
MAX_ENTRIES = 10_000                 # every level together
MAX_DEPTH = 2                        # an archive in an archive (a workbook embedded in a document) is fine
MAX_NESTED = 64 * 1024 * 1024        # an inner archive is inflated (to a temporary file) only up to this
PROBE = 100                          # bytes read from an entry to sniff it
ZIP_MAGIC = b"PK\x03\x04"


class ArchiveTooLarge(ValidationError):
    """An archive that inflates beyond the limits: refused before it is read."""


def sniff(path: str) -> str:
    """The media type of the file at ``path``, from its bytes; ArchiveTooLarge (422) for a zip bomb."""
    detected = magic.from_file(path, mime=True)
    if zipfile.is_zipfile(path):
        return _zip_package_type(path)
    return detected


def _zip_package_type(path: str) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            _check_archive(archive, _Budget(), depth=1)
            names = archive.namelist()
            if names and names[0] == "mimetype":
                with archive.open("mimetype") as entry:
                    declared = entry.read(PROBE).decode("ascii", "replace").strip()
                if declared.startswith("application/vnd.oasis.opendocument."):
                    return declared
            if "[Content_Types].xml" in names:
                for prefix, media_type in OOXML.items():
                    if any(name.startswith(prefix) for name in names):
                        return media_type
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, KeyError, RuntimeError, NotImplementedError,
            EOFError):
        pass  # not an archive Python can read (encrypted, damaged): libmagic's "zip" is all there is to say
    return ZIP


class _Budget:
    """What the archive and the archives inside it have declared so far."""

    def __init__(self) -> None:
        self.inflated = 0
        self.entries = 0

    def spend(self, info: zipfile.ZipInfo) -> None:
        self.inflated += info.file_size
        self.entries += 1
        if self.entries > MAX_ENTRIES:
            raise _refused(f"it has more than {MAX_ENTRIES} entries")
        if self.inflated > MAX_INFLATED:
            raise _refused(f"it inflates to more than {MAX_INFLATED // (1024 * 1024)} MiB")


def _refused(why: str) -> ArchiveTooLarge:
    return ArchiveTooLarge(f"the file is an archive that cannot be accepted safely: {why}", field="file")


def _check_archive(archive: zipfile.ZipFile, budget: _Budget, depth: int) -> None:
    """Every entry's declared sizes first (no inflating), then the first bytes of each, into inner archives."""
    infos = [info for info in archive.infolist() if not info.is_dir()]
    for info in infos:
        budget.spend(info)
        _check_entry(info)
    for info in infos:
        with archive.open(info) as entry:
            if entry.read(len(ZIP_MAGIC)) == ZIP_MAGIC:
                _check_nested(archive, info, budget, depth)


def _check_entry(info: zipfile.ZipInfo) -> None:
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise _refused(f"its entry {info.filename[:80]!r} inflates more than {MAX_RATIO} times")
    # DEFLATE never grows data by more than a few bytes a block: a larger compressed size means the declared
    # size is a lie, and a reader that trusts the data rather than the directory would inflate without bound.
    if info.compress_type != zipfile.ZIP_STORED and info.compress_size > info.file_size + info.file_size // 100 + 1024:
        raise _refused(f"its entry {info.filename[:80]!r} declares an impossible size")


def _check_nested(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise _refused("it holds archives nested more than two deep")
    if info.file_size > MAX_NESTED:
        raise _refused(f"its inner archive {info.filename[:80]!r} is larger than {MAX_NESTED // (1024 * 1024)} MiB")
    with tempfile.TemporaryFile() as inner, archive.open(info) as entry:
        shutil.copyfileobj(entry, inner, 64 * 1024)  # the reader stops at the declared size, checked above
        inner.seek(0)
        try:
            nested = zipfile.ZipFile(inner)
        except zipfile.BadZipFile:
            return  # begins like an archive but is not one: nothing more to inflate
        with nested:
            _check_archive(nested, budget, depth + 1)


def resolve(detected: str, accepted: list[str]) -> str | None:
    """The accepted media type the detected content counts as, or None when it is none of them."""
    if detected in accepted:
        return detected
    for refined in TEXT_REFINEMENTS.get(detected, ()):
        if refined in accepted:
            return refined
    return None
