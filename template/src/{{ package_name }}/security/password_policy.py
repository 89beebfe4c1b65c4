"""The password rules: NIST SP 800-63B's minimum length and generous maximum, and no guessable passwords.

No composition rules and no truncation: spaces and any Unicode character count as typed. A password of the right
length is refused when, compared folded (NFKC, case folded) and by its core (`password_strength.core`: what is
left once padding, repetition, sequences and keyboard runs are taken off):

- it or its core is on the bundled list of common passwords, also read as l33t (`p@ssw0rd`), so the list applies
  at any minimum length: `password1234567`, `dragon..........` and `monkeymonkeymonkey` are the listed words;
- it is built on a context word (the account's email, the email's local part, the service's name) with nothing
  hard to guess left once those are taken out;
- zxcvbn estimates that its core takes fewer than 10^8 guesses (below zxcvbn's score 3).

The checks run before any hashing and cost a few milliseconds at most (`password_strength.py` bounds zxcvbn's work).
"""

import gzip
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from importlib.resources import files

from .password_strength import context_words, core, fold, guesses_log10, unleet, without_words

MAX_PASSWORD_LENGTH = 256
# zxcvbn's score 3 ("safely unguessable"): 10^8 guesses take four months at 10 a second, unthrottled.
MIN_GUESSES_LOG10 = 8.0

TOO_COMMON = "Password is too common; choose one that is not on lists of leaked passwords."
BASED_ON_CONTEXT = "Password must not be based on your email address or on the name of this service."
TOO_GUESSABLE = (
    "Password is too easy to guess: repeated characters or words, sequences and keyboard rows add no strength; "
    "a few unrelated words do."
)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, lowercased (see README for its source and licence)."""
    data = files(__package__.rpartition(".")[0] + ".data").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split())


def _listed(text: str) -> bool:
    common = common_passwords()
    return text in common or unleet(text) in common


def _guessable(center: str, words: Iterable[str]) -> bool:
    return not center or _listed(center) or guesses_log10(center, words) < MIN_GUESSES_LOG10


def password_problem(password: str, min_length: int, *, context: Iterable[str] = ()) -> str | None:
    """Why the password is refused, or None when it is acceptable; `context` holds the account's email and the
    service's name. The message never repeats the password."""
    length = len(unicodedata.normalize("NFC", password))
    if length < min_length:
        return f"Password must be at least {min_length} characters long."
    if length > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters long."
    folded = fold(password)
    center = core(folded)
    if _listed(folded) or _listed(folded.strip()) or (center and _listed(center)):
        return TOO_COMMON
    words = context_words(context)
    rest = without_words(folded, words)
    if rest != folded and _guessable(core(rest), words):
        return BASED_ON_CONTEXT
    if _guessable(center, words):
        return TOO_GUESSABLE
    return None
