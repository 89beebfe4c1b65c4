"""The password rules of NIST SP 800-63B: a minimum length, a generous maximum, no common passwords.

No composition rules and no truncation: spaces and any Unicode character count as typed.
"""

import gzip
import unicodedata
from functools import lru_cache
from importlib.resources import files

MAX_PASSWORD_LENGTH = 256


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, lowercased (see README for its source and licence)."""
    data = files(__package__.rpartition(".")[0] + ".data").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split())


def password_problem(password: str, min_length: int) -> str | None:
    """Why the password is refused, or None when it is acceptable. The message never repeats the password."""
    length = len(unicodedata.normalize("NFC", password))
    if length < min_length:
        return f"Password must be at least {min_length} characters long."
    if length > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters long."
    if password.lower() in common_passwords() or password.strip().lower() in common_passwords():
        return "Password is too common; choose one that is not on lists of leaked passwords."
    return None
