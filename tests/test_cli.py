"""The command line: exit codes, one-line errors, strict flags, a result file from a real (CPU) run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kbench import cli, reading
from tests.test_runner import HEAD, claim


def test_bad_suite_exits_2_with_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text('schema_version = 2\n[paper]\nid = "x"\ntitle = "t"\n[[claims]]\nid = "c"\nkind = "magic"\n')
    assert cli.main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "claims[0].kind" in err and str(bad) in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["validate", "list"])
def test_non_utf8_suite_exits_2(tmp_path: Path, capsys, command: str) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'schema_version = 2\n[paper]\nid = "\xff"\n')
    assert cli.main([command, str(bad)]) == 2
    assert "UTF-8" in capsys.readouterr().err


def test_missing_file_exits_2(capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["validate", "no/such/suite.toml"]) == 2
    assert "no/such/suite.toml" in capsys.readouterr().err


def test_require_gpu_fails_without_one(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KBENCH_REQUIRE_GPU", "1")
    assert cli.main(["run", "suites/flashkat.toml", "--device", "cpu"]) == 2
    assert "GPU is required" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "code"), [("false", None), ("0", None), ("no", None), ("maybe", 2)])
def test_environment_flags_mean_what_they_say(tmp_path: Path, monkeypatch, capsys, value: str,  # type: ignore[no-untyped-def]
                                              code: int | None) -> None:
    monkeypatch.setenv("KBENCH_REQUIRE_GPU", value)
    suite = tmp_path / "toy.toml"
    suite.write_text(HEAD + claim("c", "good", "good", 'requires = ["cuda"]'))
    result = cli.main(["run", str(suite), "--device", "cpu", "--no-write", "--quick"])
    if code is None:
        assert result == 0  # "false" does not demand a GPU: the claim is skipped on the CPU
    else:
        assert result == code and "KBENCH_REQUIRE_GPU" in capsys.readouterr().err


def test_a_required_gpu_that_is_missing_is_named(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KBENCH_REQUIRE_GPU", "yes")
    suite = tmp_path / "toy.toml"
    suite.write_text(HEAD + claim("c", "good", "good"))
    assert cli.main(["run", str(suite), "--no-write"]) == 2
    assert "torch sees no CUDA device" in capsys.readouterr().err


def test_a_commit_id_from_the_environment_must_look_like_one(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kbench import env

    monkeypatch.setattr(env, "_run", lambda cmd: None)  # a copy of the tree without .git
    monkeypatch.setenv("KBENCH_GIT_COMMIT", "garbage")
    with pytest.raises(env.KbenchError, match="KBENCH_GIT_COMMIT"):
        env._git()
    monkeypatch.setenv("KBENCH_GIT_COMMIT", "316e0aaf")
    monkeypatch.setenv("KBENCH_GIT_DIRTY", "no")
    assert env._git() == {"git_commit": "316e0aaf", "git_dirty": False, "git_source": "environment"}


@pytest.mark.parametrize("argv", [["run", "suites/flashkat.toml", "--results", ""], ["report", "--out", " "],
                                  ["merge", "a.json", "--results", ""], ["gate", "a.json", "--baselines", ""]])
def test_an_empty_folder_name_is_refused(argv: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as info:  # argparse: usage line and exit 2, before anything runs
        cli.main(argv)
    assert info.value.code == 2 and "expected a folder name" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "interpreting"), [("1", True), ("TRUE", True), ("yes", True), ("0", False),
                                                     ("off", False), ("", False), ("abc", None), (" 1", None)])
def test_triton_interpret_is_read_as_triton_reads_it(monkeypatch, value: str,  # type: ignore[no-untyped-def]
                                                     interpreting: bool | None) -> None:
    from kbench import devices

    monkeypatch.setenv("TRITON_INTERPRET", value)
    if interpreting is None:  # Triton would silently compile: say so instead
        with pytest.raises(devices.KbenchError, match="TRITON_INTERPRET"):
            devices.interpreting()
    else:
        assert devices.interpreting() is interpreting


def test_empty_shard_exits_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    suite = tmp_path / "toy.toml"
    suite.write_text(HEAD + claim("a", "good", "good") + claim("b", "good", "good") + claim("c", "good", "good"))
    assert cli.main(["run", str(suite), "--device", "cpu", "--shard", "4/4", "--no-write"]) == 2
    assert "holds no claims" in capsys.readouterr().err


def test_unwritable_results_are_refused_before_measuring(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    suite = tmp_path / "toy.toml"
    suite.write_text(HEAD + claim("c", "good", "good"))
    blocked = tmp_path / "results"
    blocked.write_text("a file in the way")
    assert cli.main(["run", str(suite), "--device", "cpu", "--results", str(blocked)]) == 2
    err = capsys.readouterr().err
    assert "not writable" in err and "claim c" not in err  # nothing was measured


def test_markup_in_labels_is_shown_as_text(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    suite = tmp_path / "toy.toml"
    suite.write_text(HEAD + claim("c", "good", "good", cases='[{ shape = [8, 8], label = "[/] [bold]x" }]'))
    assert cli.main(["run", str(suite), "--device", "cpu", "--quick", "--results", str(tmp_path / "r")]) == 0
    assert "[/] [bold]x" in capsys.readouterr().err
    assert len(list((tmp_path / "r" / "toy").glob("*.json"))) == 1


def test_show_refuses_a_corrupt_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 2, "suite": "x"}')
    assert cli.main(["show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "Traceback" not in err


def test_schema_prints_json(capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "kbench suite file"


def test_run_on_cpu_writes_a_result(tmp_path: Path, root: Path) -> None:
    """A subprocess, as a user runs it: the CPU path of the FlashKAT suite, two claims."""
    out = subprocess.run(
        [sys.executable, "-m", "kbench", "run", "suites/flashkat.toml", "--device", "cpu", "--only", "flops-parity",
         "kat-slower-than-vit", "--results", str(tmp_path)],
        cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert not re.search(r"\w+\.py:\d+", out.stderr), out.stderr  # progress lines carry no source locations
    (path,) = (tmp_path / "flashkat").glob("*.json")
    data = json.loads(path.read_text())
    assert data["env"]["gpu"] == "cpu" and data["env"]["torch"] and data["schema_version"] == 2
    assert data["provenance"]["digest"] and "kbench/stats.py" in data["provenance"]["files"]
    verdicts = {v["claim"]: v for v in data["verdicts"]}
    assert verdicts["flops-parity"]["verdict"] == "reproduced"
    assert verdicts["kat-slower-than-vit"]["verdict"] == "skipped"
    assert "CUDA" in verdicts["kat-slower-than-vit"]["reason"]
    assert cli.main(["verify", str(path)]) == 0


KILLER = """
import os, signal, sys
from tests.fixtures import toy_scale  # noqa: F401  (registers the toy operation)
from kbench import cli
from kbench.kinds import KINDS

