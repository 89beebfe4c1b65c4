"""How guessable a password is once the padding that people add to reach a minimum length is taken off.

A long password is often a short one stretched: `password` repeated, `dragon..........`, `iloveyou1234567`,
`qwertyuiopasdfghjkl`. `core()` peels off, until nothing changes, what adds length but no strength: symbols and
spaces at either end; a repetition of a shorter block (`abc123abc123` is `abc123`, separators ignored); a string
whose steps repeat (`a1b2c3d4`, `13579`); and at either end a run of one character, of one code-point step
(`1234`, `zyx`, `aceg`) or along a keyboard row (`qwer`, `;lkj`). What is left is what a guesser has to find.

`guesses_log10()` asks zxcvbn (the Rust implementation, `zxcvbn-rs-py`) for the guesses an attacker needs. Its
work is bounded: it sees at most `ESTIMATED_CHARACTERS` characters, and a text rich in l33t symbols (whose
substitution tables multiply zxcvbn's dictionary work, over a second for some 100-character inputs) has its
symbols replaced by the letters they stand for first, so no check costs more than a few milliseconds.
"""

import itertools
import re
import unicodedata
from collections.abc import Iterable

from zxcvbn_rs_py import zxcvbn

# zxcvbn's dictionary work grows with the square of the length; a longer password only adds to what it sees.
ESTIMATED_CHARACTERS = 48
KEYBOARD_ROWS = (
    "`1234567890-=",
    "~!@#$%^&*()_+",
    "qwertyuiop[]\\",
    "qwertyuiop{}|",
    "asdfghjkl;'",
    'asdfghjkl:"',
    "zxcvbnm,./",
    "zxcvbnm<>?",
    "qwertzuiopü",
    "yxcvbnm",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
    "7894561230",
    "7410852963",
    *("1qaz", "2wsx", "3edc", "4rfv", "5tgb", "6yhn", "7ujm", "8ik,", "9ol.", "0p;/"),  # the columns
    *("!qaz", "@wsx", "#edc", "$rfv", "%tgb", "^yhn", "&ujm", "*ik<", "(ol>", ")p:?"),
)
_KEY_COLUMNS = tuple({key: column for column, key in enumerate(row)} for row in KEYBOARD_ROWS)
RUN_STEPS = frozenset({0, 1, -1, 2, -2})
MIN_RUN = 3
MAX_PATTERN_PERIOD = 3  # `a1b2c3`: the steps repeat every 2
MAX_BLOCK = 4  # `2024` repeated at an end
# The l33t symbols zxcvbn tries for each letter; the product of the counts present is how many substitution tables
# it enumerates, and each one costs a full dictionary pass.
L33T_SYMBOLS = {
    "a": "4@",
    "b": "8",
    "c": "({[<",
    "e": "3",
    "g": "69",
    "i": "1!|",
    "l": "1|7",
    "o": "0",
    "s": "$5",
    "t": "+7",
    "x": "%",
    "z": "2",
}
MAX_L33T_TABLES = 4
_SYMBOLS_TO_LETTERS = str.maketrans(
    {"@": "a", "(": "c", "{": "c", "[": "c", "<": "c", "!": "i", "|": "i", "$": "s", "+": "t", "%": "x"}
)
_L33T_TO_LETTERS = str.maketrans(
    {
        **{"4": "a", "8": "b", "3": "e", "6": "g", "9": "g", "1": "i", "7": "t", "0": "o", "5": "s", "2": "z"},
        **{"@": "a", "(": "c", "{": "c", "[": "c", "<": "c", "!": "i", "|": "i", "$": "s", "+": "t", "%": "x"},
    }
)
_WORD_SEPARATORS = re.compile(r"[\W_]+")
_DIGITS_AND_LETTERS = re.compile(r"(?<=\d)(?=\D)|(?<=\D)(?=\d)")
MIN_CONTEXT_WORD = 3


