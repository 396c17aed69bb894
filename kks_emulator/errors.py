"""One exception hierarchy for the whole project.

Everything the project raises on purpose is a `KksError`. The CLI turns any `KksError` into one
line on stderr and the error's `exit_code` (2 unless a class says otherwise, as click's
exceptions carry theirs); anything else is a bug and keeps its traceback. Library code below
the CLI never prints and never exits.
"""

from __future__ import annotations


class KksError(Exception):
    """Base class of every deliberate error in `sim` and `kks_emulator`."""

    #: the process exit code the CLI returns for this error
    exit_code: int = 2


class InputError(KksError):
    """Bad user input: a missing file, a malformed argument, an unparsable value."""


class ConfigError(InputError):
    """A configuration or scenario file that fails validation.

    The message names the file, the key and what was expected, on one line.
    """

    def __init__(self, path: str, key: str, expected: str) -> None:
        self.path = path
        self.key = key
        self.expected = expected
        super().__init__(f"{path}: {key}: {expected}")


class CardError(KksError):
    """A card answered with a status word the caller did not accept."""

    def __init__(self, message: str, sw: int | None = None) -> None:
        self.sw = sw
        if sw is not None:
            message = f"{message} (SW {sw:04X})"
        super().__init__(message)


class StoreError(KksError):
    """The card's persistent store is unreadable or failed its integrity check."""


class TransportError(KksError):
    """A transport (in-process, PC/SC, vpcd) could not deliver an APDU or its answer."""


class IssuerError(KksError):
    """The issuer host refused a request (unknown account, bad cryptogram, limits, ...)."""


class MalformedRequest(IssuerError):
    """A request field has the wrong type, format or length: refused before any business rule.

    A malformed request is answered but never stored under its idempotency key, so the corrected
    request may reuse the key (docs/issuer.md, "Requests and idempotency").
    """


class IdempotencyError(IssuerError):
    """The same idempotency key was reused with a different request body."""


class LedgerInvariantError(IssuerError):
    """An audit found the ledger breaking one of its invariants (L1-L6)."""


class RegistryError(KksError):
    """The household registry on disk is missing, truncated or of another schema version."""


class PcscError(TransportError):
    """A PC/SC call failed; `hresult` is the PC/SC return code when there is one."""

    def __init__(self, message: str, hresult: int | None = None) -> None:
        self.hresult = hresult
        super().__init__(message)


class PcscdNotRunning(PcscError):
    """The PC/SC daemon is not running, so no reader can be reached."""


class ReaderNotFound(PcscError):
    """No PC/SC reader matches the requested name or index (or there is no reader at all)."""


class NoCard(PcscError):
    """The reader is there but holds no card (or none arrived before the timeout)."""


class CardRemoved(PcscError):
    """The card was removed or lost power in the middle of a transaction."""


class SharingViolation(PcscError):
    """Another program holds the card exclusively."""


class VpcdError(TransportError):
    """The card side of the vpcd link failed (bad address, unusable socket)."""
