"""The commands on suite and result files: validate, list, show, env, verify, schema, merge."""

from __future__ import annotations

import argparse
import json
import sys

from kbench.cli.options import folder, prepare


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="check suite files without running them")
    p.add_argument("suites", nargs="+")
    p.set_defaults(handler=cmd_validate)
    p = sub.add_parser("list", help="list operations, implementations, model families (and a suite's claims)")
    p.add_argument("suite", nargs="?")
    p.set_defaults(handler=cmd_list)
    p = sub.add_parser("show", help="print the verdicts of a result file")
    p.add_argument("result")
    p.set_defaults(handler=cmd_show)
    p = sub.add_parser("env", help="print the environment a run would record")
    p.set_defaults(handler=cmd_env)
    p = sub.add_parser("verify", help="does a result's recorded source digest match this tree (or a commit)?")
    p.add_argument("result")
    p.add_argument("--commit", help="compare with this git commit instead of the working tree")
    p.set_defaults(handler=cmd_verify)
    p = sub.add_parser("schema", help="print the JSON Schema of suite files (for editors)")
    p.set_defaults(handler=cmd_schema)
    p = sub.add_parser("merge", help="join result files of one suite and source: shards, or rounds of repeated runs")
    p.add_argument("files", nargs="+", metavar="RESULT")
    p.add_argument("--results", type=folder, default="results", help="results folder to write the merged result to")
    p.add_argument("--partial", action="store_true",
                   help="write the merge even when shards or claims are missing (the file says which; exit 0)")
    p.set_defaults(handler=cmd_merge)


def cmd_validate(args: argparse.Namespace) -> int:
    prepare("cpu")
    from kbench import suite

    for path in args.suites:
        s = suite.load(path)
        print(f"{path}: ok ({len(s.claims)} claims)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    prepare("auto")
    from kbench import registry, suite

    suite.load_kernels()
    for name, op in registry.operations().items():
        print(f"operation {name} (reference: {op.reference})")
        for impl in registry.implementations(name).values():
            needs = f" [needs {', '.join(impl.requires)}]" if impl.requires else ""
            print(f"  {impl.name:<18} {impl.description}{needs}")
    for fam in registry.model_families().values():
        print(f"model family {fam.name}: sizes {', '.join(fam.sizes)}; {fam.description}")
    if args.suite:
        s = suite.load(args.suite)
        print(f"suite {s.name}: {s.paper.title}")
        for c in s.claims:
            print(f"  {c.id:<28} {c.kind:<20} rule {c.rule.describe(c.paper_value)}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from kbench import console, reading

    console.print_result(reading.load(args.result))
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from kbench import env

    print(json.dumps(env.collect(prepare("auto")), indent=1))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from kbench import provenance, reading

    data = reading.load(args.result)
    ok, differ = provenance.verify(data.get("provenance") or {}, args.commit)
    where = f"commit {args.commit}" if args.commit else "the working tree"
    recorded = data["env"].get("git_commit")
    if ok:
        print(f"{args.result}: the recorded source digest matches {where} (the result says commit {recorded})")
        return 0
    print(f"{args.result}: the recorded source digest does not match {where}; files that differ:")
    for path in differ:
        print(f"  {path}")
    return 1


def cmd_schema(args: argparse.Namespace) -> int:
    prepare("cpu")
    from kbench import suite

    print(json.dumps(suite.json_schema(), indent=1))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from kbench import merge, reading, results

    merged = merge.merge([reading.load(f) for f in args.files])
    missing = [*(f"shard {s}" for s in merged.plan.get("missing_shards") or ()),
               *(f"claim {c}" for c in merged.plan.get("missing_claims") or ())]
    if missing and not args.partial:
        print(f"kbench merge: incomplete: {', '.join(missing)} missing from the files given; nothing written "
              "(add --partial to write it anyway, marked incomplete)", file=sys.stderr)
        return 2
    path, problem = results.write_or_rescue(merged, args.results)
    print(f"merged {len(args.files)} result(s) into {path}" + (f" (fallback: {problem})" if problem else ""))
    return 1 if problem else 0
