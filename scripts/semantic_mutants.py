"""Plausible bugs put back one at a time, and whether the tests written for them catch each.

    python scripts/semantic_mutants.py [--only NAME ...]

mutmut changes operators and constants; these are the mistakes a reviewer plants by hand (a
ratio's sides swapped, pairing lost, the wrong split read). Each entry edits one file (an exact
text replaced once), runs the tests named for it, and restores the file whatever happens. A
mutant is caught when those tests fail. Exit 1 when any is missed. Needs a clean tree for the
files it edits (it refuses otherwise, so no one's work is overwritten).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids or -k expressions as "file::name" / "file -k expr"


MUTANTS = (
    Mutant("tuning keeps the worst learning rate", "kbench/kinds/_matched_side.py",
           "top = max(sign * v for _, v in finite)", "top = min(sign * v for _, v in finite)",
           ("tests/test_replication.py",)),
    Mutant("tuning scores on the test split", "kbench/kinds/_matched_side.py",
           'training.per_example(model, prepared, "val")', 'training.per_example(model, prepared, "test")',
           ("tests/test_replication.py",)),
    Mutant("a claim's own width tolerance ignored", "kbench/kinds/_matched_side.py",
           'architecture(subject, case, task, float(claim.options["tolerance"]))',
           "architecture(subject, case, task)", ("tests/test_matched.py",)),
    Mutant("matched-error seeds unpaired (a Welch interval)", "kbench/kinds/matched.py",
           "est = stats.paired_log_ratio(b, c)", "est = stats.unpaired_log_ratio(b, c)",
           ("tests/test_matched_judging.py",)),
    Mutant("the two sides trained on different seeds", "kbench/kinds/matched.py",
           'ctx.seed_for("train", seed))', 'ctx.seed_for("train", seed, side.subject.label))',
           ("tests/test_matched_collection.py",)),
    Mutant("law-ratio seeds unpaired", "kbench/kinds/law.py",
           "return [CaseValue(case, stats.paired_log_ratio(b, c), details",
           "return [CaseValue(case, stats.unpaired_log_ratio(b, c), details", ("tests/test_law_judging.py",)),
    Mutant("law-ratio candidate rows paired by position", "kbench/kinds/law.py",
           "ct[[cs.index(seed) for seed in common]]", "ct[: len(common)]", ("tests/test_law_judging.py",)),
    Mutant("law-ratio baseline rows paired by position", "kbench/kinds/law.py",
           "bt[[bs.index(seed) for seed in common]]", "bt[: len(common)]", ("tests/test_law_judging.py",)),
    Mutant("a time share counts the kernels that do not match", "kbench/kinds/models.py",
           "if pattern.search(name)) / total", "if not pattern.search(name)) / total",
           ("tests/test_model_kinds.py",)),
    Mutant("paired ratios computed unpaired", "kbench/stats.py",
           'return Estimate.from_values(num / den, "log")', "return unpaired_log_ratio(num, den)",
           ("tests/test_laws.py", "tests/test_replication.py", "tests/test_stats.py")),
    Mutant("AIC rewards parameters", "kbench/laws.py",
           "aic = n * math.log(max(sse, 1e-300) / n) + 2 * k", "aic = n * math.log(max(sse, 1e-300) / n) - 2 * k",
           ("tests/test_laws.py",)),
    Mutant("every layer cut at the first layer's threshold", "kbench/sparsity.py",
           "return [_threshold(tail, cett_value) for tail in self._tails]",
           "return [_threshold(self._tails[0], cett_value) for tail in self._tails]", ("tests/test_sparsity.py",)),
    Mutant("a whole model's tolerance grows with n", "kbench/correctness.py",
           "grow = FACTOR * math.sqrt(max(1, terms))", "grow = FACTOR * max(1, terms)",
           ("tests/test_correctness.py",)),
    Mutant("the check after timing re-reads the check before it", "kbench/kinds/_kernel_timing.py",
           "if not after.ok:", "after = self.before[0]\n        if not after.ok:", ("tests/test_kinds.py",)),
    Mutant("the model check after timing draws the models and inputs of the one before",
           "kbench/kinds/_model_building.py",
           'ctx.seed_for("model-check", subject.label, size, batch, when)',
           'ctx.seed_for("model-check", subject.label, size, batch)', ("tests/test_models.py",)),
    Mutant("a layer case judged on its first variant only", "kbench/kinds/_model_building.py",
           "if not checks[-1].ok:", "if not checks[0].ok:", ("tests/test_models.py",)),
    Mutant("timings cached without their pass", "kbench/kinds/_kernel_timing.py",
           'key = ("kernel", op.name, subject.impl, subject.pass_, case_key(case), graph, rounds)',
           'key = ("kernel", op.name, subject.impl, case_key(case), graph, rounds)', ("tests/test_kinds.py",)),
    Mutant("copy bandwidth counts the bytes once", "kbench/timing.py",
           "return 2 * n * 4 / (np.array(samples) * 1e-3) / 1e9", "return n * 4 / (np.array(samples) * 1e-3) / 1e9",
           ("tests/test_stats.py",)),
    Mutant("timed outputs not required to be plain tensors", "kbench/timing.py",
           "if type(t) is not torch.Tensor or t.layout != torch.strided:", "if False:",
           ("tests/test_integrity.py",)),
    Mutant("no timed call checked after the round", "kbench/kinds/_kernel_timing.py",
           "self._check_sketches(r, taken, work)", "pass", ("tests/test_integrity.py",)),
    Mutant("a replaced clock trusted", "kbench/timing.py",
           "    problem = _clock_problem(samples, outer)\n    if problem:\n        raise Tampered(problem)\n"
           "    return Round(samples,", "    return Round(samples,", ("tests/test_integrity.py",)),
    Mutant("the law's claimed direction not checked", "kbench/laws.py",
           "return min(value, 1.0 / value) if claimed_fit_problem(spec, u, y) else value", "return value",
           ("tests/test_laws.py",)),
)


def _caught(tests: tuple[str, ...]) -> bool:
    """True when the tests fail (pytest's 1) or cannot be collected (2); a run that found no tests
    or could not start (3 to 5) is an error of this script's list, not a catch."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "KBENCH_HOST_CHECK": "off"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:randomly", *tests]
    code = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    if code > 2:
        raise SystemExit(f"semantic_mutants: pytest exited {code} on {' '.join(tests)} (no tests, or a usage error)")
    return code != 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="names (or parts of names) of the mutants to run")
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if not args.only or any(o in m.name for o in args.only)]
    dirty = subprocess.run(["git", "status", "--porcelain", *{m.path for m in chosen}], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    if dirty:
        print(f"semantic_mutants: uncommitted changes in the files it edits:\n{dirty}", file=sys.stderr)
        return 2
    missed = []
    for m in chosen:
        path = ROOT / m.path
        original = path.read_text()
        if original.count(m.old) != 1:
            print(f"SKIP {m.name}: the text to change is not in {m.path} exactly once (the code moved)")
            missed.append(m.name)
            continue
        try:
            path.write_text(original.replace(m.old, m.new))
            caught = _caught(m.tests)
        finally:
            path.write_text(original)
        print(f"{'caught' if caught else 'MISSED'}  {m.name}  ({m.path}; {' '.join(m.tests)})")
        if not caught:
            missed.append(m.name)
    print(f"{len(chosen) - len(missed)} of {len(chosen)} caught")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
