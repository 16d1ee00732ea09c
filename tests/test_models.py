"""The model families: published parameter counts, building by keyword, counted FLOPs, and the
check of a plugged implementation inside the model before any step is timed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from kbench import registry
from kbench.claims import Subject
from kbench.kinds._model_building import check_model, count_flops
from kbench.kinds.base import Context, Failed
from kbench.runner import QUICK_KERNEL, QUICK_MODEL
from kernels.models import kat

PUBLISHED_PARAMS = {"tiny": 5.7e6, "small": 22.1e6, "base": 86.6e6}  # KAT README
KAT, VIT = registry.model_family("kat"), registry.model_family("vit")


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("size", ["tiny", "small", "base"])
def test_parameter_counts_match_the_paper(size: str) -> None:
    with torch.device("meta"):
        model = KAT.create(size)
    assert abs(params(model) / PUBLISHED_PARAMS[size] - 1) < 0.01, params(model)


def test_kat_tiny_has_one_more_rational_layer_pair_per_block_than_vit() -> None:
    with torch.device("meta"):
        k, v = KAT.create("tiny"), VIT.create("tiny")
    assert params(k) - params(v) == 12 * 2 * (6 + 4 * 8)  # 12 blocks x 2 rationals x (shared numerator + 8 den.)


def test_any_architecture_by_keyword() -> None:
    with torch.device("meta"):
        small = VIT.create("tiny", overrides={"depth": 2, "embed_dim": 64, "num_heads": 2, "img_size": 32})
        deeper = VIT.create("tiny", overrides={"depth": 4, "embed_dim": 64, "num_heads": 2, "img_size": 32})
    block = (params(deeper) - params(small)) // 2
    dim, hidden = 64, 256
    assert block == 2 * dim * 2 + 3 * dim * dim + 3 * dim + dim * dim + dim + dim * hidden + hidden + hidden * dim + dim
    assert VIT.input_shape(VIT.arch("tiny", {"img_size": 32})) == (3, 32, 32)
    with pytest.raises(ValueError, match="unknown architecture keywords"):
        VIT.create("tiny", overrides={"wings": 2})


def test_plug_cases_are_the_models_widths_and_layout() -> None:
    cases = KAT.plug_cases(KAT.arch("small"))
    assert [c["shape"] for c in cases] == [[2, 197, 384], [2, 197, 1536]]
    assert {c["layout"] for c in cases} == {"expanded"}  # the shared numerator, expanded to every group


def test_grkan_mlp_forward_and_backward_with_a_triton_kernel() -> None:
    torch.manual_seed(0)
    mlp = kat.GRKANMlp(in_features=16, hidden_features=64, impl="kbench_triton")
    ref = kat.GRKANMlp(in_features=16, hidden_features=64, impl="torch_reference")
    ref.load_state_dict(mlp.state_dict())
    x = torch.randn(2, 5, 16)
    y, y_ref = mlp(x), ref(x)
    assert y.shape == (2, 5, 16)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-6)
    y.square().sum().backward()
    y_ref.square().sum().backward()
    assert mlp.act2.denominator.grad is not None
    torch.testing.assert_close(mlp.act2.numerator.grad, ref.act2.numerator.grad, rtol=1e-4, atol=1e-6)


def test_a_float64_model_stays_in_float64() -> None:
    mlp = kat.GRKANMlp(in_features=16, hidden_features=64).double()
    assert mlp(torch.randn(2, 5, 16, dtype=torch.float64)).dtype == torch.float64


def test_fitted_swish_init_is_close_to_swish() -> None:
    a, b = kat.fitted_coefficients("swish")
    x = np.linspace(-3, 3, 301)
    p = np.polyval(np.array(a)[::-1], x)
    q = 1 + np.abs(x) * np.polyval(np.abs(np.array(b))[::-1], np.abs(x))
    assert np.max(np.abs(p / q - x / (1 + np.exp(-x)))) < 1e-4
    with pytest.raises(ValueError, match="rational init"):
        kat.fitted_coefficients("tanh")


def test_flops_of_kat_and_vit_are_similar_and_include_the_rational() -> None:
    with torch.device("meta"):
        k, v = KAT.create("tiny"), VIT.create("tiny")
    fk, fv = count_flops(k), count_flops(v)
    rational = 12 * 197 * (192 + 768) * 21  # elements per image through both rationals x 21
    assert fk - fv == pytest.approx(rational, rel=1e-9)
    assert 1.0 < fk / fv < 1.05


SMALL = {"depth": 1, "embed_dim": 32, "num_heads": 2, "img_size": 32, "num_classes": 10}


def _ctx() -> Context:
    return Context(device=torch.device("cpu"), kernel_timing=QUICK_KERNEL, model_timing=QUICK_MODEL)


def test_the_model_check_passes_a_real_kernel() -> None:
    summaries = check_model(Subject({"model": "kat", "impl": "kbench_triton"}), {"size": "tiny", "arch": SMALL}, _ctx())
    assert summaries[-1]["variant"].startswith("the whole model at batch")
    assert set(summaries[-1]["outputs"]) == {"logits", "grads", "eval logits"}


def test_a_kernel_blind_to_the_models_layout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    subject = Subject({"model": "kat", "impl": "planted_dense_coeffs"})
    with pytest.raises(Failed, match=r"as timed 2x5x32 float32 \(expanded\)"):
        check_model(subject, {"size": "tiny", "arch": SMALL}, _ctx())
    # Without the layer-level check, the whole-model check still sees it.
    blind = dataclasses.replace(KAT, plug_cases=lambda arch: [])
    monkeypatch.setattr(registry, "model_family", lambda name: blind)
    with pytest.raises(Failed, match="the whole model"):
        check_model(subject, {"size": "tiny", "arch": SMALL}, _ctx())


# --- the suite checks of a model side and the shared toolkit (kbench.kinds._model_building) ------

def _suite_error(call: object) -> object:
    from kbench.errors import SuiteError

    with pytest.raises(SuiteError) as info:
        call()  # type: ignore[operator]
    assert info.value.path == "s.toml"
    return info.value


def test_a_model_side_is_checked_field_by_field() -> None:
    from kbench.kinds import _model_building as mb

    err = _suite_error(lambda: mb.check_side(Subject({"model": "nope"}), "s.toml", "claims[0].baseline"))
    assert err.field == "claims[0].baseline.model" and err.got == "nope"  # type: ignore[attr-defined]
    assert "kat" in err.expected and "vit" in err.expected  # type: ignore[attr-defined]
    err = _suite_error(lambda: mb.check_side(Subject({"model": "vit", "impl": "kbench_triton"}), "s.toml", "c.b"))
    assert (err.field, err.expected) == ("c.b.impl", "no impl: model family 'vit' has no pluggable layer")  # type: ignore[attr-defined]
    err = _suite_error(lambda: mb.check_side(Subject({"model": "kat"}), "s.toml", "c.b"))
    assert (err.field, err.expected) == ("c.b.impl", "the implementation of 'rational' that 'kat' uses")  # type: ignore[attr-defined]
    err = _suite_error(lambda: mb.check_side(Subject({"model": "kat", "impl": "nope"}), "s.toml", "c.b"))
    assert err.field == "c.b.impl"  # type: ignore[attr-defined]
    err = _suite_error(lambda: mb.check_side(Subject({"model": "vit", "size": "huge"}), "s.toml", "c.b"))
    assert (err.field, err.got) == ("c.b.size", "huge")  # type: ignore[attr-defined]
    assert err.expected == f"a size of vit ({', '.join(VIT.sizes)})"  # type: ignore[attr-defined]
    err = _suite_error(lambda: mb.check_side(Subject({"model": "vit", "arch": {"depth": 0}}), "s.toml", "c.b"))
    assert err.field == "c.b.arch.depth"  # type: ignore[attr-defined]
    err = _suite_error(lambda: mb.check_side(Subject({"model": "vit", "arch": {"wings": 2}}), "s.toml", "c.b"))
    assert err.field == "c.b.arch.wings" and err.expected.startswith("an architecture keyword of vit (")  # type: ignore[attr-defined]
    assert mb.check_side(Subject({"model": "kat", "impl": "kbench_triton", "size": "tiny"}), "s.toml", "c.b") is KAT


def test_every_case_of_a_model_side_is_checked_by_its_place() -> None:
    from kbench.claims import Claim
    from kbench.kinds import _model_building as mb
    from kbench.verdicts import Rule

    def claim(cases: tuple[dict, ...], cpu: tuple[dict, ...] | None = None, model: str = "vit") -> Claim:
        return Claim("c", "train-speedup", Rule(at_least=1.0), cases=cases, cpu_cases=cpu,
                     sides={"baseline": Subject({"model": model})})

    good = {"size": "tiny", "batch": 2}
    mb.check_model_side(claim((good,), (good,)), "baseline", "s.toml", "claims[3].baseline")
    err = _suite_error(lambda: mb.check_model_side(claim((good,), (good, {"size": "huge"})), "baseline", "s.toml",
                                                   "claims[3].baseline"))
    assert (err.field, err.got) == ("claims[3].cpu_cases[1].size", "huge")  # type: ignore[attr-defined]
    err = _suite_error(lambda: mb.check_model_side(claim((good, {**good, "arch": {"depth": -1}})), "baseline",
                                                   "s.toml", "claims[3].baseline"))
    assert err.field == "claims[3].cases[1].arch.depth"  # type: ignore[attr-defined]
    lm = dataclasses.replace(VIT, name="nowidth", width_key=None)
    registry.register_model(lm)
    try:
        err = _suite_error(lambda: mb.check_model_side(claim(({**good, "params": 5000},), model="nowidth"),
                                                       "baseline", "s.toml", "claims[3].baseline"))
        assert (err.field, err.expected) == ("claims[3].cases[0].params",  # type: ignore[attr-defined]
                                             "no parameter budget: nowidth has no width to match")
    finally:
        registry._REGISTRY.models.pop("nowidth")
    huge = {"size": "base", "arch": {"embed_dim": 12288, "depth": 64}}
    err = _suite_error(lambda: mb.check_model_side(claim((huge,)), "baseline", "s.toml", "claims[3].baseline"))
    assert err.field == "claims[3].baseline"  # type: ignore[attr-defined]
    mb.check_model_side(claim(({**good, "params": 10},)), "baseline", "s.toml", "claims[3].baseline")  # unmet: the run


def test_a_model_is_trainable_up_to_half_the_largest_memory() -> None:
    from kbench.kinds import _model_building as mb

    limit = mb.LARGEST_MEMORY // 2 // mb.BYTES_PER_PARAMETER
    mb.check_trainable(limit, "s.toml", "c.b")
    err = _suite_error(lambda: mb.check_trainable(limit + 1, "s.toml", "c.b"))
    assert err.field == "c.b" and err.expected == ("a model that half of the largest device memory kbench knows "  # type: ignore[attr-defined]
                                                   "(192 GiB) can train")
    assert err.got == f"{limit + 1} parameters (96 GiB with AdamW)"  # type: ignore[attr-defined]


def test_a_width_is_matched_by_bisection_to_the_nearest_count() -> None:
    from kbench.kinds import _model_building as mb

    mlp = registry.model_family("mlp")
    arch = mlp.arch("small", {"in_features": 10, "out_features": 3, "depth": 1})
    counts = {w: 14 * w + 3 for w in range(1, 400)}  # 10 inputs and 3 outputs around one hidden layer of w
    assert all(mb.params_of(mlp, "small", {**arch, "hidden": w}) == counts[w] for w in (1, 7, 399))
    for budget in (200, 1000, 3333, 5000):
        matched, count = mb.match_width(mlp, "small", arch, budget, tolerance=0.5)
        best = min(counts, key=lambda w: (abs(counts[w] - budget), w))
        assert matched["hidden"] == best and count == counts[best]
    with pytest.raises(Failed, match=r"^mlp: the nearest width \(hidden = 1\) has 17 parameters, more than 10% from "
                                     r"the budget 5$"):
        mb.match_width(mlp, "small", arch, 5)
    with pytest.raises(Failed, match="^vit declares no width"):
        mb.match_width(dataclasses.replace(VIT, width_key=None), "tiny", {}, 1000)


def test_input_batches_are_the_seeds_own_and_labels_cover_the_outputs() -> None:
    from kbench.kinds import _model_building as mb

    arch = VIT.arch("tiny", {"img_size": 16, "patch_size": 8, "num_classes": 3})
    images, labels = mb.input_batch(VIT, arch, 64, torch.device("cpu"), 5)
    again, _ = mb.input_batch(VIT, arch, 64, torch.device("cpu"), 5)
    other, _ = mb.input_batch(VIT, arch, 64, torch.device("cpu"), 6)
    assert images.shape == (64, 3, 16, 16) and torch.equal(images, again) and not torch.equal(images, other)
    assert labels.shape == (64,) and set(labels.tolist()) == {0, 1, 2}


def test_the_check_after_timing_runs_the_whole_model_again_at_the_timed_batch() -> None:
    from kbench.kinds._model_building import check_model_after

    assert check_model_after(Subject({"model": "vit"}), {"size": "tiny"}, _ctx()) == []  # nothing plugged
    subject = Subject({"model": "kat", "impl": "torch_reference"})
    (after,) = check_model_after(subject, {"size": "tiny", "arch": SMALL, "batch": 3}, _ctx())
    assert after["variant"] == "the whole model at batch 3 (after timing)"
    assert set(after["outputs"]) == {"logits", "grads", "eval logits"}
    assert after["case"] == {"size": "tiny", "arch": KAT.arch("tiny", SMALL)}
    (default,) = check_model_after(subject, {"size": "tiny", "arch": SMALL}, _ctx())
    assert default["variant"] == "the whole model at batch 2 (after timing)"
    planted = Subject({"model": "kat", "impl": "planted_dense_coeffs"})
    with pytest.raises(Failed, match=r"^kat\[planted_dense_coeffs\]: wrong against float64 on the whole model at "
                                     r"batch 3 \(after timing\)"):
        check_model_after(planted, {"size": "tiny", "arch": SMALL, "batch": 3}, _ctx())


def test_model_stats_count_the_reference_model_on_no_memory() -> None:
    from kbench.kinds._model_building import model_stats

    reference = registry.operation("rational").reference
    for family, impl in ((KAT, reference), (VIT, None)):
        arch = family.arch("tiny", SMALL)
        with torch.device("meta"):
            model = family.create("tiny", impl, arch)
        assert model_stats(family, "tiny", arch) == {"params": params(model),
                                                     "flops": count_flops(model, family.input_shape(arch))}
    assert model_stats(KAT, "tiny", KAT.arch("tiny", SMALL))["flops"] > model_stats(VIT, "tiny", VIT.arch(
        "tiny", SMALL))["flops"]  # the rational's own FLOPs counted


def test_the_check_before_timing_covers_every_layer_case_then_the_whole_model_at_two_and_at_the_timed_batch() -> None:
    subject = Subject({"model": "kat", "impl": "torch_reference"})
    plugs = KAT.plug_cases(KAT.arch("tiny", SMALL))
    summaries = check_model(subject, {"size": "tiny", "arch": SMALL, "batch": 3}, _ctx())
    whole = [s["variant"] for s in summaries if s["variant"].startswith("the whole model")]
    assert whole == ["the whole model at batch 2 (before timing)", "the whole model at batch 3 (before timing)"]
    assert len(summaries) - len(whole) >= len(plugs) > 0  # every layer case's checks are kept before them
    assert [s["case"] for s in summaries if s["variant"] == "as timed"] == plugs  # each case's, not the last's
    assert summaries[-1]["case"] == {"size": "tiny", "arch": KAT.arch("tiny", SMALL)}
    at_two = check_model(subject, {"size": "tiny", "arch": SMALL, "batch": 2}, _ctx())
    assert [s["variant"] for s in at_two if s["variant"].startswith("the whole model")] == [
        "the whole model at batch 2 (before timing)"]
    assert check_model(Subject({"model": "vit"}), {"size": "tiny"}, _ctx()) == []


# --- the toolkit against families written here, whose builds and counts are known ---------------

class _Flat(torch.nn.Module):
    def __init__(self, shape: tuple[int, ...], outputs: int) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(int(np.prod(shape)), outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1))


def _recording(shape: tuple[int, ...], built: list[str | None], plugs: str | None = "rational",
               **fields: object) -> registry.ModelFamily:
    """A family of one linear layer over the flattened input that logs the implementation of each build."""
    def build(impl: str | None, **arch: object) -> torch.nn.Module:
        built.append(impl)
        return _Flat(shape, 3)

    return registry.ModelFamily("rec", build, {"s": {}, "t": {}}, {}, lambda arch: shape, plugs=plugs,
                                outputs=lambda arch: 3, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("shape", "arch", "batch", "grads"), [
    ((3, 6, 6), {"patch_size": 4, "embed_dim": 6}, 2, 2 * (36 // 16) * 6),  # tokens: 36 pixels // 4**2
    ((3, 6, 6), {}, 2, 2 * 36),  # no patches: a token per pixel, an embedding of 1
    ((3, 2, 2), {"patch_size": 4, "embed_dim": 5}, 3, 3 * 1 * 5),  # fewer pixels than a patch: one token
])
def test_the_whole_model_check_builds_reference_then_plugged_and_grows_the_gradients_tolerance_by_their_terms(
        monkeypatch: pytest.MonkeyPatch, shape: tuple[int, ...], arch: dict[str, int], batch: int, grads: int) -> None:
    from kbench import correctness
    from kbench.kinds import _model_building as mb

    built: list[str | None] = []
    terms: list[int] = []
    real = correctness.model_output_error

    def spy(got: torch.Tensor, own: torch.Tensor, gold: torch.Tensor, n: int) -> object:
        terms.append(n)
        return real(got, own, gold, n)

    monkeypatch.setattr(correctness, "model_output_error", spy)
    op = registry.operation("rational")
    subject = Subject({"model": "rec", "impl": "planted_but_equal"})
    (chk,) = mb._check_whole_model(_recording(shape, built), "s", arch, subject, op, _ctx(), batch)
    assert built == [op.reference, "planted_but_equal"]
    assert terms == [1, grads, 1] and list(chk["outputs"]) == ["logits", "grads", "eval logits"]


def test_model_stats_build_on_the_plugged_operations_reference_or_on_nothing() -> None:
    from kbench.kinds._model_building import model_stats

    for plugs, expect in (("rational", registry.operation("rational").reference), (None, None)):
        built: list[str | None] = []
        assert model_stats(_recording((3, 6, 6), built, plugs), "s", {}) == {"params": 108 * 3 + 3,
                                                                            "flops": 2 * 108 * 3}
        assert built == [expect]


class _Attention(torch.nn.Module):
    """timm's switch: fused attention (invisible to the counter) unless `fused_attn` is off."""

    fused_attn = True

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(4, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :1].expand(-1, 6) if self.fused_attn else x @ self.w

    def counted_flops(self, x: torch.Tensor) -> int:
        return 100 * x.shape[-1]  # of its input (4 wide), not its output (6)


