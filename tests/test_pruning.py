"""Pruning: masks and torch.nn.utils.prune, safetensors round trips, scores against hand-computed
cases, exact densities, IMP (nested masks, exact rewinding), gradual pruning, SET/RigL, planted
tickets, the exercise checks, bad input and the docstring examples."""

import doctest
import importlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

import sparsecourse.checks as checks
from sparsecourse import pruning as pr

MODULES = ["sparsecourse.pruning", "sparsecourse.pruning.masks", "sparsecourse.pruning.scores",
           "sparsecourse.pruning.imp", "sparsecourse.pruning.dst",
           "sparsecourse.pruning.training", "sparsecourse.pruning.planted",
           "sparsecourse.checks._pruning"]


@pytest.fixture(scope="module")
def data():
    return pr.digits_data()


def mlp(seed=0, sizes=(12, 20, 8, 3)):
    return pr.lenet_300_100(sizes, seed=seed)


def random_bool(shape, p, seed):
    return torch.from_numpy(np.random.default_rng(seed).random(shape) < p)


# ------------------------------------------------------------------------------ masks

def test_mask_pruning_forward_uses_the_masked_weight_and_remove_makes_it_permanent():
    net = mlp()
    x = torch.randn(5, 12, generator=torch.Generator().manual_seed(0))
    masks = {k: random_bool(tuple(w.shape), 0.4, i)
             for i, (k, w) in enumerate(pr.effective_weights(net).items())}
    dense = {k: w.clone() for k, w in pr.effective_weights(net).items()}
    pr.apply_masks(net, masks)
    assert isinstance(net[0]._forward_pre_hooks[next(iter(net[0]._forward_pre_hooks))],
                      pr.MaskPruning)
    assert prune.is_pruned(net)
    manual = x
    for i, k in enumerate(["0.weight", "2.weight", "4.weight"]):
        layer = net[2 * i]
        manual = F.linear(manual, dense[k] * masks[k], layer.bias)
        if i < 2:
            manual = torch.relu(manual)
    out = net(x)
    torch.testing.assert_close(out, manual, rtol=0, atol=1e-6)
    # gradients of the pruned weights are zero
    out.sum().backward()
    assert bool((net[0].weight_orig.grad[~masks["0.weight"]] == 0).all())
    pr.remove_masks(net)
    assert not prune.is_pruned(net) and isinstance(net[0].weight, nn.Parameter)
    assert bool((net[0].weight[~masks["0.weight"]] == 0).all())
    torch.testing.assert_close(net(x), out, rtol=0, atol=0)


def test_apply_masks_replaces_an_existing_mask_and_get_masks_reads_it():
    net = mlp()
    m1 = {"0.weight": random_bool((20, 12), 0.5, 1)}
    m2 = {"0.weight": random_bool((20, 12), 0.5, 2)}
    pr.apply_masks(net, m1)
    pr.apply_masks(net, m2)             # may regrow weights (as in dynamic sparse training)
    got = pr.get_masks(net)
    assert torch.equal(got["0.weight"], m2["0.weight"])
    assert bool(got["2.weight"].all()) and got["0.weight"].dtype == torch.bool
    assert torch.equal(net[0].weight, net[0].weight_orig * m2["0.weight"])


def test_masks_survive_a_safetensors_round_trip_bit_exactly(tmp_path):
    net = mlp()
    masks = pr.random_masks(net, 0.8, seed=3)
    path = tmp_path / "m.safetensors"
    pr.save_masks(masks, path, metadata={"sparsity": "0.8"})
    back = pr.load_masks(path)
    assert set(back) == set(masks)
    for k in masks:
        assert back[k].dtype == torch.bool and torch.equal(back[k], masks[k])
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        assert f.metadata() == {"sparsity": "0.8"}
    a, b = mlp(), mlp()
    pr.apply_masks(a, masks)
    pr.apply_masks(b, back)
    x = torch.randn(4, 12)
    assert torch.equal(a(x), b(x))


