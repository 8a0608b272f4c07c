"""API keys as an operator configures them: one ``name:sha256-hex-of-the-key`` line per key.

Only the SHA-256 of a key is ever stored or compared. Keys are 256 random bits, so a plain
(unsalted) SHA-256 is enough: nothing about them can be guessed, unlike passwords. A key is
looked up by comparing its hash with every configured hash in constant time (``hmac.compare_digest``,
no early exit), so the time an answer takes says nothing about which hashes exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

# A key's name owns its jobs and names it in logs: short, plain.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
KEY_PREFIX = "dsk_"


class KeyFileError(ValueError):
    """The key file cannot be read, or a line of it is not ``name:sha256-hex``."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh key: 256 random bits, URL-safe, with a prefix that secret scanners can spot."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_line(name: str, key: str) -> str:
    """The key file's line for this key."""
    return f"{name}:{hash_key(key)}"


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The configured keys: (name, hash) pairs."""

    entries: tuple[tuple[str, str], ...]

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read the API key file {path}: {exc}") from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, source: str = "the API key file") -> KeyRing:
        entries: list[tuple[str, str]] = []
        names: set[str] = set()
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            name, _, digest = line.partition(":")
            name, digest = name.strip(), digest.strip().lower()
            if not NAME.match(name) or not _HEX.match(digest):
                # The line itself is never echoed: it might be a key pasted by mistake.
                raise KeyFileError(
                    f"{source}, line {number}: expected NAME:SHA256-HEX (NAME of letters, digits, _.- "
                    "up to 48; the 64 hex digits of the key's SHA-256; `docsum keys new NAME` prints one)"
                )
            if name in names:
                raise KeyFileError(f"{source}, line {number}: the name {name!r} is used twice")
            names.add(name)
            entries.append((name, digest))
        if not entries:
            raise KeyFileError(f"{source} has no keys")
        return cls(tuple(entries))

    def find(self, key: str) -> str | None:
        """The name of this key, or None; compares with every entry, whatever matches."""
        digest = hash_key(key).encode()
        found: str | None = None
        for name, expected in self.entries:
            if hmac.compare_digest(digest, expected.encode()):
                found = name
        return found
