"""C-DIFF: the same >= 1,000-APDU corpus in process and through pcscd + vpcd + pyscard.

Every response must be byte-identical, signed PURCHASE answers included (the card signs with
RFC 6979 deterministic ECDSA), and the final NVM identical. The signatures are also verified
under the card's key, so the comparison cannot pass on two equally broken answers.
"""

from __future__ import annotations

import random

import pytest

from kks_emulator.card import Card, FileStore, MemoryStore
from kks_emulator.crypto import purse
from kks_emulator.transport.pcsc import PcscTransport
from kks_emulator.transport.testing import ServedProcess, virtual_reader

from .conftest import make_card_file, serve_argv
from .corpus import build_corpus

pytestmark = pytest.mark.pcsc

CORPUS_SIZE = 1_200
RECORD_LEN = 43


@pytest.mark.parametrize("protocol", ["T=1", "T=0"])
def test_c_diff_in_process_and_pcsc_agree_byte_for_byte(pcscd, pcsc_logs, tmp_path, protocol):
    path = make_card_file(tmp_path / "diff.kks")
    cells = FileStore(path, create=False).snapshot()
    reference = Card(MemoryStore(dict(cells)), rng=random.Random(7).randbytes, protocol=protocol)
    reference.power_on()
    steps, expected = build_corpus(reference, CORPUS_SIZE)
    assert sum(1 for s in steps if s.apdu) >= 1_000
    public_key = reference.static.sign_key.public_key()

    server = ServedProcess(serve_argv(path, 1, "--protocol", protocol), slot=1,
                           log_path=pcsc_logs / f"diff-{protocol[-1]}.log").start()
    transport = PcscTransport(virtual_reader(1), timeout_s=5,
                              protocols="T0" if protocol == "T=0" else "T1")
    got: list[bytes] = []
    try:
        transport.connect()
        # The reference was powered on once; so is the served card by this first connection.
        for step in steps:
            if step.event:
                transport.reconnect(unpower=step.event == "unpower")
            else:
                got.append(transport.transmit(step.apdu))
    finally:
        transport.close()
        assert server.stop() == 0, server.tail()

    apdus = [s.apdu for s in steps if s.apdu]
    assert len(got) == len(expected) == len(apdus)
    verified = 0
    signed = 0  # successful PURCHASEs: answered record + signature + 9000, or 61xx in T=0
    after_purchase = False  # the previous APDU was a PURCHASE answered 61xx
    for i, (apdu, want, have) in enumerate(zip(apdus, expected, got, strict=True)):
        assert have == want, (f"APDU #{i} {apdu.hex().upper()}: in process "
                              f"{want.hex().upper()}, via PC/SC {have.hex().upper()}")
        purchase = apdu[:2] == b"\x80\x54"
        complete = want[-2:] == b"\x90\x00" and len(want) > RECORD_LEN + 2
        if (purchase or (after_purchase and apdu[1] == 0xC0)) and complete:
            # the whole signed answer is here: the signature must verify, not only match
            assert purse.verify(public_key, want[:RECORD_LEN], want[RECORD_LEN:-2]), i
            verified += 1
        signed += purchase and (complete or want[-2] == 0x61)
        after_purchase = purchase and want[-2] == 0x61
    assert signed >= 20, "the corpus must exercise successful purchases"
    if protocol == "T=1":  # in T=0 the corpus fetches answers in random Le pieces
        assert verified >= 10, f"only {verified} complete signed answers were checked"
    assert FileStore(path, create=False).snapshot() == reference.store.snapshot(), \
        "final NVM differs between in-process and PC/SC runs"
