"""Does a secret look like the output of a CSPRNG, or like something a person chose (RFC 8725, section 3.5)?

HMAC keys must be random: a sentence, a keyboard walk, a counting run or a block typed again and again is refused
whatever its length, and so is text merely encoded as hex or base64. `human_chosen()` names the first pattern it
finds. Keys drawn uniformly from their alphabet (`secrets.token_hex(32)`, `secrets.token_urlsafe(32)`, base64, the
64 hex digits made at `copier copy`, letters and digits, printable ASCII) pass: none of 100,000 such keys of ten
kinds was refused, and the rendered tests draw 1,000 more on every run.

1. Encoded text: hex or base64 that decodes to printable text.
2. Predictability: zxcvbn's log10 guesses per character once blocks seen before are taken out, the lowest of three
   readings (words split at every change of case, digit or symbol; words split at separators only, so that l33t
   words stay whole; 16-character chunks). Random keys score near 1, zxcvbn's brute-force rate (the lowest of
   2,000 random 32-hex keys was 0.74, of 64-hex keys 0.82); phrases, counting runs and repeats stay below 0.6.
3. Keyboard walks: more touching keys in a row than a random key has once in 10^9.
4. Letter frequencies: characters as frequent as in prose (spaces, `e`, `n`, `r`, ...), weighed as a likelihood
   ratio against uniform draws; a random key reaches the threshold with chance at most FALSE_ALARM, at any length
   (Markov's inequality), while a sentence of 50 characters in English, German, French or Spanish lies far above it.
"""

import base64
import binascii
import itertools
import math
import re
import string
from functools import lru_cache

from zxcvbn_rs_py import zxcvbn

MAX_CHECKED_CHARACTERS = 1024
MIN_PREDICTABILITY_DENSITY = 0.6
MIN_REPEATED_BLOCK = 5
CHUNK = 16
MIN_DECODED_BYTES = 16
# One-sided tails: a random key fails a test with about this chance, or less.
FALSE_ALARM = 1e-9
MIN_TEXT_EVIDENCE = math.log(1 / FALSE_ALARM)  # nats

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+|[^A-Za-z0-9]+")
_SEPARATED = re.compile(r"[^\s\-_.,;:/\\~'\"]+|[\s\-_.,;:/\\~'\"]+")
_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+=*")
_PRINTABLE_BYTES = frozenset(range(32, 127)) | {9, 10, 13}
_KEYBOARD_ROWS = ("`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./")
_SHIFTED_ROWS = ("~!@#$%^&*()_+", "QWERTYUIOP{}|", 'ASDFGHJKL:"', "ZXCVBNM<>?")
_ROW_OFFSETS = (0.0, 1.5, 1.75, 2.25)  # where each row's first key sits, in key widths: `q` lies between `1` and `2`
_KEY_AT = {
    character: (row, offset + column)
    for rows in (_KEYBOARD_ROWS, _SHIFTED_ROWS)
    for row, (keys, offset) in enumerate(zip(rows, _ROW_OFFSETS, strict=True))
    for column, character in enumerate(keys)
}
_HEX_ALPHABETS = ("0123456789abcdef", "0123456789ABCDEF")
_PRINTABLE = "".join(chr(code) for code in range(32, 127))
# The alphabets of usual key generators, smallest first; a key is judged as a draw from the first that holds it.
_ALPHABETS = (
    *_HEX_ALPHABETS,
    string.ascii_lowercase,
    string.ascii_lowercase + string.digits,
    string.ascii_letters + string.digits,
    string.ascii_letters + string.digits + "-_",
    string.ascii_letters + string.digits + "+/",
    _PRINTABLE,
)
# How often each character appears in prose, per 1,000, letters case-blind: a blend of English, German, French and
# Spanish. Every other character counts 1.
_PROSE_WEIGHTS = {
    " ": 180, "e": 100, "t": 70, "a": 68, "n": 62, "i": 62, "o": 62, "s": 55, "r": 55, "h": 40, "l": 38, "d": 35,
    "c": 28, "u": 28, "m": 24, "p": 18, "g": 17, "f": 17, "w": 15, "y": 14, "b": 13, "v": 10, "k": 8, ",": 10,
    ".": 10, "z": 3, "j": 3, "-": 3, "'": 3, "x": 2, "q": 2,
}  # fmt: skip


def human_chosen(secret: str) -> str | None:
    """What makes `secret` look chosen by a person rather than drawn from a CSPRNG, or None when nothing does."""
    key = secret[:MAX_CHECKED_CHARACTERS]
    if not key:
        return "empty"
    if _encoded_text(key):
        return "text encoded as hex or base64"
    if predictability_density(key) < MIN_PREDICTABILITY_DENSITY:
        return "words, sequences or repeated blocks"
    symbols = key.rstrip("=") if _BASE64.fullmatch(key) else key
    alphabet = _alphabet(symbols)
    if _keyboard_walk(symbols, alphabet):
        return "a walk along the keyboard"
    if alphabet not in _HEX_ALPHABETS and text_evidence(symbols, alphabet) > MIN_TEXT_EVIDENCE:
        return "letters as frequent as in prose"
    return None


