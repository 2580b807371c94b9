"""CLI: qsat-pat ephem / passes / calibrate stars (qsat_pat.commands.ephem)."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qsat_pat.cli import main
from qsat_pat.core.ephemeris import Ephemeris, EphemerisConfig, load_tle_file

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "test" / "data"
SITE = "32.32585,80.02616,5047"
COLUMNS = ["utc", "az_deg", "el_deg", "range_m", "az_rate_dps", "el_rate_dps", "range_rate_mps",
           "pa_az_urad", "pa_el_urad", "pa_urad", "sun_sep_deg", "hwp_deg", "el_refracted_deg"]


def test_ephem_csv_columns_and_values(tmp_path):
    out = tmp_path / "e.csv"
    rc = main(["ephem", "--tle", str(DATA / "leo500_sso.tle"), "--site", SITE, "--start", "2024-03-01T15:27:00Z",
               "--duration", "300", "--step", "10", "--out", str(out)])
    assert rc == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0].keys()) == COLUMNS
    assert len(rows) == 31
    assert rows[0]["utc"] == "2024-03-01T15:27:00.000Z"
    # the numbers are the core's, in display units
    eph = Ephemeris(load_tle_file(DATA / "leo500_sso.tle"),
                    EphemerisConfig(site_lat_deg=32.32585, site_lon_deg=80.02616, site_alt_m=5047.0))
    s = eph.state_at(1709306820.0 + 100.0)
    r = rows[10]
    assert float(r["az_deg"]) == pytest.approx(math.degrees(s.az_rad), abs=1e-5)
    assert float(r["range_m"]) == pytest.approx(s.range_m, abs=1e-2)
    assert float(r["pa_az_urad"]) == pytest.approx(s.point_ahead_az_rad * 1e6, abs=1e-3)
    assert float(r["pa_urad"]) == pytest.approx(s.point_ahead_rad * 1e6, abs=1e-3)
    assert float(r["el_refracted_deg"]) > float(r["el_deg"])
    pa = np.array([float(x["pa_urad"]) for x in rows])
    assert np.all(pa <= 53.0)


def test_ephem_seed004_method_and_stdout(capsys):
    args = ["ephem", "--tle", str(DATA / "leo500_sso.tle"), "--site", SITE, "--start", "2024-03-01T15:29:00",
            "--duration", "20", "--step", "10"]
    assert main(args) == 0
    default = capsys.readouterr().out.splitlines()
    assert main([*args, "--method", "seed004"]) == 0
    seed = capsys.readouterr().out.splitlines()
    assert default[0] == seed[0] == ",".join(COLUMNS)
    d = float(default[1].split(",")[9])
    s = float(seed[1].split(",")[9])
    assert d != s and abs(d - s) < 1.0  # sub-urad: the Earth-rotation term


def test_passes_json(capsys):
    rc = main(["passes", "--tle", str(DATA / "leo500_sso.tle"), "--site", SITE, "--start", "2024-03-01T00:00:00Z",
               "--days", "1", "--min-el", "10", "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["satellite"] == "MICIUS-LIKE"
    assert len(doc["passes"]) == 3
    p = doc["passes"][2]
    assert p["max_el_deg"] == pytest.approx(52.74, abs=0.01)
    assert set(p) >= {"aos_utc", "tca_utc", "los_utc", "max_el_deg", "duration_s"}


def test_calibrate_stars_json(capsys, tmp_path):
    rc = main(["calibrate", "stars", str(DATA / "seed004_table2.csv"), "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"theta_s_deg", "theta_s_err_deg", "k_px_per_deg", "k_err_px_per_deg", "per_star"}
    assert doc["rejected"] == [5] and len(doc["per_star"]) == 8
    fixed = tmp_path / "t.csv"
    fixed.write_text((DATA / "seed004_table2.csv").read_text().replace("-151.94", "151.94"))
    assert main(["calibrate", "stars", str(fixed), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["theta_s_deg"] == pytest.approx(-4.65, abs=0.02)
    assert doc["k_px_per_deg"] == pytest.approx(10798, abs=2)


@pytest.mark.parametrize(
    ("argv", "match"),
    [(["passes", "--site", "95,0,0"], "latitude"),
     (["passes", "--start", "yesterday"], "not ISO 8601"),
     (["passes", "--start", "2024-06-01T00:00:00Z"], "after the TLE epoch"),
     (["passes", "--days", "-1"], "--days must be"),
     (["ephem", "--duration", "10", "--step", "0"], "--step must be")],
)
def test_cli_bad_input_exit_2(argv, match, capsys):
    base = {"--tle": str(DATA / "leo500_sso.tle"), "--site": SITE, "--start": "2024-03-01T00:00:00Z"}
    cmd = argv[0]
    given = dict(zip(argv[1::2], argv[2::2]))
    extra = {"--days": "1"} if cmd == "passes" else {"--duration": "10", "--step": "1"}
    opts = {**base, **extra, **given}
    assert main([cmd, *[x for kv in opts.items() for x in kv]]) == 2
    assert match in capsys.readouterr().err


def test_cli_bad_tle_file(tmp_path, capsys):
    bad = tmp_path / "bad.tle"
    bad.write_text((DATA / "iss_2019.tle").read_text().replace("9991", "9992"))
    rc = main(["passes", "--tle", str(bad), "--site", SITE, "--start", "2019-12-10T00:00:00Z", "--days", "1"])
    assert rc == 2
    assert "checksum" in capsys.readouterr().err
    assert main(["calibrate", "stars", str(tmp_path / "nope.csv")]) == 2
    assert "cannot read star table" in capsys.readouterr().err


def test_cli_as_subprocess():
    res = subprocess.run([sys.executable, "-m", "qsat_pat.cli", "calibrate", "stars",
                          "test/data/seed004_table2.csv", "--json"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["rejected"] == [5]
    res = subprocess.run([sys.executable, "-m", "qsat_pat.cli", "ephem", "--tle", "test/data/iss_2019.tle",
                          "--site", "40,-75,100", "--start", "2019-12-20T00:00:00Z", "--duration", "1", "--step",
                          "1"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "days old" in res.stderr  # TLE age warning
    assert res.stdout.splitlines()[0] == ",".join(COLUMNS)
