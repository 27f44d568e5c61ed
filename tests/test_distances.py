"""EPIC and STARC reward distances: the axioms on tables, the sample estimator against the closed
form, and shaping / scale invariance on a real task."""

from __future__ import annotations

import numpy as np
import pytest

import rewardlab  # noqa: F401  (registers the tasks)
from envs import get_task
from envs.registry import Fitness, HandReward, Task
from rewardlab.analysis.distances import (
    States,
    Transitions,
    distance,
    epic_canonicalise_tabular,
    epic_distance,
    epic_distance_tabular,
    pearson_distance,
    sample_transitions,
    starc_distance,
    starc_distance_tabular,
    starc_l2_distance,
)
from rewardlab.rewards import FunctionReward, resolve_reward

N_S, N_A, GAMMA = 5, 3, 0.9


def random_mdp(rng: np.random.Generator) -> dict[str, np.ndarray]:
    P = rng.dirichlet(np.ones(N_S), size=(N_S, N_A))
    return {
        "d_s": rng.dirichlet(np.ones(N_S)),
        "d_a": rng.dirichlet(np.ones(N_A)),
        "transition": P,
    }


def shaped(R: np.ndarray, phi: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    return R + gamma * phi[None, None, :] - phi[:, None, None]


def tabular_distances(Ra: np.ndarray, Rb: np.ndarray, mdp: dict[str, np.ndarray]) -> dict[str, float]:
    ds, da = mdp["d_s"], mdp["d_a"]
    return {
        "epic": epic_distance_tabular(Ra, Rb, GAMMA, ds, da),
        "starc-epic": starc_distance_tabular(Ra, Rb, GAMMA, ds, da),
        "starc-val": starc_distance_tabular(
            Ra, Rb, GAMMA, ds, da, canonicalisation="val", transition=mdp["transition"]
        ),
    }


# -- tabular: the pseudometric axioms and invariances --------------------------------------------


def test_tabular_zero_under_shaping_scaling_and_constants() -> None:
    rng = np.random.default_rng(0)
    mdp = random_mdp(rng)
    for _ in range(5):
        R = rng.normal(size=(N_S, N_A, N_S))
        phi = rng.normal(size=N_S) * 3
        for other in (shaped(R, phi), 2.5 * R, shaped(2.5 * R, phi) + 4.0):
            for name, d in tabular_distances(R, other, mdp).items():
                assert d < 1e-6, (name, d)


def test_tabular_val_ignores_next_state_redistribution() -> None:
    rng = np.random.default_rng(1)
    mdp = random_mdp(rng)
    R = rng.normal(size=(N_S, N_A, N_S))
    # add noise with zero mean under P(.|s, a): same expected reward, same policy order
    noise = rng.normal(size=R.shape)
    noise -= (mdp["transition"] * noise).sum(-1, keepdims=True)
    d_val = starc_distance_tabular(R, R + noise, GAMMA, canonicalisation="val", transition=mdp["transition"])
    assert d_val < 1e-6
    assert epic_distance_tabular(R, R + noise, GAMMA) > 0.1  # EPIC's canonicalisation does not see P


def test_tabular_symmetric_bounded_and_opposite_is_one() -> None:
    rng = np.random.default_rng(2)
    mdp = random_mdp(rng)
    for _ in range(10):
        Ra, Rb = rng.normal(size=(2, N_S, N_A, N_S))
        ab, ba = tabular_distances(Ra, Rb, mdp), tabular_distances(Rb, Ra, mdp)
        for name in ab:
            assert ab[name] == pytest.approx(ba[name], abs=1e-12)
            assert 0.0 < ab[name] <= 1.0
        for name, d in tabular_distances(Ra, -Ra, mdp).items():
            assert d == pytest.approx(1.0, abs=1e-9), name


def test_tabular_triangle_inequality() -> None:
    rng = np.random.default_rng(3)
    mdp = random_mdp(rng)
    for _ in range(20):
        # mixtures make some triples close, where violations would show first
        base = rng.normal(size=(N_S, N_A, N_S))
        Rs = [base + s * rng.normal(size=base.shape) for s in rng.uniform(0.05, 2.0, size=3)]
        ab, bc, ac = (tabular_distances(x, y, mdp) for x, y in ((Rs[0], Rs[1]), (Rs[1], Rs[2]), (Rs[0], Rs[2])))
        for name in ab:
            assert ac[name] <= ab[name] + bc[name] + 1e-12, name


def test_tabular_canonical_form_and_degenerate_rewards() -> None:
    rng = np.random.default_rng(4)
    R = rng.normal(size=(N_S, N_A, N_S))
    phi = rng.normal(size=N_S)
    C = epic_canonicalise_tabular(R, GAMMA)
    assert np.allclose(epic_canonicalise_tabular(shaped(R, phi) + 1.0, GAMMA), C)
    assert np.allclose(epic_canonicalise_tabular(C, GAMMA), C)  # a projection
    pure = shaped(np.zeros_like(R), phi)  # nothing left to order policies by
    assert epic_distance_tabular(pure, np.zeros_like(R), GAMMA) == 0.0
    assert epic_distance_tabular(pure, R, GAMMA) == pytest.approx(0.5)
    assert starc_distance_tabular(pure, R, GAMMA) == pytest.approx(0.5)


def test_pearson_and_starc_on_arrays() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(2, 100))
    rho = np.corrcoef(x, y)[0, 1]
    assert pearson_distance(x, y) == pytest.approx(np.sqrt((1 - rho) / 2))
    assert pearson_distance(x, 3 * x + 1) == pytest.approx(0.0, abs=1e-7)
    u, v = x / np.linalg.norm(x), y / np.linalg.norm(y)
    assert starc_l2_distance(x, y) == pytest.approx(np.linalg.norm(u - v) / 2)


