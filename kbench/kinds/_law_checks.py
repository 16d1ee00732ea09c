"""What `kbench validate` checks of a law claim before anything runs: the families take the task,
the sweep's points and checkpoints make sense, and every model the case will build can be built
(on the meta device: no memory).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from kbench import data, registry, sparsity, sweeps
from kbench.claims import Claim, Subject
from kbench.data import text
from kbench.errors import SuiteError
from kbench.kinds._law_series import SIZE_SWEEPS, TEXT_TASK, swept_key
from kbench.kinds._law_spec import check_spec, spec
from kbench.kinds._model_building import architecture


def check_family(claim: Claim, family: registry.ModelFamily, path: str, where: str, role: str) -> None:
    sweep = claim.options["sweep"]
    key = swept_key(family, sweep)
    if sweep in SIZE_SWEEPS and key is None:
        raise SuiteError(path, f"{where}.options.sweep", f"data (model family {family.name} has no {sweep} to sweep)")
    if sweep in SIZE_SWEEPS and key in (claim.side(role).fields.get("arch") or {}):
        raise SuiteError(path, f"{where}.{role}.arch.{key}", f"no {key}: the {sweep} sweep sets it from the "
                         "case's points")
    problem = check_spec(spec(claim.options), min(len(c["points"]) for c in (*claim.cases, *(claim.cpu_cases or ()))))
    if problem:
        raise SuiteError(path, f"{where}.options", problem)
    if claim.options["statistic"] == "fit-advantage" and claim.options.get("direction") is None:
        raise SuiteError(path, f"{where}.options.direction", "the claimed law's direction (increasing or "
                         "decreasing): a form that fits best running the other way is not the claimed law")


def check_case(claim: Claim, case: Mapping[str, Any], path: str, loc: str) -> None:
    points = case["points"]
    if any(b <= a for a, b in zip(points, points[1:], strict=False)):
        raise SuiteError(path, f"{loc}.points", "strictly increasing points", points)
    sweep = claim.options["sweep"]
    if sweep in SIZE_SWEEPS:
        if "data" not in case:
            raise SuiteError(path, f"{loc}.data", f"the tokens or examples each {sweep} trains on (sweep = {sweep})")
        if any(p != int(p) for p in points):
            raise SuiteError(path, f"{loc}.points", f"whole {sweep}s", points)
    elif "data" in case:
        raise SuiteError(path, f"{loc}.data", "no data: a data sweep's points are the amounts trained on")
    task = case["task"]
    if task != TEXT_TASK and task not in data.names():
        raise SuiteError(path, f"{loc}.task", f"{TEXT_TASK} or a kbench.data task ({', '.join(data.names())})", task)
    if claim.options["quantity"] == "activation-ratio" and task != TEXT_TASK:
        raise SuiteError(path, f"{loc}.task", f"{TEXT_TASK} (the PPL-p% activation ratio needs a language model's "
                         "perplexity)", task)
    if claim.options["labels"] == "random" and task == TEXT_TASK:
        raise SuiteError(path, f"{claim_where(loc)}.options.labels", "real (text has no labels to shuffle)", "random")
    for role, subject in claim.sides.items():
        family = registry.model_family(subject.model)
        if (task == TEXT_TASK) != (family.name == "tiny-lm"):
            raise SuiteError(path, f"{claim_where(loc)}.{role}.model",
                             f"{'tiny-lm' if task == TEXT_TASK else 'an image model'} for task {task}", family.name)
        size = subject.fields.get("size") or case.get("size") or family.sizes[0]
        if size not in family.presets:
            raise SuiteError(path, f"{loc}.size", f"a size of {family.name} ({', '.join(family.sizes)})", size)
        check_buildable(family, size, subject, case, claim, path, loc, role)


def claim_where(loc: str) -> str:
    return loc.rsplit(".", 1)[0]


def check_buildable(family: registry.ModelFamily, size: str, subject: Subject, case: Mapping[str, Any], claim: Claim,
                     path: str, loc: str, role: str) -> None:
    """Each model the case will build, built on the meta device (no memory): a bad width fails
    now; checkpoints that would fall on the same training step are refused too."""
    task = None
    if case["task"] != TEXT_TASK:
        try:
            task = data.load(case["task"], 0)
        except data.DataError:
            return  # the run skips the claim with the reason
    _, _, arch = architecture(subject, case, task)  # the same preset `size` names
    if case["task"] == TEXT_TASK and int(arch.get("vocab", text.VOCAB)) < text.VOCAB:
        raise SuiteError(path, f"{claim_where(loc)}.{role}.arch.vocab", f"at least {text.VOCAB} (the text is bytes)",
                         arch.get("vocab"))
    sizes = case["points"] if claim.options["sweep"] in SIZE_SWEEPS else [None]
    for w in sizes:
        trial = {**arch, str(swept_key(family, claim.options["sweep"])): int(w)} if w is not None else arch
        where = f"{loc}.points" if w is not None else f"{claim_where(loc)}.{role}.arch"
        try:
            with torch.device("meta"):
                model = family.create(size, None, trial)
        except (ValueError, TypeError, RuntimeError, AssertionError) as exc:
            raise SuiteError(path, where, f"an architecture {family.name} can build", f"{trial}: {exc}") from None
        try:
            sparsity.down_projections(model)
        except ValueError as exc:
            raise SuiteError(path, f"{claim_where(loc)}.{role}.model", "a model whose FFN activations kbench can "
                             "read (tiny-lm, vit)", str(exc)) from None
    per_step = int(claim.options["batch"]) * (int(arch["seq_len"]) if case["task"] == TEXT_TASK else 1)
    amounts = [int(case["data"])] if claim.options["sweep"] in SIZE_SWEEPS else [int(p) for p in case["points"]]
    steps = sweeps.steps_for(amounts, per_step)
    if len(set(steps)) != len(steps):
        raise SuiteError(path, f"{loc}.points", f"amounts of data at least one step ({per_step} "
                         f"{'tokens' if case['task'] == TEXT_TASK else 'examples'}) apart", case["points"])
    warm = int(claim.options["warmup"]) * per_step
    if amounts[0] < warm:  # a data sweep's first checkpoint, or the data each width of a width sweep trains on
        field = "points" if claim.options["sweep"] == "data" else "data"
        raise SuiteError(path, f"{loc}.{field}", f"amounts past the learning-rate warm-up ({claim.options['warmup']} "
                         f"steps = {warm} {'tokens' if case['task'] == TEXT_TASK else 'examples'}): a checkpoint "
                         "inside it measures the schedule, not the data", case[field])
