"""Application selection by the rules of EMV Book 1 §12 (a payment kernel's point of view).

1. Candidate list from the PSE (§12.3.2): SELECT `1PAY.SYS.DDF01`; read the directory file (SFI
   from tag 88) record by record until `6A83`; every entry `61` whose ADF name (4F) the terminal
   supports (exact match, or the terminal AID is a prefix and its Application Selection
   Indicator allows partial matching) becomes a candidate with its Application Priority
   Indicator (87).
2. If the PSE is absent or gives no candidate, the list of AIDs (§12.3.3): SELECT each terminal
   AID; an answer `9000` whose DF name (84) matches becomes a candidate (`6283`, application
   blocked, does not).
3. Final selection (§12.4): candidates in priority order (87 low nibble 1 = highest, 0 or
   absent = no priority, after every prioritised one; ties keep the card's order). Candidates
   that require cardholder confirmation (87 bit 8) are dropped when the terminal cannot ask.
   SELECT the first; anything but `9000` removes it and the next is tried.
"""

from __future__ import annotations

from dataclasses import dataclass

from kks_emulator import tlv
from kks_emulator.errors import CardError, KksError
from kks_emulator.terminal import apdus
from kks_emulator.terminal.exchange import Exchange
from kks_emulator.terminal.parse import CardResponseError, parse_tlv

#: Most directory records and candidates the terminal handles (a bound against hostile cards).
MAX_DIRECTORY_RECORDS = 16
MAX_CANDIDATES = 16


@dataclass(frozen=True)
class TerminalAid:
    """An AID the terminal supports and whether a longer ADF name may match it (ASI)."""

    aid: bytes
    partial: bool = False

    def matches(self, adf: bytes) -> bool:
        """Book 1 §12.3.1: exact match, or prefix match when partial selection is allowed."""
        return adf == self.aid or (self.partial and adf.startswith(self.aid))


@dataclass(frozen=True)
class Candidate:
    """One entry of the candidate list."""

    aid: bytes
    label: str
    priority: int | None  # API low nibble 1..15; None = no priority
    confirm: bool  # API bit 8: cardholder confirmation required


@dataclass(frozen=True)
class Selected:
    """The final selection: the candidate chosen, its FCI, and how the list was built."""

    candidate: Candidate
    fci: bytes
    method: str  # "PSE" or "AID list"
    candidates: tuple[Candidate, ...]


class NoApplication(CardError):
    """No mutually supported application: the transaction is terminated (Book 1 §12.4)."""


def _candidate(entry: dict[int, bytes]) -> Candidate:
    api = entry.get(0x87, b"")
    prio = ((api[0] & 0x0F) or None) if len(api) == 1 else None
    confirm = bool(len(api) == 1 and api[0] & 0x80)
    label = entry.get(0x50, b"").decode("ascii", "replace")
    return Candidate(entry[0x4F], label, prio, confirm)


def _entries(record: bytes) -> list[dict[int, bytes]]:
    """The `61` entries of a directory record (or a PPSE BF0C), one level at a time."""
    try:
        items = tlv.decode(record, recurse=False)
        if len(items) == 1 and items[0].tag == 0x70:
            items = tlv.decode(items[0].value, recurse=False)
        out = []
        for item in items:
            if item.tag == 0x61:
                out.append({i.tag: i.value for i in tlv.decode(item.value, recurse=False)})
        return out
    except KksError as exc:
        raise CardResponseError(f"malformed directory record: {exc}") from None


def candidates_from_pse(ex: Exchange, supported: list[TerminalAid]) -> list[Candidate]:
    """The candidate list built from the PSE directory (empty if the card has no PSE)."""
    resp = ex.transmit(apdus.select(apdus.PSE))
    if resp.sw == 0x6A81:
        raise NoApplication("card blocked (SELECT PSE answered 6A81)", sw=resp.sw)
    if not resp.ok:
        return []
    sfi_raw = parse_tlv(resp.data).get(0x88)
    if sfi_raw is None or len(sfi_raw) != 1 or not 1 <= sfi_raw[0] <= 10:
        return []
    out: list[Candidate] = []
    for rec in range(1, MAX_DIRECTORY_RECORDS + 1):
        r = ex.transmit(apdus.read_record(sfi_raw[0], rec))
        if r.sw == 0x6A83:
            break
        for entry in _entries(r.expect("READ RECORD (directory)")):
            adf = entry.get(0x4F)
            if adf is not None and 5 <= len(adf) <= 16 and any(
                    t.matches(adf) for t in supported):
                out.append(_candidate(entry))
    return out[:MAX_CANDIDATES]


def candidates_from_aid_list(ex: Exchange, supported: list[TerminalAid]) -> list[Candidate]:
    """The candidate list built by selecting each terminal AID in turn."""
    out: list[Candidate] = []
    for t in supported:
        resp = ex.transmit(apdus.select(t.aid))
        if resp.sw != 0x9000:
            continue
        fields = parse_tlv(resp.data)
        name = fields.get(0x84, b"")
        if t.matches(name):
            out.append(_candidate({0x4F: name, **{k: v for k, v in fields.items()
                                                 if k in (0x50, 0x87)}}))
    return out[:MAX_CANDIDATES]


def order(candidates: list[Candidate], can_confirm: bool = False) -> list[Candidate]:
    """Book 1 §12.4 ordering: priority 1 first, no priority last; unconfirmable dropped."""
    usable = [c for c in candidates if can_confirm or not c.confirm]
    return sorted(usable, key=lambda c: 16 if c.priority is None else c.priority)


def select_application(ex: Exchange, supported: list[TerminalAid], *,
                       use_pse: bool = True, can_confirm: bool = False) -> Selected:
    """Build the candidate list (PSE, else the AID list) and make the final selection."""
    method = "PSE"
    found = candidates_from_pse(ex, supported) if use_pse else []
    if not found:
        method = "AID list"
        found = candidates_from_aid_list(ex, supported)
    for cand in order(found, can_confirm):
        resp = ex.transmit(apdus.select(cand.aid))
        if resp.sw == 0x9000 and parse_tlv(resp.data).get(0x84) == cand.aid:
            return Selected(cand, resp.data, method, tuple(found))
    raise NoApplication("no mutually supported application (EMV Book 1 §12.4)")