def _alphabet(key: str) -> str:
    """The smallest usual alphabet of random keys that holds `key`: hex digits, letters and digits, base64 (either
    variant), printable ASCII."""
    characters = set(key)
    return next((alphabet for alphabet in _ALPHABETS if characters <= set(alphabet)), _PRINTABLE)


def _encoded_text(key: str) -> bool:
    raw: bytes | None = None
    if _HEX.fullmatch(key.lower()) and len(key) % 2 == 0:
        raw = bytes.fromhex(key)
    elif _BASE64.fullmatch(key):
        text = key.rstrip("=").replace("-", "+").replace("_", "/")
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except binascii.Error:
            raw = None
    return raw is not None and len(raw) >= MIN_DECODED_BYTES and set(raw) <= _PRINTABLE_BYTES


def _novel(key: str) -> str:
    """`key` without the characters of every block of MIN_REPEATED_BLOCK that appeared earlier."""
    repeated = [False] * len(key)
    for start in range(len(key) - MIN_REPEATED_BLOCK + 1):
        end = start + MIN_REPEATED_BLOCK
        if key.find(key[start:end], 0, end - 1) != -1:
            repeated[start:end] = [True] * MIN_REPEATED_BLOCK
    return "".join(character for character, seen in zip(key, repeated, strict=True) if not seen)


@lru_cache(maxsize=4096)
def _guesses_log10(text: str) -> float:
    return float(zxcvbn(text).guesses_log10)


def _sum_over(parts: list[str], chunk: int | None = None) -> float:
    """zxcvbn's log10 guesses summed over the parts, each cut into pieces of `chunk` characters if given (zxcvbn
    stops counting near 10^19, which a long random part would reach); a piece seen before adds nothing."""
    seen: set[str] = set()
    total = 0.0
    for part in parts:
        for start in range(0, len(part), chunk or len(part)):
            piece = part[start : start + chunk] if chunk else part
            folded = piece.lower()
            if (len(folded) >= 3 or not folded.isalnum()) and folded in seen:
                continue
            seen.add(folded)
            total += _guesses_log10(piece)
    return total


def predictability_density(key: str) -> float:
    """zxcvbn's log10 guesses per character once repeated blocks are out: the lowest of three readings of the key,
    split into words at every change of case, digit or symbol (`ThisIsMyKey`, `key2024`); at separators only, so
    that zxcvbn sees l33t words whole (`$1gn1ng-k3y`); and into plain 16-character chunks (mixed patterns)."""
    novel = _novel(key)
    readings = (
        _sum_over(_WORDS.findall(novel)),
        _sum_over(_SEPARATED.findall(novel), CHUNK),
        _sum_over([novel], CHUNK),
    )
    return min(readings) / len(key)


def _neighbours(first: str, second: str) -> bool:
    """The same key (shifted or not) or touching keys on a US keyboard: beside, above or below."""
    if first not in _KEY_AT or second not in _KEY_AT:
        return False
    (row, place), (other_row, other_place) = _KEY_AT[first], _KEY_AT[second]
    if row == other_row:
        return abs(place - other_place) <= 1
    return abs(row - other_row) == 1 and abs(place - other_place) <= 0.75


@lru_cache(maxsize=8)
def _neighbour_chance(alphabet: str) -> float:
    pairs = sum(_neighbours(first, second) for first in alphabet for second in alphabet)
    return pairs / len(alphabet) ** 2


def _binomial_tail(trials: int, chance: float, at_least: int) -> float:
    """P(X >= at_least) for X ~ Binomial(trials, chance), summed in logarithms so that no term overflows."""
    log_chance, log_miss = math.log(chance), math.log1p(-chance)
    whole = math.lgamma(trials + 1)
    terms = (
        whole - math.lgamma(hits + 1) - math.lgamma(trials - hits + 1) + hits * log_chance + (trials - hits) * log_miss
        for hits in range(at_least, trials + 1)
    )
    return sum(math.exp(term) for term in terms)


def _keyboard_walk(key: str, alphabet: str) -> bool:
    pairs = len(key) - 1
    if pairs < 1:
        return False
    walked = sum(_neighbours(first, second) for first, second in itertools.pairwise(key))
    return _binomial_tail(pairs, _neighbour_chance(alphabet), walked) < FALSE_ALARM


@lru_cache(maxsize=16)
def _chances(alphabet: str) -> tuple[dict[str, float], dict[str, float]]:
    """Each character's chance (letters case-blind) in a uniform draw from `alphabet`, and in prose written with it."""
    uniform: dict[str, float] = {}
    for symbol in alphabet:
        uniform[symbol.lower()] = uniform.get(symbol.lower(), 0.0) + 1 / len(alphabet)
    weight = sum(_PROSE_WEIGHTS.get(character, 1) for character in uniform)
    prose = {character: _PROSE_WEIGHTS.get(character, 1) / weight for character in uniform}
    return uniform, prose


def text_evidence(key: str, alphabet: str) -> float:
    """How much likelier `key` is as prose than as a uniform draw from `alphabet`: the log-likelihood ratio, in nats.
    Under uniform draws the ratio's mean is 1, so it reaches e^t with chance at most e^-t whatever the length."""
    uniform, prose = _chances(alphabet)
    return sum(math.log(prose[character] / uniform[character]) for character in key.lower() if character in uniform)
