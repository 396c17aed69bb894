"""`kks card script`: the script parser, masks, the pass/fail exit codes, the shipped scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from kks_emulator.cli.main import main
from kks_emulator.errors import InputError
from kks_emulator.terminal.script import check, mask_matches, parse_script

SCRIPTS = sorted((Path(__file__).resolve().parents[2] / "scripts" / "apdu").glob("*.apdu"))


def test_parse_and_match():
    steps = parse_script("# c\n\nreset\n00A4 0400 => 61??\n805C000204 => 0007A120 9000\n"
                         "00B2010C00 => * 9000\n80CA9F1700\n", "s.apdu")
    assert [s.line for s in steps] == [3, 4, 5, 6, 7]
    assert steps[0].command is None and steps[1].sw == "61??" and steps[1].data is None
    assert steps[2].data == "0007A120" and steps[3].data is None and steps[4].sw is None
    assert check(steps[1], bytes.fromhex("6126")) and not check(steps[1], bytes.fromhex("6C26"))
    assert check(steps[2], bytes.fromhex("0007A1209000"))
    assert not check(steps[2], bytes.fromhex("0007A1219000"))
    assert not check(steps[2], bytes.fromhex("0007A120009000"))  # whole data must match
    assert mask_matches("9?0?", "9000") and not mask_matches("90", "9000")


@pytest.mark.parametrize("text, message", [
    ("00A4 => 9000\n", "s.apdu:1: a command has at least"),
    ("zz => 9000\n", "s.apdu:1: command is not hex"),
    ("00A40400 =>\n", "s.apdu:1: nothing after"),
    ("\n00A40400 => 900\n", "s.apdu:2: status word '900'"),
    ("00A40400 => 1 9000\n", "s.apdu:1: expected data '1'"),
    ("# nothing\n", "s.apdu: the script has no steps"),
])
def test_malformed_scripts_name_file_and_line(text, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        parse_script(text, "s.apdu")


@pytest.fixture
def card(tmp_path) -> Path:
    path = tmp_path / "card.kks"
    assert main(["card", "personalize", str(path), "--bank", "BRI", "--pan",
                 "6013500012345678", "--pin", "123456", "--test-mode"]) == 0
    return path


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shipped_scripts_pass_in_process(script, card, capsys):
    protocol = ["--protocol", "T=0"] if script.name.startswith("t0-") else []
    assert main(["card", "script", str(script), str(card), *protocol]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and " 0 failed" in out


def test_a_mismatch_fails_the_run_with_exit_1(card, tmp_path, capsys):
    script = tmp_path / "wrong.apdu"
    script.write_text("00A4040009F04B4B53505552534500 => * 9000\n805C000204 => 00000001 9000\n"
                      "FFA40400 => 6E00\n")
    assert main(["card", "script", str(script), str(card)]) == 1
    out = capsys.readouterr().out
    assert out.count("PASS") == 2 and out.count("FAIL") == 1 and "2 passed, 1 failed" in out


def test_bad_script_or_card_is_one_line_exit_2(card, tmp_path, capsys):
    bad = tmp_path / "bad.apdu"
    bad.write_text("00A40400 => 9G00\n")
    assert main(["card", "script", str(bad), str(card)]) == 2
    assert main(["card", "script", str(SCRIPTS[0]), str(tmp_path / "none.kks")]) == 2
    assert main(["card", "script", str(SCRIPTS[0])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "bad.apdu:1" in err and "Traceback" not in err
