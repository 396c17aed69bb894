"""`kks card personalize | info | apdu` through the root CLI (one-line errors, exit 2)."""

from __future__ import annotations

from kks_emulator.cli.main import main


def test_personalize_info_apdu(tmp_path, capsys):
    out = tmp_path / "kpm.kks"
    assert main(["card", "personalize", str(out), "--bank", "BRI", "--pan", "6013500012345678",
                 "--pin", "123456", "--test-mode"]) == 0
    assert main(["card", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "balance          0" in text and "pin_tries_left   3" in text
    assert main(["card", "apdu", str(out), "00A4040009F04B4B53505552534500", "805C000204"]) == 0
    text = capsys.readouterr().out
    assert "ATR 3B858031FE4580534B4B530F" in text and "<< 00000000 9000" in text
    assert main(["card", "apdu", str(out), "--protocol", "T=0",
                 "00A4040009F04B4B535055525345"]) == 0
    assert "<< 6126" in capsys.readouterr().out


def test_errors_are_one_line_exit_2(tmp_path, capsys):
    out = tmp_path / "kpm.kks"
    assert main(["card", "info", str(tmp_path / "missing.kks")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not found" in err
    assert main(["card", "personalize", str(out), "--bank", "BRI", "--pan", "12",
                 "--pin", "123456"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not out.exists()
    main(["card", "personalize", str(out), "--bank", "BRI", "--pan", "6013500012345678",
          "--pin", "123456"])
    assert main(["card", "personalize", str(out), "--bank", "BRI", "--pan", "6013500012345678",
                 "--pin", "123456"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["card", "apdu", str(out), "XYZ"]) == 2
    assert main(["card", "apdu", str(out)]) == 2
    assert main(["card", "personalize", str(tmp_path / "nodir" / "x.kks"), "--bank", "BRI",
                 "--pan", "6013500012345678", "--pin", "123456"]) == 2


def test_help():
    assert main(["card", "--help"]) == 0
    for sub in ("personalize", "info", "apdu"):
        assert main(["card", sub, "--help"]) == 0