def test_flops_count_attention_unfused_plus_what_modules_count_for_themselves_on_their_input() -> None:
    model = _Attention()
    assert count_flops(model, (4,)) == 2 * 4 * 6 + 400


def test_input_labels_come_from_the_seed_not_from_the_global_generator() -> None:
    from kbench.kinds import _model_building as mb

    arch = VIT.arch("tiny", {"img_size": 16, "patch_size": 8, "num_classes": 1000})
    torch.manual_seed(0)
    _, labels = mb.input_batch(VIT, arch, 32, torch.device("cpu"), 5)
    torch.manual_seed(1)
    _, again = mb.input_batch(VIT, arch, 32, torch.device("cpu"), 5)
    assert torch.equal(labels, again)


def test_the_preset_is_the_sides_size_else_the_cases_else_the_familys_first() -> None:
    from kbench.kinds._model_building import architecture

    assert architecture(Subject({"model": "vit", "size": "small"}), {"size": "tiny"})[1] == "small"
    assert architecture(Subject({"model": "vit"}), {"size": "small"})[1] == "small"
    family, size, arch = architecture(Subject({"model": "vit"}), {})
    assert family is VIT and size == VIT.sizes[0] and arch == VIT.arch(VIT.sizes[0])
    _, _, arch = architecture(Subject({"model": "vit", "arch": {"depth": 3}}),
                              {"size": "tiny", "arch": {"depth": 2, "num_heads": 2}})
    assert (arch["depth"], arch["num_heads"]) == (3, 2)  # the side's own keywords last, over the case's


