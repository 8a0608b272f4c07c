"""Apps with API keys, for tests: a key file written for the names given, and the keys in clear."""

from __future__ import annotations

from pathlib import Path

from service.auth.keys import key_line, new_key


def write_keys(directory: Path, *names: str) -> tuple[Path, dict[str, str]]:
    """A key file for these names, and each name's key."""
    keys = {name: new_key() for name in names}
    path = directory / "keys.txt"
    path.write_text("# docsum keys\n" + "".join(key_line(name, key) + "\n" for name, key in keys.items()))
    return path, keys


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
