"""API keys as an operator configures them: one ``name:sha256-hex-of-the-key`` line per key.

A line may end with the key's own limits, which replace the ``DOCSUM_LIMIT_*`` settings for it:
``team-a:5f0c...:requests_per_second=20,documents_per_day=100000`` (0: no limit).

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


# The limits a key's line may set (``service.auth.limits.Limits`` has the same fields).
LIMIT_NAMES = (
    "requests_per_second",
    "input_tokens_per_minute",
    "concurrent_streams",
    "documents_per_day",
    "stored_bytes_per_day",
)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The configured keys: (name, hash) pairs, and the limits some of them set for themselves."""

    entries: tuple[tuple[str, str], ...]
    limits: dict[str, dict[str, int]]

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
        limits: dict[str, dict[str, int]] = {}
        names: set[str] = set()
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            name, _, rest = line.partition(":")
            digest, _, own = rest.partition(":")
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
            if own.strip():
                limits[name] = _own_limits(own, f"{source}, line {number}")
        if not entries:
            raise KeyFileError(f"{source} has no keys")
        return cls(tuple(entries), limits)

    def find(self, key: str) -> str | None:
        """The name of this key, or None; compares with every entry, whatever matches."""
        digest = hash_key(key).encode()
        found: str | None = None
        for name, expected in self.entries:
            if hmac.compare_digest(digest, expected.encode()):
                found = name
        return found


def _own_limits(text: str, where: str) -> dict[str, int]:
    """``requests_per_second=20,documents_per_day=0`` as a dict; a clear error for anything else."""
    limits: dict[str, int] = {}
    for part in text.split(","):
        field, _, value = part.strip().partition("=")
        if field.strip() not in LIMIT_NAMES or not value.strip().isdigit():
            raise KeyFileError(
                f"{where}: a key's limits are LIMIT=N, comma-separated; LIMIT is one of {', '.join(LIMIT_NAMES)}"
            )
        limits[field.strip()] = int(value.strip())
    return limits