# -- the sample estimator on a tabular problem written as arrays -----------------------------------


def one_hot_task() -> Task:
    """States are one-hot observations; the declared info field ``tag`` is 10 * state index."""
    return Task(
        id="test/OneHot-v0",
        family="test",
        make_env=lambda **kw: None,  # never built: transitions are given
        description="tabular MDP as arrays",
        obs_schema=(),
        view=lambda obs, info: {"idx": obs.argmax(axis=1), "tag": info.get("tag")},
        units={},
        fitness=Fitness(lambda s: np.zeros(len(s.idx)), "sum", 1.0, "", ""),
        rewards={"sparse": HandReward("none", components=lambda s: {"zero": np.zeros(len(s.idx))})},
    )


def table_reward(R: np.ndarray, name: str, via_info: bool = False) -> FunctionReward:
    if via_info:
        return FunctionReward(lambda s: R[s.prev.tag // 10, s.action, s.tag // 10], name)
    return FunctionReward(lambda s: R[s.prev.idx, s.action, s.idx], name)


def make_transitions(s: np.ndarray, a: np.ndarray, s2: np.ndarray) -> Transitions:
    eye = np.eye(N_S)
    n = len(s)
    return Transitions(
        obs=eye[s],
        action=a,
        next_obs=eye[s2],
        env_reward=np.zeros(n),
        terminated=np.zeros(n, bool),
        truncated=np.zeros(n, bool),
        info={"tag": 10 * s2},
        prev_info={"tag": 10 * s},
        step=np.ones(n, dtype=np.int64),
    )


def make_states(idx: np.ndarray) -> States:
    return States(np.eye(N_S)[idx], {"tag": 10 * idx}, np.ones(len(idx), dtype=np.int64))


@pytest.mark.parametrize("via_info", [False, True])
def test_samples_equal_closed_form_when_enumerated(via_info: bool) -> None:
    rng = np.random.default_rng(6)
    task = one_hot_task()
    Ra, Rb = rng.normal(size=(2, N_S, N_A, N_S))
    s, a, s2 = (g.ravel() for g in np.meshgrid(np.arange(N_S), np.arange(N_A), np.arange(N_S), indexing="ij"))
    tr = make_transitions(s, a, s2)
    kw = {"states": make_states(np.arange(N_S)), "actions": np.arange(N_A), "gamma": GAMMA}
    src_a, src_b = table_reward(Ra, "a", via_info), table_reward(Rb, "b", via_info)
    assert epic_distance(src_a, src_b, task, tr, **kw) == pytest.approx(epic_distance_tabular(Ra, Rb, GAMMA), abs=1e-10)
    assert starc_distance(src_a, src_b, task, tr, **kw) == pytest.approx(
        starc_distance_tabular(Ra, Rb, GAMMA), abs=1e-10
    )


def test_samples_equal_closed_form_of_their_empirical_distributions() -> None:
    rng = np.random.default_rng(7)
    task = one_hot_task()
    mdp = random_mdp(rng)
    Ra, Rb = rng.normal(size=(2, N_S, N_A, N_S))
    n = 600
    s, s2 = rng.choice(N_S, size=(2, n), p=mdp["d_s"])
    a = rng.choice(N_A, size=n, p=mdp["d_a"])
    st, ac = rng.choice(N_S, size=40, p=mdp["d_s"]), rng.choice(N_A, size=7, p=mdp["d_a"])
    coverage = np.zeros((N_S, N_A, N_S))
    np.add.at(coverage, (s, a, s2), 1.0)
    ds, da = np.bincount(st, minlength=N_S) / len(st), np.bincount(ac, minlength=N_A) / len(ac)
    tr = make_transitions(s, a, s2)
    kw = {"states": make_states(st), "actions": ac, "gamma": GAMMA}
    src = table_reward(Ra, "a"), table_reward(Rb, "b")
    assert epic_distance(*src, task, tr, **kw) == pytest.approx(
        epic_distance_tabular(Ra, Rb, GAMMA, ds, da, coverage), abs=1e-10
    )
    assert starc_distance(*src, task, tr, **kw) == pytest.approx(
        starc_distance_tabular(Ra, Rb, GAMMA, ds, da, coverage), abs=1e-10
    )


def test_samples_converge_to_closed_form() -> None:
    rng = np.random.default_rng(8)
    task = one_hot_task()
    mdp = random_mdp(rng)
    Ra = rng.normal(size=(N_S, N_A, N_S))
    Rb = Ra + 1.2 * rng.normal(size=Ra.shape)
    n = 2000
    s, s2 = rng.choice(N_S, size=(2, n), p=mdp["d_s"])
    a = rng.choice(N_A, size=n, p=mdp["d_a"])
    tr = make_transitions(s, a, s2)  # D_S x D_A x D_S: the tabular default coverage
    src = table_reward(Ra, "a"), table_reward(Rb, "b")
    exact_e = epic_distance_tabular(Ra, Rb, GAMMA, mdp["d_s"], mdp["d_a"])
    exact_s = starc_distance_tabular(Ra, Rb, GAMMA, mdp["d_s"], mdp["d_a"])
    # 200 states x 20 actions per expectation: errors up to ~0.03 over seeds (the bootstrap CI covers
    # the transition sample only, not the state/action samples)
    est_e = epic_distance(*src, task, tr, 200, 20, seed=0, gamma=GAMMA, with_ci=True, n_bootstrap=300)
    est_s = starc_distance(*src, task, tr, 200, 20, seed=0, gamma=GAMMA)
    assert est_e.value == pytest.approx(exact_e, abs=0.04)
    assert est_s == pytest.approx(exact_s, abs=0.04)
    assert est_e.ci_low <= est_e.value <= est_e.ci_high


# -- a real task -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mountaincar() -> tuple[Task, Transitions]:
    task = get_task("MountainCar-v0")
    return task, sample_transitions(task, 1024, seed=0)


@pytest.mark.parametrize("fn", [epic_distance, starc_distance], ids=["epic", "starc"])
def test_mountaincar_invariances(mountaincar: tuple[Task, Transitions], fn) -> None:
    task, tr = mountaincar

    def d(a: str, b: str) -> float:
        return fn(resolve_reward(a, task), resolve_reward(b, task), task, tr, 64, 8, seed=1)

    assert d("hand", "hand") == 0.0
    assert d("hand", "3*hand") < 1e-9
    assert d("hand", "-1*hand") == pytest.approx(1.0, abs=1e-9)
    # 'potential' = sparse + 0.99 phi(s') - phi(s); no random-policy episode reaches the flag, so both
    # canonicalise to zero (up to rounding) and the degenerate pair is at distance 0
    assert d("potential", "sparse") < 1e-9
    # the same shaping on a reward with signal: invariant to rounding
    assert d("hand", "hand + potential - sparse") < 1e-9
    assert d("hand", "sparse") == pytest.approx(0.5)  # a zero reward against a non-zero one
    assert d("hand", "hand + 0.5*potential") == pytest.approx(d("hand + 0.5*potential", "hand"), abs=1e-12)


def test_terminal_steps_keep_or_continue() -> None:
    """With an energy-pumping policy episodes end at the flag, where 'sparse' lives and where
    'potential' drops phi(s'): the pair is equivalent only when steps are scored as non-terminal."""
    task = get_task("MountainCar-v0")
    tr = sample_transitions(task, 2048, policy=lambda obs: np.where(obs[:, 1] >= 0, 2, 0), seed=0)
    assert tr.terminated.sum() > 5
    pot, sparse = resolve_reward("potential", task), resolve_reward("sparse", task)
    assert epic_distance(pot, sparse, task, tr, 64, 8, terminal="continue") < 1e-6
    assert epic_distance(pot, sparse, task, tr, 64, 8, terminal="keep") > 0.5


def test_sample_transitions_true_next_obs_and_steps() -> None:
    task = get_task("CartPole-v1")
    tr = sample_transitions(task, 600, seed=0, n_envs=4)
    assert len(tr) == 600 and tr.obs.dtype == np.float64
    term = tr.terminated
    assert term.any()
    fell = (np.abs(tr.next_obs[:, 0]) > 2.4) | (np.abs(tr.next_obs[:, 2]) > 0.2095)
    assert np.array_equal(fell, term)  # s' on terminal steps is the terminal obs, not the reset obs
    assert (tr.step >= 1).all()
    again = sample_transitions(task, 600, seed=0, n_envs=4)
    assert np.array_equal(again.next_obs, tr.next_obs) and np.array_equal(again.action, tr.action)


def test_running_statistics_are_not_touched(mountaincar: tuple[Task, Transitions]) -> None:
    task, tr = mountaincar
    normed = resolve_reward("norm(hand, reward)", task)
    before = (normed.mean, normed.var, normed.count)
    epic_distance(normed, resolve_reward("hand", task), task, tr, 16, 4)
    assert (normed.mean, normed.var, normed.count) == before
    assert normed.training


def test_distance_entry_point() -> None:
    out = distance(
        "hand",
        "2*hand + potential - sparse",
        "MountainCar-v0",
        method="starc",
        n=512,
        seed=3,
        n_state_samples=32,
        n_action_samples=4,
        n_bootstrap=200,
    )
    assert out["distance"] < 1e-9 and out["ci_low"] <= out["distance"] <= out["ci_high"] + 1e-12
    assert out["gamma"] == 0.99 and out["variant"] == "STARC-EPIC-L2" and out["n_transitions"] == 512
    out = distance("hand", "sparse + hand", "MountainCar-v0", n=256, n_state_samples=16, n_action_samples=4)
    assert out["method"] == "epic" and 0.0 <= out["distance"] <= 1.0
    with pytest.raises(ValueError, match="epic, starc"):
        distance("hand", "sparse", "MountainCar-v0", method="npec")
