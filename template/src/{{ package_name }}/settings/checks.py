"""What a deploy check reports: an ID in the `deploy.` namespace, what is wrong, and how to fix it.

The IDs are namespaced like Django's `security.W004` so that they cannot be mistaken for the IDs of SECURITY.md.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """One insecure setting: what is wrong and how to fix it."""

    id: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.id} {self.message} Fix: {self.fix}"
