"""Encryption at rest: the key ring and where its keys come from.

What a call says ends up in the database: checkpoints hold the dialogue (card
and phone numbers spoken as words, the caller's name, misheard or not, which
redaction cannot always catch) and the store holds what is remembered about a
caller. So both are encrypted by default, with LangGraph's own mechanism
(:class:`~langgraph.checkpoint.serde.encrypted.EncryptedSerializer`, AES-EAX
from pycryptodome): a copied disk, backup or database dump shows no
conversation and no caller.

Where the keys come from (:func:`key_ring`), the ``DIALGRAPH_CHECKPOINT_KEY``
setting:

* empty (the default): the key file ``var/dialgraph.key`` (under the var
  directory), generated on the first start of a single machine, mode 0600,
  created atomically so processes starting together agree on one key. It is
  logged once that it was generated (never the key): keep it, and give every
  worker and ``langgraph dev`` the same key.
* ``k1,k2,...``: secrets, newest first (e.g. ``openssl rand -hex 32``). New data
  is encrypted with the first; data under any listed key still decrypts.
* ``off``: no encryption, for teams who inspect the database with plain SQL.
  Anyone who can read the database (or a backup) then reads every call.

A secret becomes an AES-256 key by SHA-256 (the derivation this project has
always used, so existing keys keep working). Decryption tries each key of the
ring: EAX's tag says which one fits, and when none does the error says the key
is missing, never returns garbage. Checkpoints written before encryption was on
still load (they carry no cipher name).

Rotating: put the new key first (``new,old``), restart, then run
:func:`memory.rekey.rotate` (``dialgraph rekey``) to re-encrypt every stored
checkpoint and store item under the new key; afterwards the old key can be
dropped.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.serde.base import CipherProtocol

if TYPE_CHECKING:
    from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

__all__ = [
    "CHECKPOINT_KEY_ENV",
    "ENCRYPTION_OFF",
    "KEY_FILE_NAME",
    "VAR_DIR_ENV",
    "KeyRing",
    "KeyRingCipher",
    "WrongKeyError",
    "default_var_dir",
    "key_ring",
    "load_or_create_key_file",
    "parse_keys",
    "split_keys",
]

logger = logging.getLogger(__name__)

CHECKPOINT_KEY_ENV = "DIALGRAPH_CHECKPOINT_KEY"
VAR_DIR_ENV = "DIALGRAPH_VAR_DIR"  # read by the langgraph.json factories, as the service does
ENCRYPTION_OFF = "off"
KEY_FILE_NAME = "dialgraph.key"
CIPHER_NAME = "aes"  # what EncryptedSerializer.from_pycryptodome_aes writes: interchangeable
MIN_SECRET_CHARS = 16  # a shorter secret is a password, not a key
_NONCE_BYTES = 16  # pycryptodome's EAX default
_TAG_BYTES = 16
_LABEL_CONTEXT = b"dialgraph namespace label\x00"  # keeps label keys apart from AES keys


class WrongKeyError(ValueError):
    """Stored data was encrypted with a key the ring does not hold."""


class KeyRing:
    """Secrets, newest first: encrypt with the first, decrypt with any.

    The secrets never appear in ``repr`` or ``str``.
    """

    __slots__ = ("_aes_keys", "_label_keys")

    def __init__(self, secrets_newest_first: Sequence[str]) -> None:
        """Derive the AES and label keys of ``secrets_newest_first`` (at least one)."""
        if not secrets_newest_first:
            raise ValueError("a key ring needs at least one key")
        self._aes_keys = tuple(hashlib.sha256(s.encode()).digest() for s in secrets_newest_first)
        self._label_keys = tuple(
            hashlib.sha256(_LABEL_CONTEXT + s.encode()).digest() for s in secrets_newest_first
        )

    def __len__(self) -> int:
        return len(self._aes_keys)

    def __repr__(self) -> str:
        return f"KeyRing(<{len(self)} keys>)"

    def encrypt(self, plaintext: bytes) -> bytes:
        """``nonce + tag + ciphertext`` under the newest key (LangGraph's AES layout)."""
        aes = _aes()
        cipher = aes.new(self._aes_keys[0], aes.MODE_EAX)
        ciphertext: bytes
        tag: bytes
        ciphertext, tag = cipher.encrypt_and_digest(plaintext)
        return bytes(cipher.nonce) + tag + ciphertext

    def decrypt(self, sealed: bytes) -> tuple[bytes, int]:
        """The plaintext of ``sealed`` and the index of the key that opened it (0 = newest).

        Raises:
            WrongKeyError: no key of the ring opens it (or it was altered).
        """
        nonce = sealed[:_NONCE_BYTES]
        tag = sealed[_NONCE_BYTES : _NONCE_BYTES + _TAG_BYTES]
        body = sealed[_NONCE_BYTES + _TAG_BYTES :]
        aes = _aes()
        for index, key in enumerate(self._aes_keys):
            try:
                cipher = aes.new(key, aes.MODE_EAX, nonce=nonce)
                return cipher.decrypt_and_verify(body, tag), index
            except ValueError:  # the tag does not match: another key, or tampering
                continue
        raise WrongKeyError(
            f"stored data was encrypted with a key that {CHECKPOINT_KEY_ENV} does not list "
            "(the key was changed, or this machine generated its own): list the old key "
            "after the new one, or copy the key file from the first machine"
        )

    def labels(self, value: str) -> tuple[str, ...]:
        """``value``'s pseudonymous labels, one per key, newest first.

        A keyed HMAC: the same number gives the same label (so it can be
        looked up), but the label does not give the number back without the
        key, whereas a plain hash of a phone number is reversed by trying them
        all.
        """
        return tuple(
            "h:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]
            for key in self._label_keys
        )

    def serializer(self) -> EncryptedSerializer:
        """The checkpoint serializer: JsonPlus, then AES under this ring."""
        from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

        return EncryptedSerializer(KeyRingCipher(self))

    def seal_text(self, plaintext: bytes) -> str:
        """``plaintext`` encrypted, as ``aes:<base64>`` (for JSON columns)."""
        return f"{CIPHER_NAME}:" + base64.b64encode(self.encrypt(plaintext)).decode("ascii")

    def open_text(self, sealed: str) -> tuple[bytes, int]:
        """The inverse of :meth:`seal_text`, with the index of the key that opened it.

        Raises:
            WrongKeyError: no key of the ring opens it, or it is not sealed text.
        """
        name, _, data = sealed.partition(":")
        if name != CIPHER_NAME:
            raise WrongKeyError(f"unsupported cipher {name!r}")
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            raise WrongKeyError("sealed text is not base64") from None
        return self.decrypt(raw)


class KeyRingCipher(CipherProtocol):
    """LangGraph's cipher protocol over a :class:`KeyRing` (several keys, for rotation)."""

    def __init__(self, ring: KeyRing) -> None:
        """Encrypt and decrypt with ``ring``."""
        self.ring = ring

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        """Encrypt under the newest key."""
        return CIPHER_NAME, self.ring.encrypt(plaintext)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        """Decrypt under whichever key fits.

        Raises:
            WrongKeyError: no key fits, or the cipher is not AES.
        """
        if ciphername != CIPHER_NAME:
            raise WrongKeyError(f"unsupported cipher {ciphername!r}")
        return self.ring.decrypt(ciphertext)[0]


def parse_keys(raw: str) -> str:
    """Validate the ``DIALGRAPH_CHECKPOINT_KEY`` value; return it normalised.

    Accepts ``""`` (the key file), ``off``, or secrets separated by commas,
    newest first, each at least :data:`MIN_SECRET_CHARS` characters. The
    error never repeats the value (it is a secret).

    Raises:
        ValueError: an empty or too short key in the list.
    """
    value = raw.strip()
    if not value or value.lower() == ENCRYPTION_OFF:
        return value.lower()
    keys = split_keys(value)
    if not keys or len(keys) != len(value.split(",")):
        raise ValueError("an empty key in the list (keys are separated by commas, newest first)")
    short = [i + 1 for i, k in enumerate(keys) if len(k) < MIN_SECRET_CHARS]
    if short:
        raise ValueError(
            f"key {short[0]} is shorter than {MIN_SECRET_CHARS} characters "
            "(use e.g. `openssl rand -hex 32`)"
        )
    return ",".join(keys)


def default_var_dir() -> Path:
    """The var directory as the service resolves it (``DIALGRAPH_VAR_DIR``, else ``var``)."""
    return Path(os.environ.get(VAR_DIR_ENV, "").strip() or "var")


def key_ring(setting: str | None, *, var_dir: Path) -> KeyRing | None:
    """The key ring ``setting`` names, or ``None`` when encryption is off.

    Args:
        setting: The ``DIALGRAPH_CHECKPOINT_KEY`` value; ``None`` reads that
            variable from the environment (the ``langgraph.json`` factories).
            ``""``: the key file in ``var_dir``, generated if absent.
        var_dir: Where the key file lives.

    Raises:
        ValueError: the setting or the key file holds a malformed key list.
    """
    value = parse_keys(os.environ.get(CHECKPOINT_KEY_ENV, "") if setting is None else setting)
    if value == ENCRYPTION_OFF:
        _warn_plain_text()
        return None
    if value:
        return KeyRing(split_keys(value))
    return KeyRing(split_keys(load_or_create_key_file(var_dir)))


def load_or_create_key_file(var_dir: Path) -> str:
    """The key list kept in ``var_dir/dialgraph.key``, generating one key if absent.

    The file is written whole under a temporary name and hard-linked into
    place, which fails if the name exists: of processes starting together,
    exactly one key wins and every other process reads that one. The file
    may hold several keys (commas or lines, newest first), for rotation on
    a single machine.

    Raises:
        ValueError: the file exists but holds no valid key list.
    """
    path = Path(var_dir) / KEY_FILE_NAME
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{KEY_FILE_NAME}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secret + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_key_file(path)  # another process got there first: its key
    finally:
        os.unlink(tmp)
    logger.warning(
        "generated the encryption key for checkpoints and caller memory in %s: keep it "
        "(losing it loses conversation state and caller memory); every worker and "
        "`langgraph dev` must share it (copy the file or set %s)",
        path,
        CHECKPOINT_KEY_ENV,
    )
    return secret


def _read_key_file(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        _warn_loose_mode(str(path), mode)
    try:
        return parse_keys(",".join(line.strip() for line in text.splitlines() if line.strip()))
    except ValueError as exc:
        raise ValueError(f"the key file {path}: {exc}") from None


@functools.cache
def _aes() -> Any:
    """pycryptodome's AES, imported on first use: the settings import this module."""
    from Crypto.Cipher import AES

    return AES


def split_keys(value: str) -> list[str]:
    """The secrets of a ``DIALGRAPH_CHECKPOINT_KEY`` value, newest first, blanks dropped."""
    return [k.strip() for k in value.split(",") if k.strip()]


@functools.cache
def _warn_loose_mode(path: str, mode: int) -> None:
    logger.warning("the key file %s is readable by others (mode %o): chmod 600 it", path, mode)


@functools.cache
def _warn_plain_text() -> None:
    logger.warning(
        "%s=off: checkpoints and caller memory are stored in plain text", CHECKPOINT_KEY_ENV
    )
