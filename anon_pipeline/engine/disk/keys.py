"""The deployment's secret key: one per deployment, kept in the secure zone.

Every keyed transform (hashed UIDs, pseudonyms, date offsets) derives from it, so
the same key gives the same output across files, batches and reruns, and nobody
without it can link an output back to an input.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_BYTES = 32
KEY_FILE_NAME = "anon_pipeline.key"
KEY_ENV_VAR = "ANON_PIPELINE_KEY_FILE"


class KeyFileError(Exception):
    """The key file is missing, unreadable or malformed; the message says how to fix it."""


def create_key_file(path: Path) -> Path:
    """Write a new random key (hex) with mode 0600; never overwrite an existing key."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: losing the old key would orphan every hashed UID made with it.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(
            f"{path}: a key already exists; refusing to overwrite it "
            "(outputs made with it could no longer be linked)"
        ) from None
    with os.fdopen(descriptor, "w") as key_file:
        key_file.write(secrets.token_hex(KEY_BYTES) + "\n")
    return path


def load_key(path: Path | str) -> bytes:
    """Read the key from `path` (which `Settings.key_path` names: the one reader of the
    environment decides where the key is, not this function)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: key file not found; create one with `anon-pipeline init ROOT`"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(f"{path}: key file unreadable ({type(error).__name__})") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"{path}: key file is not hex; create a new one with init") from None
    if len(key) < 16:
        raise KeyFileError(f"{path}: key too short ({len(key)} bytes, need at least 16)")
    return key
