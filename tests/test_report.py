"""The HTML report: built from several suites and devices (one corrupt file), checked in a browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kbench import cli, reading
from kbench.errors import KbenchError
from kbench.report import MARKER, build
from tests.synthetic import make_result

ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    res = tmp_path_factory.mktemp("results")
    make_result(res, suite="alpha", seed=1, created="2026-01-01T00:00:00", commit="aaaaaaa")
    make_result(res, suite="alpha", seed=2, created="2026-01-02T00:00:00", commit="bbbbbbb", scale=1.1)
    make_result(res, suite="alpha", seed=3, device="cpu", created="2026-01-03T00:00:00", verdict="not-reproduced")
    make_result(res, suite="beta", seed=4)
    corrupt = res / "beta" / "20260105T000000Z-truncated.json"
    corrupt.write_text('{"schema_version": 1, "suite": "beta", "run_')
    escaping = res / "beta" / "20260106T000000Z-escape.json"
    data = json.loads((next((res / "beta").glob("*000004.json"))).read_text())
    data["run_id"] = "../../../outside"
    escaping.write_text(json.dumps(data))
    out = tmp_path_factory.mktemp("site")
    build(res, out, log=lambda message: None)
    assert corrupt.read_text() == '{"schema_version": 1, "suite": "beta", "run_', "a corrupt file is never rewritten"
    return out


def test_index_merges_devices_side_by_side(site: Path) -> None:
    html = (site / "index.html").read_text()
    header = re.search(r'<table id="verdicts".*?</thead>', html, re.S)
    assert header and "NVIDIA H100 80GB HBM3" in header.group(0) and "<th>cpu</th>" in header.group(0)
    row = re.search(r"<tr><td><a href=\"suite-alpha.html\">alpha</a>.*?</tr>", html, re.S)
    assert row is not None
    assert "v-reproduced" in row.group(0) and "v-not-reproduced" in row.group(0)  # H100 and CPU, not averaged
    assert "2 run(s)" in row.group(0)


def test_corrupt_file_is_listed_not_fatal(site: Path) -> None:
    html = (site / "index.html").read_text()
    assert 'id="problems"' in html and "truncated.json" in html
    assert "escape.json" in html and "cannot be part of a path" in html  # a run id with ../ is refused
    assert not (site.parent / "outside.json").exists() and not list(site.parent.glob("run-*outside*"))


def test_a_copied_file_is_one_run_not_two(tmp_path: Path) -> None:
    res = tmp_path / "results"
    first = make_result(res, seed=1)
    (first.parent / "copy.json").write_bytes(first.read_bytes())
    found, problems = reading.load_all(res)
    assert len(found) == 1 and "also the run id" in problems[0]


def test_reasons_are_never_nan(site: Path) -> None:
    for page in site.glob("*.html"):
        assert ">nan<" not in page.read_text()


def test_out_never_deletes_what_kbench_did_not_create(tmp_path: Path) -> None:
    res = tmp_path / "results"
    make_result(res, seed=1)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    with pytest.raises(KbenchError, match="not built by kbench"):
        build(res, foreign, log=lambda message: None)
    assert (foreign / "thesis.tex").read_text() == "years of work"
    for bad in (res, tmp_path, res / "toy"):
        with pytest.raises(KbenchError, match="results folder"):
            build(res, bad, log=lambda message: None)
    assert len(list(res.rglob("*.json"))) == 1
    (tmp_path / "file").write_text("x")
    with pytest.raises(KbenchError, match="file is in the way"):
        build(res, tmp_path / "file", log=lambda message: None)


def test_a_kbench_report_is_replaced_by_the_next_build(tmp_path: Path) -> None:
    res = tmp_path / "results"
    make_result(res, seed=1)
    out = tmp_path / "site"
    build(res, out, log=lambda message: None)
    assert (out / MARKER).is_file()
    make_result(res, seed=2, created="2026-01-02T00:00:00")
    build(res, out, log=lambda message: None)
    assert len(list((out / "runs").glob("*.json"))) == 2
    (out / "img" / "my-notes.txt").write_text("mine")  # a file of the user's inside the report
    with pytest.raises(KbenchError, match="did not write .*img/my-notes.txt"):
        build(res, out, log=lambda message: None)
    assert (out / "img" / "my-notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site")]  # no staging folder left


def test_report_of_a_missing_folder_exits_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["report", "--results", str(tmp_path / "nope"), "--out", str(tmp_path / "site")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_pages_figures_and_raw_runs_exist(site: Path) -> None:
    for suite in ("alpha", "beta"):
        page = (site / f"suite-{suite}.html").read_text()
        assert "twice as fast" in page  # the quote beside the measurement
        assert "fwd: BLOCK_R: 16" in page and "fwd: BLOCK_R: 32" in page  # what each kernel launched
        for img in re.findall(r'src="(img/[^"]+)"', page):
            assert (site / img).stat().st_size > 1000
    assert len(list((site / "runs").glob("*.json"))) == 4
    page = (site / "suite-alpha.html").read_text()
    assert "<th>rounds</th>" in page and "run-to-run sd" in page and ">0.2%<" in page
    assert "copy bandwidth 3000.0 GB/s" in page
    run_pages = list(site.glob("run-*.html"))
    assert len(run_pages) == 4 and all("Environment" in p.read_text() for p in run_pages)


def _browser(tmp_path: Path):  # type: ignore[no-untyped-def]
    def chromium(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                              capture_output=True, text=True, timeout=120)

    return chromium


def _rendered(chromium, page: Path) -> tuple[str, int, int]:  # type: ignore[no-untyped-def]
    """The DOM after the page's scripts ran, and how many of its images loaded."""
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", page.as_uri()).stdout
    loaded = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert loaded, f"{page.name}: the page's script did not run"
    ok, total = map(int, loaded.groups())
    return dom, ok, total


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package 'chromium')")
def test_index_in_a_real_browser(site: Path, tmp_path: Path) -> None:
    chromium = _browser(tmp_path)
    for page in ("index.html", "suite-alpha.html"):
        dom, ok, total = _rendered(chromium, site / page)
        assert ok == total, f"{page}: {total - ok} of {total} images failed to load"
        if page == "index.html":
            assert "reproduced" in dom and "not-reproduced" in dom and "NVIDIA H100 80GB HBM3" in dom
        else:
            assert total >= 2
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report-index.png"
    chromium("--window-size=1400,1000", f"--screenshot={shot}", (site / "index.html").as_uri())
    assert shot.stat().st_size > 10_000


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package 'chromium')")
def test_committed_results_show_the_flashkat_verdicts(root: Path, tmp_path: Path) -> None:
    """The report of the repository's own results/, as a reader opens it."""
    out = tmp_path / "site"
    build(root / "results", out, log=lambda message: None)
    chromium = _browser(tmp_path)
    dom, _, _ = _rendered(chromium, out / "index.html")
    for claim in ("kat-slower-than-vit", "flashkat-training-speedup", "coefficient-rounding-error"):
        assert claim in dom
    assert "NVIDIA H100 80GB HBM3" in dom and "<th>cpu</th>" in dom
    dom, ok, total = _rendered(chromium, out / "suite-flashkat.html")
    assert total >= 7 and ok == total


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package 'chromium')")
def test_a_newer_interrupted_run_does_not_hide_committed_evidence_in_a_browser(tmp_path: Path) -> None:
    """As a reader sees the index: the clean run's verdict, and a word on the newer run not shown."""
    folder = tmp_path / "results"
    old = make_result(folder, seed=1, created="2026-01-01T00:00:00")
    new = make_result(folder, seed=2, created="2026-01-02T00:00:00")
    for path, changes in ((old, {"interrupted": False}), (new, {"interrupted": True})):
        data = json.loads(path.read_text())
        data["env"]["git_dirty"] = False
        data.update(changes)
        if changes["interrupted"]:
            for v in data["verdicts"]:
                v.update(verdict="skipped", measured=None, interval=None, ratio_to_paper=None, per_case=[],
                         reason="the run was interrupted (Ctrl-C or SIGTERM) before this claim finished")
        path.write_text(json.dumps(data))
    out = tmp_path / "site"
    build(folder, out, log=lambda message: None)
    dom, ok, total = _rendered(_browser(tmp_path), out / "index.html")
    row = dom[dom.index(">speed<"):]
    row = row[:row.index("</tr>")]
    assert '<td class="v-reproduced"><b>reproduced</b>' in row and "v-skipped" not in row
    assert "1 newer run(s) not shown" in row
    assert ok == total