speedup, real, calls = KINDS["speedup"], KINDS["speedup"].collect, []
def collect(claim, ctx):
    calls.append(claim.id)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # no handler, no finally: as the OOM killer does it
    return real(claim, ctx)
speedup.collect = collect
sys.exit(cli.main(["run", sys.argv[1], "--device", "cpu", "--quick", "--results", sys.argv[2]]))
"""


def test_a_killed_run_keeps_its_finished_claims(tmp_path: Path, root: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    suite = tmp_path / "toy.toml"
    suite.write_text(HEAD + claim("first", "good", "good") + claim("second", "good", "good")
                     + claim("third", "good", "good"))
    killed = subprocess.run([sys.executable, "-c", KILLER, str(suite), str(tmp_path / "r")], cwd=root,
                            env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    folder = tmp_path / "r" / "toy"
    (checkpoint,) = folder.glob(".*.inprogress.json")
    assert not list(folder.glob("[!.]*.json")) and not list(folder.glob("*.tmp"))
    assert reading.load_all(tmp_path / "r") == ([], [])  # a checkpoint is not a result yet

    again = tmp_path / "again.toml"  # the next run into the folder finds it and keeps it
    again.write_text(HEAD + claim("other", "good", "good"))
    assert cli.main(["run", str(again), "--device", "cpu", "--quick", "--results", str(tmp_path / "r")]) == 0
    assert "checkpoint was kept" in capsys.readouterr().err
    assert not checkpoint.exists() and not list(folder.glob(".*"))
    runs, problems = reading.load_all(tmp_path / "r")
    assert problems == [] and len(runs) == 2  # the recovered run and the new one
    files = sorted(folder.glob("*.json"))
    recovered = next(reading.load(f) for f in files if reading.load(f)["interrupted"])
    assert [(v["claim"], v["verdict"] != "skipped") for v in recovered["verdicts"]] == [
        ("first", True), ("second", False), ("third", False)]
    assert "killed" in recovered["verdicts"][1]["reason"]
    assert {m["claim"] for m in recovered["measurements"]} == {"first"}


def test_a_finished_run_leaves_no_checkpoint(tmp_path: Path) -> None:
    suite = tmp_path / "toy.toml"
    suite.write_text(HEAD + claim("a", "good", "good") + claim("b", "good", "good"))
    assert cli.main(["run", str(suite), "--device", "cpu", "--quick", "--results", str(tmp_path / "r")]) == 0
    assert [p.name.startswith(".") for p in (tmp_path / "r" / "toy").iterdir()] == [False]


@pytest.mark.parametrize(("args", "expected"), [
    (["--shard", "1/100000000", "--no-write"], "--shard: expected at most"),
    (["--gpus", ""], "--gpus: expected distinct indices"),
])
def test_out_of_bounds_run_options_exit_2_naming_the_option(tmp_path: Path, capsys, args: list[str],  # type: ignore[no-untyped-def]
                                                             expected: str) -> None:
    suite = tmp_path / "toy.toml"
    suite.write_text(HEAD + claim("c", "good", "good"))
    assert cli.main(["run", str(suite), "--device", "cpu", *args]) == 2
    assert expected in capsys.readouterr().err


def test_validate_refuses_an_untrainable_model_and_a_bad_pattern(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    huge = """
[[claims]]
id = "t"
kind = "train-speedup"
quote = "q"
baseline = { model = "vit", arch = { embed_dim = 16384, num_heads = 1, depth = 256 } }
candidate = { model = "vit" }
cases = [{ size = "tiny", batch = 2 }]
rule = { at_least = 1.0 }
"""
    pattern = """
[[claims]]
id = "ts"
kind = "time-share"
quote = "q"
subject = { model = "kat", impl = "torch_reference" }
cases = [{ size = "tiny", batch = 2 }]
options = { kernel_pattern = "([" }
rule = { at_least = 0.1 }
"""
    for body, field in ((huge, "claims[0].baseline"), (pattern, "claims[0].options.kernel_pattern")):
        suite = tmp_path / "toy.toml"
        suite.write_text(HEAD + body)
        assert cli.main(["validate", str(suite)]) == 2
        assert field in capsys.readouterr().err


def test_a_report_to_an_unwritable_folder_exits_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    blocked = tmp_path / "file"
    blocked.write_text("in the way")
    assert cli.main(["report", "--results", str(tmp_path), "--out", str(blocked / "report")]) == 2
    assert "--out" in capsys.readouterr().err