def test_save_masks_refuses_scores_and_load_masks_names_bad_files(tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(TypeError, match=r"masks\['w'\] must be a boolean tensor"):
        pr.save_masks({"w": torch.tensor([0.0, 1.0])}, path)
    from safetensors.torch import save_file

    weights = tmp_path / "weights.safetensors"
    save_file({"0.weight": torch.randn(3, 4)}, str(weights))
    with pytest.raises(ValueError, match="weights.safetensors.*not a mask file.*float32"):
        pr.load_masks(weights)
    pr.save_masks({"w": torch.tensor([True, False, True])}, path)
    raw = path.read_bytes()
    for name, content in [("empty", b""), ("truncated", raw[: len(raw) // 2]),
                          ("corrupt", b"\xff" * 64)]:
        bad = tmp_path / f"{name}.safetensors"
        bad.write_bytes(content)
        with pytest.raises(ValueError, match=f"{name}.safetensors.*not a readable mask file"):
            pr.load_masks(bad)
    with pytest.raises(ValueError, match="is a directory"):
        pr.load_masks(tmp_path)
    with pytest.raises(FileNotFoundError, match="no mask file"):
        pr.load_masks(tmp_path / "missing.safetensors")


def test_get_state_and_set_state_rewind_a_pruned_model_exactly():
    net = mlp()
    init = pr.get_state(net)
    pr.apply_masks(net, pr.random_masks(net, 0.5, seed=0))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    pr.set_state(net, init)
    now = pr.get_state(net)
    assert set(now) == set(init)
    assert all(torch.equal(now[k], init[k]) for k in init)
    assert torch.equal(net[0].weight, init["0.weight"] * net[0].weight_mask)


def test_clone_model_copies_a_pruned_model_independently():
    net = mlp()
    pr.apply_masks(net, pr.random_masks(net, 0.5, seed=0))
    twin = pr.clone_model(net)
    x = torch.randn(3, 12)
    assert torch.equal(twin(x), net(x))
    with torch.no_grad():
        twin[0].weight_orig.add_(1.0)
    assert not torch.equal(twin[0].weight_orig, net[0].weight_orig)


def test_is_nested_and_densities():
    a = {"w": torch.tensor([True, False, False, False])}
    b = {"w": torch.tensor([True, True, False, False])}
    assert pr.is_nested(a, b) and not pr.is_nested(b, a)
    assert pr.density(b) == 0.5 and pr.layer_densities(a) == {"w": 0.25}
    with pytest.raises(ValueError, match="same weights"):
        pr.is_nested(a, {"v": b["w"]})


# ------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5, float("nan")])
def test_sparsity_outside_0_1_raises(sparsity):
    net = mlp()
    with pytest.raises(ValueError, match="sparsity"):
        pr.global_magnitude_masks(net, sparsity)
    with pytest.raises(ValueError, match="sparsity"):
        pr.random_masks(net, sparsity, seed=0)
    with pytest.raises(ValueError, match="sparsity"):
        pr.synflow_masks(net, sparsity, (12,), n_iter=2)


def test_non_numeric_sparsity_raises_type_error():
    with pytest.raises(TypeError, match="sparsity"):
        pr.global_magnitude_masks(mlp(), "0.5")


def test_mask_that_does_not_match_its_weight_raises():
    net = mlp()
    with pytest.raises(ValueError, match=r"masks\['0.weight'\] has shape \(12, 20\)"):
        pr.apply_masks(net, {"0.weight": torch.ones(12, 20, dtype=torch.bool)})
    with pytest.raises(ValueError, match="mask has shape"):
        pr.MaskPruning.apply(nn.Linear(3, 2), "weight", mask=torch.ones(3, 2))
    with pytest.raises(ValueError, match="not a prunable weight"):
        pr.apply_masks(net, {"0.bias": torch.ones(20, dtype=torch.bool)})
    with pytest.raises(ValueError, match="only 0 and 1"):
        pr.apply_masks(net, {"0.weight": torch.full((20, 12), 0.5)})
    with pytest.raises(TypeError, match="torch.Tensor"):
        pr.apply_masks(net, {"0.weight": np.ones((20, 12), dtype=bool)})


def test_pruning_a_module_without_prunable_parameters_raises():
    for bad in (nn.ReLU(), nn.Sequential(nn.ReLU(), nn.Dropout())):
        with pytest.raises(ValueError, match="no prunable parameters"):
            pr.global_magnitude_masks(bad, 0.5)
        with pytest.raises(ValueError, match="no prunable parameters"):
            pr.random_masks(bad, 0.5, seed=0)
        with pytest.raises(ValueError, match="no prunable parameters"):
            pr.iterative_magnitude_pruning(bad, lambda m, save_at=None: None, n_rounds=1)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        pr.prunable_weights(np.ones(3))


def test_other_bad_arguments_name_themselves():
    net = mlp()
    with pytest.raises(ValueError, match="scope"):
        pr.masks_from_scores(pr.magnitude_scores(net), 0.5, scope="model")
    with pytest.raises(ValueError, match="distribution"):
        pr.random_masks(net, 0.5, distribution="gaussian")
    with pytest.raises(ValueError, match="contains NaN"):
        pr.masks_from_scores({"w": torch.tensor([1.0, float("nan")])}, 0.5)
    with pytest.raises(ValueError, match="density"):
        pr.erk_densities(net, 0.0)
    with pytest.raises(ValueError, match="prune_fraction"):
        pr.iterative_magnitude_pruning(net, lambda m, save_at=None: None, n_rounds=1,
                                       prune_fraction=1.0)
    with pytest.raises(ValueError, match="drop_fraction"):
        pr.set_update(net, 1.5)
    with pytest.raises(ValueError, match="end_step"):
        pr.cubic_sparsity(5, 0.9, begin_step=10, end_step=10)
    with pytest.raises(ValueError, match="grads"):
        pr.rigl_update(net, {"0.weight": torch.zeros(20, 12)})


# ------------------------------------------------------------------------------ densities

@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.98, 0.999])
def test_global_and_layerwise_magnitude_keep_the_requested_number(sparsity):
    net = pr.lenet_300_100(seed=1)
    n = 50200
    g = pr.global_magnitude_masks(net, sparsity)
    assert sum(int(m.sum()) for m in g.values()) == round((1 - sparsity) * n)
    # global: every kept |w| is at least every removed |w|
    w = torch.cat([v.abs().flatten() for v in pr.effective_weights(net).values()])
    k = torch.cat([m.flatten() for m in g.values()])
    if 0 < k.sum() < k.numel():
        assert w[k].min() >= w[~k].max()
    lw = pr.layerwise_magnitude_masks(net, sparsity)
    for name, m in lw.items():
        assert int(m.sum()) == round((1 - sparsity) * m.numel()), name


@pytest.mark.parametrize("distribution", ["uniform", "erk", "lamp"])
@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.98])
def test_random_masks_achieve_the_requested_densities(distribution, sparsity):
    net = pr.lenet_300_100(seed=2)
    masks = pr.random_masks(net, sparsity, distribution=distribution, seed=0)
    n = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == round((1 - sparsity) * n)
    target = {"uniform": pr.uniform_densities(net, 1 - sparsity),
              "erk": pr.erk_densities(net, 1 - sparsity),
              "lamp": pr.lamp_densities(net, 1 - sparsity)}[distribution]
    for k, m in masks.items():
        assert abs(int(m.sum()) - target[k] * m.numel()) < 1 + 1e-9, k
    again = pr.random_masks(net, sparsity, distribution=distribution, seed=0)
    assert all(torch.equal(again[k], masks[k]) for k in masks)
    other = pr.random_masks(net, sparsity, distribution=distribution, seed=1)
    assert not all(torch.equal(other[k], masks[k]) for k in masks)