def fold(text: str) -> str:
    """The form the checks compare: NFKC (fullwidth and other compatibility forms as plain ones), case folded."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def unleet(text: str) -> str:
    """`p@ssw0rd` as `password`: each l33t symbol as the letter it most often stands for."""
    return text.translate(_L33T_TO_LETTERS)


def _period(text: str) -> int:
    """The smallest p with text[i] == text[i + p] throughout (Knuth-Morris-Pratt's failure function)."""
    border = [0] * len(text)
    matched = 0
    for index in range(1, len(text)):
        while matched and text[index] != text[matched]:
            matched = border[matched - 1]
        if text[index] == text[matched]:
            matched += 1
        border[index] = matched
    return len(text) - (border[-1] if text else 0)


def _step_period(text: str) -> int:
    """The smallest period (up to MAX_PATTERN_PERIOD) of the steps between code points, or 0 when they have none."""
    steps = [ord(b) - ord(a) for a, b in itertools.pairwise(text)]
    for period in range(1, MAX_PATTERN_PERIOD + 1):
        if len(steps) >= 2 * period + 2 and all(steps[i] == steps[i + period] for i in range(len(steps) - period)):
            return period
    return 0


def _run_length(text: str) -> int:
    """How many characters at the start of `text` follow one rule: one character repeated, one code-point step,
    neighbouring keys of one keyboard row or column in one direction, or a block of up to MAX_BLOCK repeated."""
    if len(text) < 2:
        return len(text)
    longest = 1
    for block in range(2, MAX_BLOCK + 1):
        end = block
        while end < len(text) and text[end] == text[end - block]:
            end += 1
        if end >= 2 * block:
            longest = max(longest, end)
    step = ord(text[1]) - ord(text[0])
    if step in RUN_STEPS:
        end = 2
        while end < len(text) and ord(text[end]) - ord(text[end - 1]) == step:
            end += 1
        longest = max(longest, end)
    if text[0].isdigit() and text[1].isdigit() and (step := (int(text[1]) - int(text[0])) % 10) in (1, 9):
        end = 2  # counting on past 9 (or back past 0), as in 12345678901
        while end < len(text) and text[end].isdigit() and (int(text[end]) - int(text[end - 1])) % 10 == step:
            end += 1
        longest = max(longest, end)
    for columns in _KEY_COLUMNS:
        if text[0] not in columns or text[1] not in columns:
            continue
        direction = columns[text[1]] - columns[text[0]]
        if direction not in (1, -1):
            continue
        end = 2
        while end < len(text) and text[end] in columns and columns[text[end]] - columns[text[end - 1]] == direction:
            end += 1
        longest = max(longest, end)
    return longest


def core(folded: str) -> str:
    """What is left of a folded password once padding, repetition, sequences and keyboard runs are taken off."""
    previous = None
    text = folded
    while text != previous:
        previous = text
        text = _strip_symbols(text)
        letters_and_digits = "".join(character for character in text if character.isalnum())
        if len(letters_and_digits) >= 2 and (period := _period(letters_and_digits)) <= len(letters_and_digits) // 2:
            text = letters_and_digits[:period]
        if period := _step_period(text):
            text = text[: period + 1]
        if (front := _run_length(text)) >= MIN_RUN:
            text = text[front:]
        if (back := _run_length(text[::-1])) >= MIN_RUN:
            text = text[: len(text) - back]
    return text


def _strip_symbols(text: str) -> str:
    start, end = 0, len(text)
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return text[start:end]


def context_words(values: Iterable[str]) -> list[str]:
    """Folded words that a password must not be built on, longest first: each value (an email, the service's name),
    an email's local part, each value without its separators, and their words of at least 3 characters."""
    words: set[str] = set()
    for value in values:
        folded = fold(value)
        local = folded.partition("@")[0]
        words.update({folded, local, _WORD_SEPARATORS.sub("", folded), _WORD_SEPARATORS.sub("", local)})
        for part in _WORD_SEPARATORS.split(local if "@" in folded else folded):
            words.update({part, *_DIGITS_AND_LETTERS.split(part)})
    return sorted((word for word in words if len(word) >= MIN_CONTEXT_WORD), key=lambda word: (-len(word), word))


def without_words(folded: str, words: Iterable[str]) -> str:
    """`folded` with every occurrence of each word (longest first) replaced by a space."""
    for word in words:
        folded = folded.replace(word, " ")
    return folded


def _l33t_tables(text: str) -> int:
    tables = 1
    for symbols in L33T_SYMBOLS.values():
        tables *= max(1, sum(symbol in text for symbol in symbols))
    return tables


def guesses_log10(text: str, context: Iterable[str] = ()) -> float:
    """zxcvbn's estimate of the guesses needed for `text` (log10), with `context` as words it knows; 0 for ''."""
    text = text[:ESTIMATED_CHARACTERS]
    if not text:
        return 0.0
    if _l33t_tables(text) > MAX_L33T_TABLES:
        text = text.translate(_SYMBOLS_TO_LETTERS)
    return float(zxcvbn(text, list(context)).guesses_log10)
