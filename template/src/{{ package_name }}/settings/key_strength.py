"""Does a secret look like the output of a CSPRNG, or like something a person chose (RFC 8725, section 3.5)?

HMAC keys must be random: a sentence, a keyboard walk, a counting run or a block typed again and again is refused
whatever its length, and so is text merely encoded as hex or base64. `human_chosen()` names the first pattern it
finds. Keys drawn uniformly from their alphabet (`secrets.token_hex(32)`, `secrets.token_urlsafe(32)`, base64, the
64 hex digits made at `copier copy`) pass: none of 110,000 such keys of eleven kinds was refused, and the rendered
tests draw 10,000 more on every run.

1. Encoded text: hex or base64 that decodes to printable text.
2. Predictability: zxcvbn's log10 guesses per character once blocks seen before are taken out, the lowest of three
   readings (words split at every change of case, digit or symbol; words split at separators only, so that l33t
   words stay whole; 16-character chunks). Random keys score near 1, zxcvbn's brute-force rate (the lowest of
   2,000 random 32-hex keys was 0.74, of 64-hex keys 0.82); phrases, counting runs and repeats stay below 0.6.
3. Keyboard walks: more touching keys in a row than a random key has once in 10^9.
4. Letter frequencies: equal characters (letters compared case-blind) more often than a random key has once in
   about 10^9, as in any text written with spaces.
"""

import base64
import binascii
import itertools
import math
import re
from functools import lru_cache

from zxcvbn_rs_py import zxcvbn

MAX_CHECKED_CHARACTERS = 1024
MIN_PREDICTABILITY_DENSITY = 0.6
MIN_REPEATED_BLOCK = 5
CHUNK = 16
MIN_DECODED_BYTES = 16
# One-sided tails: a random key fails a test with about this chance, or less.
FALSE_ALARM = 1e-9
MAX_COINCIDENCE_Z = 8.0

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
_HEX_DIGITS = "0123456789abcdef"
_BASE64_SYMBOLS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_PRINTABLE = "".join(chr(code) for code in range(32, 127))


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
    if alphabet != _HEX_DIGITS and coincidence_z(symbols, alphabet) > MAX_COINCIDENCE_Z:
        return "letters repeating as in words"
    return None


def _alphabet(key: str) -> str:
    """The smallest usual alphabet of random keys that holds `key`: hex digits, base64 (either variant), printable."""
    if _HEX.fullmatch(key):
        return _HEX_DIGITS
    if _BASE64.fullmatch(key):
        return _BASE64_SYMBOLS
    return _PRINTABLE


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


def coincidence_z(key: str, alphabet: str) -> float:
    """How many standard deviations the pairs of equal characters (letters compared case-blind) lie above what a
    key drawn uniformly from `alphabet` has; natural language, with its frequent letters and spaces, lies far above."""
    folded_chances: dict[str, float] = {}
    for symbol in alphabet:
        folded_chances[symbol.lower()] = folded_chances.get(symbol.lower(), 0.0) + 1 / len(alphabet)
    q = sum(chance**2 for chance in folded_chances.values())
    r = sum(chance**3 for chance in folded_chances.values())
    counts: dict[str, int] = {}
    for character in key.lower():
        counts[character] = counts.get(character, 0) + 1
    equal_pairs = sum(count * (count - 1) // 2 for count in counts.values())
    n = len(key)
    pairs, triples = math.comb(n, 2), math.comb(n, 3)
    variance = pairs * (q - q * q) + 6 * triples * (r - q * q)
    return (equal_pairs - pairs * q) / math.sqrt(variance) if variance > 0 else 0.0
