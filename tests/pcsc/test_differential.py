"""C-DIFF: the same >= 1,000-APDU corpus in process and through pcscd + vpcd + pyscard.

Responses must be byte-identical and the final NVM identical. The one exception is the ECDSA
signature of a successful PURCHASE: ECDSA draws a fresh random k per signature (by design, see
C-RND), so there the signed record and the status word must be identical and *both* signatures
must verify under the card's key.
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
    signed = 0
    chain = False  # inside the GET RESPONSE chain of a signed T=0 answer
    for i, (apdu, want, have) in enumerate(zip(apdus, expected, got, strict=True)):
        purchase = apdu[:2] == b"\x80\x54"
        if purchase and want[-2:] == b"\x90\x00" and len(want) > RECORD_LEN + 2:
            signed += 1
            assert have[:RECORD_LEN] == want[:RECORD_LEN] and have[-2:] == want[-2:], i
            for answer in (want, have):
                assert purse.verify(public_key, answer[:RECORD_LEN], answer[RECORD_LEN:-2]), i
            continue
        if purchase and want[-2] == 0x61:
            # T=0: 61xx announces record + DER signature, whose length (70-72) varies with k.
            signed += 1
            for answer in (want, have):
                assert len(answer) == 2 and answer[0] == 0x61, i
                assert RECORD_LEN + 68 <= answer[1] <= RECORD_LEN + 72, i
            chain = True
            continue
        if chain and apdu[:2] == b"\x00\xc0":
            # Fetching that variable-length answer: same outcome class, record bytes equal.
            assert have[-2] == want[-2], i
            n = min(len(want), len(have), RECORD_LEN) - 2
            assert have[:max(n, 0)] == want[:max(n, 0)], i
            continue
        chain = False
        assert have == want, (f"APDU #{i} {apdu.hex().upper()}: in process "
                              f"{want.hex().upper()}, via PC/SC {have.hex().upper()}")
    assert signed >= 20, "the corpus must exercise successful purchases"
    assert FileStore(path, create=False).snapshot() == reference.store.snapshot(), \
        "final NVM differs between in-process and PC/SC runs"
