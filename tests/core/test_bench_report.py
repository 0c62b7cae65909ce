"""`make bench`'s table: each target a ratio to its ceiling from the same run, «met» computed from the ratios; the
results it writes (the run's JSON and `latest.json`) are not ignored by git, so the run that changes BENCHMARKS.md
commits them."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import run

ROOT = Path(__file__).resolve().parent.parent.parent


def test_a_ratio_meets_its_target_by_times_or_by_share():
    assert run.Ratio(60, 20, times=3).met and not run.Ratio(61, 20, times=3).met
    assert run.Ratio(35, 100, share=0.35).met and not run.Ratio(34.9, 100, share=0.35).met
    assert not run.Ratio(10, None, times=3).met  # no ceiling measured: not met
    assert (run.Ratio(60, 20, times=3).text, run.Ratio(35, 100, share=0.35).text) == ("3.00×", "35.0 %")
    # for information only: no target, always met, shown as a multiple (a latency) or a share (a rate)
    assert run.Ratio(90, 18).met and run.Ratio(90, 18).text == "5.00×" and run.Ratio(90, 18).target == ""
    assert run.Ratio(1233, 33557, shows="share").text == "3.7 %"


def test_the_table_shows_each_target_as_a_ratio_and_met_from_the_ratios(tmp_path, monkeypatch):
    report = run.Report()
    report.add(
        "api_single",
        "single POST",
        120.0,
        "ms",
        "",
        True,
        50.0,
        "bare DRF endpoint p95, ms",
        None,
        ratios={"throughput": run.Ratio(200, 500, share=0.35), "p95": run.Ratio(120, 50, times=3)},
    )
    report.add(
        "next_call",
        "next call",
        100.0,
        "ms",
        "zero duplicates",
        True,
        30.0,
        "bare endpoint",
        None,
        ratios={"p95": run.Ratio(100, 30, times=2.5)},
    )
    page = tmp_path / "BENCHMARKS.md"
    page.write_text(f"# Benchmarks\n\n{run.MARK_BEGIN}\n{run.MARK_END}\n")
    monkeypatch.setattr(run, "ROOT", tmp_path)
    machine = {"cores": 2, "memory_gb": 24, "postgresql": 150000, "python": "3.11"}

    run.update_benchmarks_md(
        {
            "date": "T",
            "machine": machine,
            "volume": {"orders": 1, "stock_moves": 1},
            "benchmarks": report.rows,
        }
    )

    rows = [
        line
        for line in page.read_text().splitlines()
        if line.startswith("| single") or line.startswith("| next")
    ]
    assert rows[0].endswith(
        "| throughput 40.0 %; p95 2.40× | throughput ≥ 35 % of the ceiling; p95 ≤ 3× | yes |"
    )
    assert rows[1].endswith("| 3.33× | ≤ 2.5×; zero duplicates | **no** |")
    assert json.loads(json.dumps(report.rows))[0]["ratios"]["p95"] == {
        "measured": 120,
        "ceiling": 50,
        "ratio": 2.4,
        "target": {"at_most_times": 3},
        "met": True,
    }


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_results_of_a_run_are_not_ignored_by_git():
    for path in ("bench/results/latest.json", "bench/results/20261203T125932Z.json"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        if ignored.returncode == 128:
            pytest.skip("not a git checkout")
        assert ignored.returncode == 1, f"{path} is ignored by git"