def test_erk_densities_follow_the_formula_and_cap_at_one():
    shapes = {"a": (300, 64), "b": (100, 300), "c": (10, 100)}
    sizes = {k: math.prod(s) for k, s in shapes.items()}
    for d in (0.02, 0.1, 0.5, 0.9):
        dens = pr.erk_densities(shapes, d)
        assert math.isclose(sum(dens[k] * sizes[k] for k in shapes), d * sum(sizes.values()))
        assert all(0 < v <= 1 for v in dens.values())
        free = [k for k in shapes if dens[k] < 1]
        ratios = [dens[k] / (sum(shapes[k]) / sizes[k]) for k in free]
        assert np.allclose(ratios, ratios[0])
    assert pr.erk_densities(shapes, 0.5)["c"] == 1.0       # the small last layer is kept dense
    conv = pr.erk_densities({"conv": (8, 4, 3, 3), "fc": (10, 200)}, 0.2)
    assert math.isclose(conv["conv"] / conv["fc"],
                        (8 + 4 + 3 + 3) / (8 * 4 * 9) / ((10 + 200) / 2000))


def test_lamp_scores_match_the_definition():
    g = torch.Generator().manual_seed(0)
    w = {"a": torch.randn(4, 5, generator=g), "b": torch.randn(7, generator=g)}
    scores = pr.lamp_scores(w)
    for k, v in w.items():
        flat = v.flatten().double()
        for i in range(flat.numel()):
            larger = flat.abs() >= flat[i].abs()
            want = flat[i] ** 2 / (flat[larger] ** 2).sum()
            assert math.isclose(float(scores[k].flatten()[i]), float(want), rel_tol=1e-12)
        assert math.isclose(float(scores[k].max()), 1.0)
    # global LAMP pruning never empties a layer
    m = pr.masks_from_scores(scores, 0.9)   # keeps 3 of 27 weights
    assert all(int(v.sum()) >= 1 for v in m.values())


