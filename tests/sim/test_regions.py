"""The shipped administrative frame: counts, hierarchy, lookups, packaging."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from kks_emulator.errors import InputError
from sim.registry import regions


@pytest.fixture(scope="module")
def frame() -> regions.Regions:
    return regions.load()


def test_counts_match_the_2025_decree(frame):
    assert (frame.n_province, frame.n_kabkota, frame.n_kecamatan, frame.n_desa) == (
        38, 514, 7285, 83762)
    assert int(frame.kabkota_population.sum()) == 284_973_643
    assert int(frame.province_population.sum()) == 284_973_643
    assert int(frame.desa_is_kelurahan.sum()) == 8496


def test_hierarchy_is_consistent(frame):
    assert np.array_equal(frame.kabkota_code // 100, frame.province_code[frame.kabkota_province])
    assert np.array_equal(frame.kecamatan_code // 100,
                          frame.kabkota_code[frame.kecamatan_kabkota])
    assert np.array_equal(frame.desa_code // 10_000,
                          frame.kecamatan_code[frame.desa_kecamatan])
    assert np.array_equal(frame.desa_kabkota, frame.kecamatan_kabkota[frame.desa_kecamatan])
    assert np.array_equal(frame.desa_province, frame.kabkota_province[frame.desa_kabkota])
    # sorted by code, every kab/kota and kecamatan has at least one desa
    assert np.all(np.diff(frame.desa_code) > 0)
    assert np.bincount(frame.desa_kabkota, minlength=514).min() >= 1
    assert np.bincount(frame.desa_kecamatan, minlength=7285).min() >= 1
    # province population equals the sum of its kab/kota
    by_prov = np.bincount(frame.kabkota_province, weights=frame.kabkota_population)
    assert np.array_equal(by_prov.astype(np.int64), frame.province_population)


def test_codes_00_are_unused_and_lookups_invert_codes(frame):
    assert frame.province_lookup[0] == -1
    assert np.all(frame.kabkota_lookup[frame.province_code.astype(int) * 100] == -1)
    assert np.all(frame.kecamatan_lookup[frame.kabkota_code.astype(int) * 100] == -1)
    assert np.array_equal(frame.kecamatan_lookup[frame.kecamatan_code],
                          np.arange(frame.n_kecamatan))
    assert frame.province_name[frame.province_index("32")] == "Jawa Barat"
    assert frame.kabkota_name[frame.kabkota_index("32.73")] == "Kota Bandung"
    assert frame.kabkota_index(3273) == frame.kabkota_index("3273")


def test_territory_selection(frame):
    jabar = frame.territory_kabkota("32")
    assert len(jabar) == 27 and set(frame.kabkota_province[jabar].tolist()) == {
        frame.province_index(32)}
    mixed = frame.territory_kabkota(["31", "32.73", "32.73"])
    assert len(mixed) == int((frame.kabkota_code // 100 == 31).sum()) + 1
    assert len(frame.territory_kabkota(None)) == 514
    for bad in ("99", "32.00", "3", "32.73.01", "x", []):
        with pytest.raises(InputError):
            frame.territory_kabkota(bad)


def test_load_is_cached_and_read_only(frame):
    assert regions.load() is frame
    with pytest.raises(ValueError):
        frame.desa_code[0] = 0


def test_data_ship_inside_the_package_with_attribution():
    data = resources.files("sim").joinpath("data")
    names = {p.name for p in data.iterdir()}
    assert {"provinces.csv", "kabkota.csv", "kecamatan.csv", "desa.csv",
            "LICENSE-wilayah.txt", "NOTICE.md"} <= names
    assert "Cahya DSN" in data.joinpath("LICENSE-wilayah.txt").read_text()
    assert "MIT" in data.joinpath("NOTICE.md").read_text()