def test_case_checks_name_their_place_under_any_prefix_and_go_on_past_a_budget_no_width_meets() -> None:
    from kbench.claims import Claim
    from kbench.kinds import _model_building as mb
    from kbench.verdicts import Rule

    def claim(cases: tuple[dict, ...], model: str = "vit") -> Claim:
        return Claim("c", "train-speedup", Rule(at_least=1.0), cases=cases,
                     sides={"baseline": Subject({"model": model})})

    unmet, bad = {"size": "tiny", "params": 10}, {"size": "huge"}
    err = _suite_error(lambda: mb.check_model_side(claim((unmet, bad)), "baseline", "s.toml", "x.claims[3].baseline"))
    assert (err.field, err.got) == ("x.claims[3].cases[1].size", "huge")  # type: ignore[attr-defined]
    err = _suite_error(lambda: mb.check_model_side(claim((unmet,), "nope"), "baseline", "s.toml", "claims[3].baseline"))
    assert err.field == "claims[3].baseline.model"  # type: ignore[attr-defined]


class _Counts:
    """A parameter count of 10 per width step that refuses to be asked more than a search needs."""

    def __init__(self, per_width: int = 10, most: int = 24) -> None:
        self.per_width, self.most, self.calls = per_width, most, 0

    def __call__(self, family: registry.ModelFamily, size: str, arch: dict[str, int]) -> int:
        self.calls += 1
        assert self.calls <= self.most, "the width search built more models than a doubling and a bisection need"
        return self.per_width * (arch["hidden"] // 2)


@pytest.mark.parametrize(("budget", "width"), [(12, 1), (70, 7), (80, 8), (76, 8), (333, 33), (1000, 100)])
def test_a_width_search_finds_the_nearest_count_in_few_builds(monkeypatch: pytest.MonkeyPatch, budget: int,
                                                              width: int) -> None:
    from kbench.kinds import _model_building as mb

    monkeypatch.setattr(mb, "params_of", _Counts())
    family = _recording((3,), [], width_key="hidden", width_step=2)
    assert mb.match_width(family, "s", {"depth": 1}, budget, tolerance=0.5) == ({"depth": 1, "hidden": 2 * width},
                                                                                10 * width)


def test_a_width_search_stops_at_the_widest_and_its_tolerance_is_inclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    from kbench.kinds import _model_building as mb

    family = _recording((3,), [], width_key="hidden", width_step=2)
    monkeypatch.setattr(mb, "params_of", _Counts(most=60))
    with pytest.raises(Failed, match=rf"\(hidden = {2 * mb.MAX_WIDTH}\) has {10 * mb.MAX_WIDTH} parameters"):
        mb.match_width(family, "s", {}, 10**12)
    monkeypatch.setattr(mb, "params_of", _Counts(per_width=150))
    assert mb.match_width(family, "s", {}, 100, tolerance=0.5) == ({"hidden": 2}, 150)  # 50 off: exactly half


def test_a_layer_case_failing_in_a_later_variant_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from kbench import correctness

    def check_all(*args: object) -> list[object]:  # check_all ends at the first failing variant
        return [SimpleNamespace(ok=True, as_dict=dict), SimpleNamespace(ok=False, describe=lambda: "wrong strided")]

    monkeypatch.setattr(correctness, "check_all", check_all)
    with pytest.raises(Failed, match="inside kat: wrong strided$"):
        check_model(Subject({"model": "kat", "impl": "torch_reference"}), {"size": "tiny", "arch": SMALL}, _ctx())


def test_a_timed_batch_below_two_is_checked_as_well_and_after_timing_draws_new_models_and_inputs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kbench.kinds import _model_building as mb

    subject = Subject({"model": "kat", "impl": "torch_reference"})
    summaries = check_model(subject, {"size": "tiny", "arch": SMALL, "batch": 1}, _ctx())
    assert [s["variant"] for s in summaries if s["variant"].startswith("the whole model")] == [
        "the whole model at batch 2 (before timing)", "the whole model at batch 1 (before timing)"]
    seeds: list[int] = []
    real = mb.input_batch

    def spy(family: registry.ModelFamily, arch: object, batch: int, device: torch.device, seed: int) -> object:
        seeds.append(seed)
        return real(family, arch, batch, device, seed)  # type: ignore[arg-type]

    monkeypatch.setattr(mb, "input_batch", spy)
    mb.check_model(subject, {"size": "tiny", "arch": SMALL}, _ctx())
    mb.check_model_after(subject, {"size": "tiny", "arch": SMALL}, _ctx())
    assert len(seeds) == 2 and seeds[0] != seeds[1]  # the same batch, not the same draw
