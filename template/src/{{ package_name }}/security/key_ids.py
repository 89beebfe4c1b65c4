"""Key ids: a name for a secret key that tokens can carry without telling anything about the key.

An id is HMAC-SHA256 of a fixed label under the key, cut to 96 bits, in base64url. Making it takes the key, and it
tells no more about the key than any token signed with it does: unlike a plain hash of the key, it cannot be looked
up in a table of hashes of guessable keys. The label holds a colon, which the base64url input of a JWS signature
never does, so an id is never the signature of anything the service would accept.
"""

import base64
import hmac

ID_BYTES = 12


def key_id(key: bytes, purpose: str) -> str:
    """The id of `key` for one `purpose` (the same key gets unrelated ids for different purposes)."""
    digest = hmac.digest(key, f"key-id:{purpose}".encode("ascii"), "sha256")
    return base64.urlsafe_b64encode(digest[:ID_BYTES]).decode("ascii")