# ------------------------------------------------------------------------------ pruning at init

def _linear(w):
    layer = nn.Linear(len(w[0]), len(w), bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(w, dtype=torch.float32))
    return layer


def test_snip_and_grasp_on_least_squares_by_hand():
    # L(w) = mean_i (w . x_i - y_i)^2: g = 2/n X^T r, H = 2/n X^T X
    X = torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0], [2.0, 1.0, 1.0], [1.0, 0.0, -1.0]])
    y = torch.tensor([[1.0], [0.0], [2.0], [-1.0]])
    w = torch.tensor([0.5, -1.0, 2.0])
    layer = _linear([w.tolist()])
    n = X.shape[0]
    r = X @ w - y[:, 0]
    g = 2 / n * X.T @ r
    H = 2 / n * X.T @ X
    snip = pr.snip_scores(layer, X, y, F.mse_loss)["weight"][0]
    torch.testing.assert_close(snip, (w * g).abs())
    grasp = pr.grasp_scores(layer, X, y, F.mse_loss)["weight"][0]
    torch.testing.assert_close(grasp, w * (H @ g))
    assert layer.weight.grad is None      # the model is not touched


def test_snip_scores_pruned_weights_zero():
    net = mlp()
    masks = pr.random_masks(net, 0.7, seed=0)
    pr.apply_masks(net, masks)
    X = torch.randn(16, 12)
    y = torch.randint(0, 3, (16,))
    s = pr.snip_scores(net, X, y)
    for k in masks:
        assert bool((s[k][~masks[k]] == 0).all())


def test_grasp_on_a_pruned_model_matches_the_unpruned_model_with_zeroed_weights():
    net = mlp()
    masks = pr.random_masks(net, 0.6, seed=1)
    pruned = pr.apply_masks(pr.clone_model(net), masks)
    zeroed = mlp()
    with torch.no_grad():
        for k, w in pr.effective_weights(pruned).items():
            dict(zeroed.named_parameters())[k].copy_(w)
    X, y = torch.randn(16, 12), torch.randint(0, 3, (16,))
    a, b = pr.grasp_scores(pruned, X, y), pr.grasp_scores(zeroed, X, y)
    for k in masks:
        torch.testing.assert_close(a[k], b[k])
        assert bool((a[k][~masks[k]] == 0).all())


