"""The command line: exit codes, one-line errors, a result file from a real (CPU) run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kbench import cli


def test_bad_suite_exits_2_with_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text('schema_version = 1\n[paper]\nid = "x"\ntitle = "t"\n[[claims]]\nid = "c"\nkind = "magic"\n')
    assert cli.main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "claims[0].kind" in err and str(bad) in err
    assert "Traceback" not in err


def test_missing_file_exits_2(capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["validate", "no/such/suite.toml"]) == 2
    assert "no/such/suite.toml" in capsys.readouterr().err


def test_require_gpu_fails_without_one(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KBENCH_REQUIRE_GPU", "1")
    assert cli.main(["run", "suites/flashkat.toml", "--device", "cpu"]) == 2
    assert "GPU is required" in capsys.readouterr().err


def test_run_on_cpu_writes_a_result(tmp_path: Path, root: Path) -> None:
    """A subprocess, as a user runs it: the CPU path of the FlashKAT suite, one claim."""
    out = subprocess.run(
        [sys.executable, "-m", "kbench", "run", "suites/flashkat.toml", "--device", "cpu", "--only", "flops-parity",
         "kat-slower-than-vit", "--results", str(tmp_path)],
        cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    (path,) = (tmp_path / "flashkat").glob("*.json")
    data = json.loads(path.read_text())
    assert data["env"]["gpu"] == "cpu" and data["env"]["torch"]
    verdicts = {v["claim"]: v for v in data["verdicts"]}
    assert verdicts["flops-parity"]["verdict"] == "reproduced"
    assert verdicts["kat-slower-than-vit"]["verdict"] == "skipped"
    assert "CUDA" in verdicts["kat-slower-than-vit"]["reason"]


def test_show_prints_the_per_case_table_only_when_it_has_rows(root: Path) -> None:
    from kbench import console, results

    (path,) = (root / "results" / "flashkat").glob("*-cpu-*.json")
    data = results.load(path)
    with console.console.capture() as shown:
        console.print_result(data)
    assert "per case" in shown.get() and "flops-parity" in shown.get()
    data["verdicts"] = [dict(v, per_case=[]) for v in data["verdicts"]]  # as in a run where every claim skipped
    with console.console.capture() as shown:
        console.print_result(data)
    assert "per case" not in shown.get() and "flops-parity" in shown.get()
