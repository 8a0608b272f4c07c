"""Which kind of document a file is, by its content (magic bytes, structure); its name only breaks ties.

Binary formats are told by their signatures (PDF, the zip of a DOCX, the compound file of an
encrypted Office document or an old .doc); anything else must decode as text (UTF-8, UTF-16
with a byte-order mark, else Windows-1252 when it holds no NUL), and is then an e-mail (RFC 5322
headers first), HTML (a document element first), Markdown (by name, or an ATX heading first)
or plain text.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from pathlib import PurePath

from models.documents.errors import CorruptDocument, EncryptedDocument, UnsupportedFileType
from models.documents.types import DocumentKind

_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE compound file: .doc, .xls, or an encrypted OOXML package
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
# Signatures of files that are surely not documents docsum reads, named in the 415's message.
_BINARY = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
    b"\x1f\x8b": "a gzip archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"Rar!": "a RAR archive",
    b"\x7fELF": "a program",
    b"MZ": "a program",
    b"{\\rtf": "an RTF document",
}
_HTML_START = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
_HEADER_LINE = re.compile(r"^[A-Za-z0-9-]+:[ \t]")
_MAIL_HEADERS = frozenset({"from", "to", "subject", "date", "message-id", "mime-version", "received", "return-path"})
_ATX_HEADING = re.compile(r"^#{1,6}[ \t]+\S")
_MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
_HTML_SUFFIXES = (".html", ".htm", ".xhtml")


def sniff(data: bytes, name: str | None = None) -> DocumentKind:
    """The kind of ``data``; raises ``UnsupportedFileType`` (or ``EncryptedDocument``) for anything else."""
    suffix = PurePath(name or "").suffix.lower()
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data, suffix)
    if data.startswith(_CFB):
        if _ENCRYPTED_PACKAGE in data:
            raise EncryptedDocument("the Office document is encrypted: it needs a password to open", param="file")
        raise UnsupportedFileType(
            "an old Office file (.doc, .xls): save it as .docx or PDF; docsum reads PDF, DOCX, HTML, Markdown, "
            "plain text and e-mail",
            param="file",
        )
    for signature, what in _BINARY.items():
        if data.startswith(signature):
            raise UnsupportedFileType(f"the file is {what}; {_READS}", param="file")
    text = decode_text(data)
    if _HTML_START.match(data[:4096]) or (suffix in _HTML_SUFFIXES and text.lstrip().startswith("<")):
        return "html"
    if suffix == ".eml" or _looks_like_mail(text):
        return "email"
    if suffix in _MARKDOWN_SUFFIXES:
        return "markdown"
    first = next((line for line in text.splitlines() if line.strip()), "")
    if suffix != ".txt" and _ATX_HEADING.match(first):
        return "markdown"
    return "text"


_READS = "docsum reads PDF, DOCX, HTML, Markdown, plain text and e-mail (.eml)"


def decode_text(data: bytes) -> str:
    """Text as the file holds it: UTF-8 (a BOM dropped), UTF-16 with a BOM, else Windows-1252; newlines as ``\\n``."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise CorruptDocument("the file claims UTF-16 but is not", param="file") from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            if b"\x00" in data:
                raise UnsupportedFileType(f"the file is binary, not text; {_READS}", param="file") from None
            text = data.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise UnsupportedFileType(f"the file is binary, not text; {_READS}", param="file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _zip_kind(data: bytes, suffix: str) -> DocumentKind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError) as exc:
        if suffix == ".docx":
            raise CorruptDocument(f"the DOCX is not a valid zip: {exc}", param="file") from None
        raise UnsupportedFileType(f"the file is a damaged zip archive; {_READS}", param="file") from None
    if "word/document.xml" in names:
        return "docx"
    raise UnsupportedFileType(f"the file is a zip archive, not a Word document; {_READS}", param="file")


def _looks_like_mail(text: str) -> bool:
    """RFC 5322 headers first, at least two of them ones every e-mail has, then a blank line."""
    known = 0
    for line in text[:8192].split("\n"):
        if not line.strip():
            return known >= 2
        if line[0] in " \t":
            continue  # a folded header
        if not _HEADER_LINE.match(line):
            return False
        known += line.split(":", 1)[0].lower() in _MAIL_HEADERS
    return False
