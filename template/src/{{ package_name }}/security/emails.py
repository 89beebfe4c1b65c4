"""One spelling per address: register, login, create-admin and every lookup name an account the same way.

An address is stripped of surrounding whitespace, folded with Unicode NFKC and lower-cased:

- NFKC composes what can be composed, so `José` typed with a combining accent (`e` + U+0301) and with the
  precomposed `é` is one address;
- it also folds compatibility forms, so look-alikes such as the fullwidth letters, `@` and `.` (U+FF01..U+FF5E),
  the ligature U+FB01 or the Kelvin sign U+212A are the plain characters they stand for, not other accounts;
- `str.lower()`, not `casefold()`: casefolding would turn `straße` into `strasse`, another mailbox, and the stored
  address is where mail goes.

What is left is checked and normalised once more by email-validator (through pydantic's `EmailStr`: an IDNA
domain such as `xn--bcher-kva.example` becomes `bücher.example`), then folded again. Letters of other scripts that
merely look alike (Cyrillic U+0430 for Latin `a`) are distinct characters and stay distinct addresses.
"""

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter
from pydantic.networks import EmailStr

MAX_EMAIL_LENGTH = 320


def fold_email(value: str) -> str:
    """Whitespace off, NFKC, lower-case; the same again is the same (`fold_email(fold_email(x)) == fold_email(x)`)."""
    folded = unicodedata.normalize("NFKC", value.strip()).lower()
    return unicodedata.normalize("NFKC", folded).strip()


def _fold_input(value: object) -> object:
    return fold_email(value) if isinstance(value, str) else value


# The type of every email a request or a command gives: folded, validated, folded again.
EmailAddress = Annotated[
    EmailStr, BeforeValidator(_fold_input), AfterValidator(fold_email), Field(max_length=MAX_EMAIL_LENGTH)
]
_EMAIL_ADDRESS: TypeAdapter[str] = TypeAdapter(EmailAddress)


def normalize_email(value: str) -> str:
    """The one spelling of a valid address; ValueError (pydantic's ValidationError) when it is not an address."""
    return _EMAIL_ADDRESS.validate_python(value)


def email_for_lookup(value: str) -> str:
    """The spelling to look an account up by: `normalize_email`, or for what is not an address the folded text,
    which matches no account (every stored address is valid) but still names one rate-limit budget."""
    try:
        return normalize_email(value)
    except ValueError:
        return fold_email(value)