def test_synflow_scores_are_path_sums_by_hand():
    g = torch.Generator().manual_seed(0)
    W1, W2, W3 = (torch.randn(5, 4, generator=g), torch.randn(3, 5, generator=g),
                  torch.randn(2, 3, generator=g))
    net = nn.Sequential(nn.Linear(4, 5, bias=False), nn.ReLU(), nn.Linear(5, 3, bias=False),
                        nn.ReLU(), nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        for layer, W in zip(net[::2], (W1, W2, W3), strict=True):
            layer.weight.copy_(W)
    A1, A2, A3 = W1.abs().double(), W2.abs().double(), W3.abs().double()
    ones_in, ones_out = torch.ones(4, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    # R = 1^T A3 A2 A1 1; dR/dA1 = (1^T A3 A2)^T 1^T, etc.
    want1 = A1 * torch.outer(ones_out @ A3 @ A2, ones_in)
    want2 = A2 * torch.outer(ones_out @ A3, A1 @ ones_in)
    want3 = A3 * torch.outer(ones_out, A2 @ A1 @ ones_in)
    s = pr.synflow_scores(net, (4,))
    for k, want in zip(("0.weight", "2.weight", "4.weight"), (want1, want2, want3), strict=True):
        torch.testing.assert_close(s[k].double(), want, rtol=1e-6, atol=1e-6)
    assert torch.equal(net[0].weight, W1)    # the model is not changed


def test_synflow_masks_reach_the_density_without_layer_collapse():
    net = pr.lenet_300_100(seed=0)
    masks = pr.synflow_masks(net, 0.999, (64,), n_iter=20)
    assert sum(int(m.sum()) for m in masks.values()) == round(0.001 * 50200)
    assert all(int(m.sum()) > 0 for m in masks.values())
    assert not prune.is_pruned(net)


# ------------------------------------------------------------------------------ IMP and GMP

def test_imp_masks_are_nested_and_rewinding_restores_the_saved_weights_exactly(data):
    started_from = []

    def train_fn(model, save_at=None):
        started_from.append(pr.get_state(model))
        return pr.train(model, data, epochs=2, save_at=save_at, seed=0)

    net = pr.lenet_300_100(seed=0)
    init = pr.get_state(net)
    res = pr.iterative_magnitude_pruning(net, train_fn, n_rounds=3, prune_fraction=0.5)
    assert [round(d, 4) for d in res.densities] == [1.0, 0.5, 0.25, 0.125]
    for r in range(1, 4):
        assert pr.is_nested(res.masks[r], res.masks[r - 1])
        assert not pr.is_nested(res.masks[r - 1], res.masks[r])
    for st in started_from:                 # every round starts from the initialization
        assert all(torch.equal(st[k], init[k]) for k in init)
    assert all(torch.equal(res.rewind_state[k], init[k]) for k in init)
    # each round's mask is the global magnitude mask of the previous round's trained weights
    prev = pr.lenet_300_100(seed=0)
    pr.set_state(prev, res.final_states[1])
    pr.apply_masks(prev, res.masks[1])
    want = pr.global_magnitude_masks(prev, 0.75)
    assert all(torch.equal(want[k], res.masks[2][k]) for k in want)


def test_imp_late_rewinding_restores_the_weights_of_step_k(data):
    started_from = []

    def train_fn(model, save_at=None):
        started_from.append(pr.get_state(model))
        return pr.train(model, data, epochs=2, save_at=save_at, seed=3)

    res = pr.iterative_magnitude_pruning(pr.lenet_300_100(seed=0), train_fn, n_rounds=2,
                                         prune_fraction=0.5, rewind_step=5, scope="layer")
    twin = pr.lenet_300_100(seed=0)
    step5 = pr.train(twin, data, epochs=2, save_at=5, seed=3).saved_state   # deterministic
    for st in [res.rewind_state, *started_from[1:]]:
        assert all(torch.equal(st[k], step5[k]) for k in step5)
    assert not torch.equal(step5["0.weight"], started_from[0]["0.weight"])
    for m in res.masks[1:]:
        for k, v in m.items():
            assert int(v.sum()) == round(pr.layer_densities(m)[k] * v.numel())


def test_reinit_control_keeps_the_masks_with_a_new_initialization():
    ticket = pr.random_masks(pr.lenet_300_100(seed=0), 0.9, seed=0)
    net = pr.reinit_control(lambda s: pr.lenet_300_100(seed=s), ticket, seed=7)
    assert all(torch.equal(pr.get_masks(net)[k], ticket[k]) for k in ticket)
    assert not torch.equal(net[0].weight_orig, pr.lenet_300_100(seed=0)[0].weight)


def test_cubic_schedule():
    s = [pr.cubic_sparsity(t, 0.9, begin_step=10, end_step=110, initial_sparsity=0.1)
         for t in range(0, 200)]
    assert s[0] == s[10] == 0.1 and s[110] == s[199] == 0.9
    assert all(b >= a for a, b in zip(s, s[1:], strict=False))
    t = 35
    assert math.isclose(s[t], 0.9 + (0.1 - 0.9) * (1 - (t - 10) / 100) ** 3)
    # the steps shrink: prune fast early, slowly late
    assert s[20] - s[10] > s[110] - s[100]


def test_gradual_magnitude_pruning_reaches_the_final_sparsity_with_nested_masks(data):
    net = pr.lenet_300_100(seed=0)
    seen = []

    def cb(step, model):
        gmp(step, model)
        if gmp.history and gmp.history[-1][0] == step:
            seen.append(pr.get_masks(model))

    gmp = pr.GradualMagnitudePruning(0.95, begin_step=4, end_step=40, frequency=4)
    pr.train(net, data, epochs=6, callback=cb)
    assert math.isclose(pr.density(pr.get_masks(net)), 0.05, abs_tol=1e-4)
    assert len(seen) == 10
    for a, b in zip(seen, seen[1:], strict=False):
        assert pr.is_nested(b, a)
    assert [round(s, 6) for _, s in gmp.history] == [
        round(pr.cubic_sparsity(t, 0.95, begin_step=4, end_step=40), 6) for t, _ in gmp.history]


# ------------------------------------------------------------------------------ SET and RigL

def test_set_and_rigl_keep_the_density_of_every_layer(data):
    for method in ("set", "rigl"):
        net = pr.lenet_300_100(seed=0)
        pr.apply_masks(net, pr.random_masks(net, 0.9, seed=0))
        before = pr.get_masks(net)
        counts = {k: int(v.sum()) for k, v in before.items()}
        if method == "set":
            changed = pr.set_update(net, 0.3, seed=0)
        else:
            changed = pr.rigl_update(net, pr.dense_gradients(net, data.X_train, data.y_train),
                                     0.3)
        after = pr.get_masks(net)
        assert {k: int(v.sum()) for k, v in after.items()} == counts
        assert sum(changed.values()) > 0.2 * sum(counts.values())
        for k in after:
            grown = after[k] & ~before[k]
            assert int(grown.sum()) == changed[k]
            assert bool((pr.effective_weights(net)[k][grown] == 0).all())   # grown at zero


def test_rigl_drops_the_smallest_and_grows_the_largest_gradients_by_hand():
    layer = _linear([[0.1, -3.0, 0.0, 2.0, 0.0, -0.5]])
    pr.apply_masks(layer, {"weight": torch.tensor([[True, True, False, True, False, True]])})
    grads = {"weight": torch.tensor([[9.0, 0.0, 1.0, 0.0, -5.0, 0.0]])}
    pr.rigl_update(layer, grads, drop_fraction=0.5)       # drop 2 of 4: |0.1| and |-0.5|
    # candidates: positions 0, 2, 4, 5 (inactive after the drop); largest |g|: 0 (9) and 4 (5)
    assert pr.get_masks(layer)["weight"].tolist() == [[True, True, False, True, True, False]]
    assert layer.weight_orig[0, 0] == 0 and layer.weight_orig[0, 4] == 0


def test_set_update_is_deterministic_with_a_seed():
    masks = []
    for _ in range(2):
        net = pr.lenet_300_100(seed=0)
        pr.apply_masks(net, pr.random_masks(net, 0.9, seed=0))
        pr.set_update(net, 0.3, seed=42)
        masks.append(pr.get_masks(net))
    assert all(torch.equal(masks[0][k], masks[1][k]) for k in masks[0])


def test_dynamic_sparse_training_callback_trains_at_constant_density(data):
    net = pr.lenet_300_100(seed=0)
    pr.apply_masks(net, pr.random_masks(net, 0.95, seed=0))
    dst = pr.DynamicSparseTraining("set", every=8, stop_step=80, seed=0)
    res = pr.train(net, data, epochs=12, callback=dst)
    assert math.isclose(pr.density(pr.get_masks(net)), 0.05, abs_tol=1e-4)
    assert len(dst.history) == 9 and res.final_test_acc > 0.8


# ------------------------------------------------------------------------------ training

def test_training_is_deterministic_and_learns(data):
    a = pr.train(pr.lenet_300_100(seed=0), data, epochs=5, seed=1)
    b = pr.train(pr.lenet_300_100(seed=0), data, epochs=5, seed=1)
    assert a.val_loss == b.val_loss and a.test_acc == b.test_acc
    assert a.final_test_acc > 0.9 and a.steps[-1] == 5 * 8
    assert a.early_stop_step in a.steps and a.early_stop_test_acc == a.test_acc[
        int(np.argmin(a.val_loss))]
    assert not torch.equal(pr.lenet_300_100(seed=0)[0].weight, pr.lenet_300_100(seed=1)[0].weight)


@pytest.mark.parametrize("kind", ["masked", "gradual", "rigl"])
def test_lazy_test_evaluation_reports_the_same_accuracies(data, kind):
    # test_every_eval=False evaluates the test set only at the early-stopping and last steps
    def run(test_every_eval):
        net = pr.lenet_300_100(seed=3)
        cb = None
        if kind == "gradual":
            cb = pr.GradualMagnitudePruning(0.9, begin_step=8, end_step=32, frequency=8)
        else:
            pr.apply_masks(net, pr.random_masks(net, 0.9, seed=3))
        if kind == "rigl":
            cb = pr.DynamicSparseTraining("rigl", every=8, stop_step=40, X=data.X_train,
                                          y=data.y_train, seed=0)
        # lr 3e-2 for the masked and RigL runs: they overfit, so that the early stop is not the
        # last step and the copy of the model at the minimum is what gets evaluated
        return pr.train(net, data, epochs=6 if kind == "gradual" else 8, seed=5, eval_every=4,
                        lr=1e-2 if kind == "gradual" else 3e-2, callback=cb,
                        test_every_eval=test_every_eval)

    eager, lazy = run(True), run(False)
    assert eager.early_stop_index < len(eager.steps) - 1
    assert lazy.val_loss == eager.val_loss and lazy.steps == eager.steps
    assert lazy.early_stop_step == eager.early_stop_step
    assert lazy.early_stop_test_acc == eager.early_stop_test_acc
    assert lazy.final_test_acc == eager.final_test_acc
    evaluated = [i for i, a in enumerate(lazy.test_acc) if not math.isnan(a)]
    assert evaluated == sorted({eager.early_stop_index, len(eager.test_acc) - 1})
    with pytest.raises(TypeError, match="test_every_eval"):
        pr.train(pr.lenet_300_100(seed=0), data, epochs=1, test_every_eval="no")


def test_pruned_weights_stay_zero_during_training(data):
    net = pr.lenet_300_100(seed=0)
    masks = pr.random_masks(net, 0.9, seed=0)
    pr.apply_masks(net, masks)
    pr.train(net, data, epochs=2)
    w = pr.effective_weights(net)
    assert all(bool((w[k][~masks[k]] == 0).all()) for k in masks)


# ------------------------------------------------------------------------------ planted tickets

def test_planted_ticket_solves_the_task_and_recall_is_counted_over_all_layers():
    p = pr.plant_ticket(seed=1)
    assert bool((p.ticket()(p.X).argmax(1) == p.y).all())
    assert len(torch.unique(p.y)) > 1
    assert pr.ticket_recall(p.masks, p.masks) == 1.0
    empty = {k: torch.zeros_like(v) for k, v in p.masks.items()}
    assert pr.ticket_recall(empty, p.masks) == 0.0
    # the planted weights are not larger than the others: magnitude at init does not find them
    m = pr.global_magnitude_masks(p.model, 1 - pr.density(p.masks))
    assert pr.ticket_recall(m, p.masks) < 0.5


# ------------------------------------------------------------------------------ checks

def test_checks_pass_on_the_reference_and_fail_with_hints():
    def glob(weights, sparsity):
        return pr.masks_from_scores({k: w.abs() for k, w in weights.items()}, sparsity)

    def per_layer(weights, sparsity):
        return pr.masks_from_scores({k: w.abs() for k, w in weights.items()}, sparsity,
                                    scope="layer")

    def smallest(weights, sparsity):
        return pr.masks_from_scores({k: -w.abs() for k, w in weights.items()}, sparsity)

    assert checks.check_global_magnitude_mask(glob)
    r = checks.check_global_magnitude_mask(per_layer)
    assert not r and "same fraction in every layer" in r.message
    r = checks.check_global_magnitude_mask(smallest)
    assert not r
    assert not checks.check_global_magnitude_mask(lambda w, s: 1 / 0)

    assert checks.check_erk_densities(pr.erk_densities)
    r = checks.check_erk_densities(lambda shapes, d: dict.fromkeys(shapes, d))
    assert not r and "uniform" in r.message

    def uncapped(shapes, d):
        raw = {k: sum(s) / math.prod(s) for k, s in shapes.items()}
        eps = d * sum(math.prod(s) for s in shapes.values()) / sum(
            raw[k] * math.prod(shapes[k]) for k in shapes)
        return {k: eps * raw[k] for k in shapes}

    r = checks.check_erk_densities(uncapped)
    assert not r and "above 1" in r.message

    def cubic(t, sf, t0, t1, si):
        return pr.cubic_sparsity(t, sf, begin_step=t0, end_step=t1, initial_sparsity=si)

    def linear(t, sf, t0, t1, si):
        return si + (sf - si) * min(max((t - t0) / (t1 - t0), 0), 1)

    assert checks.check_cubic_schedule(cubic)
    r = checks.check_cubic_schedule(linear)
    assert not r and "linear" in r.message

    assert checks.check_ticket_recall(pr.ticket_recall)

    def precision(found, planted):
        hit = sum(int((found[k] & planted[k]).sum()) for k in planted)
        return hit / max(1, sum(int(v.sum()) for v in found.values()))

    r = checks.check_ticket_recall(precision)
    assert not r and "precision" in r.message
    assert not checks.check_ticket_recall(None)


# ------------------------------------------------------------------------------ docs

@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags)
    assert result.failed == 0
    runner = doctest.DocTestRunner(optionflags=flags)   # checks are re-homed: run them directly
    for attr in module.__all__ if name.startswith("sparsecourse.checks") else []:
        for test in doctest.DocTestFinder().find(getattr(module, attr), attr):
            runner.run(test)
    assert runner.failures == 0 and result.attempted + runner.tries > 0


def test_public_api_is_documented_with_examples():
    for attr in pr.__all__:
        obj = getattr(pr, attr)
        if attr in ("IMPResult", "TrainResult", "DigitsData", "PlantedTicket"):
            assert obj.__doc__, attr
            continue
        assert obj.__doc__ and "Examples" in obj.__doc__, attr
