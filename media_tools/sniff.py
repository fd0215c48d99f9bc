"""What a file is, from its bytes: magic numbers, and for zip-based Office documents the parts
inside. The name a client gave a file is never trusted."""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True, slots=True)
class FileType:
    name: str  # wav, mp3, ..., pdf, docx, ..., png
    family: str  # audio, document, image
    extension: str
    content_type: str


AUDIO = {
    "wav": FileType("wav", "audio", "wav", "audio/wav"),
    "mp3": FileType("mp3", "audio", "mp3", "audio/mpeg"),
    "m4a": FileType("m4a", "audio", "m4a", "audio/mp4"),
    "ogg": FileType("ogg", "audio", "ogg", "audio/ogg"),
    "webm": FileType("webm", "audio", "webm", "audio/webm"),
    "flac": FileType("flac", "audio", "flac", "audio/flac"),
}
DOCUMENTS = {
    "pdf": FileType("pdf", "document", "pdf", "application/pdf"),
    "docx": FileType(
        "docx",
        "document",
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "pptx": FileType(
        "pptx",
        "document",
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    "xlsx": FileType(
        "xlsx",
        "document",
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    "html": FileType("html", "document", "html", "text/html"),
    "csv": FileType("csv", "document", "csv", "text/csv"),
}
IMAGES = {
    "png": FileType("png", "image", "png", "image/png"),
    "jpeg": FileType("jpeg", "image", "jpg", "image/jpeg"),
    "webp": FileType("webp", "image", "webp", "image/webp"),
    "gif": FileType("gif", "image", "gif", "image/gif"),
}
ALL = {**AUDIO, **DOCUMENTS, **IMAGES}
HEAD_BYTES = 4096
_OFFICE_PARTS = {
    "word/document.xml": "docx",
    "ppt/presentation.xml": "pptx",
    "xl/workbook.xml": "xlsx",
}


def sniff(file: BinaryIO) -> FileType | None:
    """The file's type, or None when it is none we handle. Leaves the file at its start."""
    file.seek(0)
    head = file.read(HEAD_BYTES)
    file.seek(0)
    found = _by_magic(head)
    if found == "zip":
        found = _office_kind(file)
        file.seek(0)
    elif found is None:
        found = _text_kind(head)
    return ALL.get(found) if found else None


def _by_magic(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM (and Matroska)
        return "webm"
    if head[4:8] == b"ftyp":  # ISO media: M4A and friends
        return "m4a"
    if head[:3] == b"ID3" or (
        # An MPEG audio frame header: sync bits, then a layer (ADTS AAC has layer 0).
        len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06
    ):
        return "mp3"
    if head[:5] == b"%PDF-":
        return "pdf"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def _office_kind(file: BinaryIO) -> str | None:
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    for part, kind in _OFFICE_PARTS.items():
        if part in names:
            return kind
    return None


def _text_kind(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n").lower()
    if text.startswith(("<!doctype html", "<html")) or (
        text.startswith("<") and "<html" in text[:1024]
    ):
        return "html"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a character cut at the end of the head
            return None
    lines = [line for line in text.splitlines()[:10] if line.strip()]
    if len(lines) >= 2:
        try:
            dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|")
        except csv.Error:
            return None
        widths = {len(row) for row in csv.reader(lines, dialect)}
        if len(widths) == 1 and widths.pop() >= 2:
            return "csv"
    return None
