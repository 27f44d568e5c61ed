"""The reward contract: composition, normalisation, potential-based shaping invariance,
spec resolution and bad-input errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import rewardlab
from envs import get_task
from envs.state_view import StateView
from rewardlab.rewards import (
    Clip,
    EnvReward,
    FunctionReward,
    PotentialShaping,
    RewardError,
    RewardSpecError,
    RunningNorm,
    TransitionBatch,
    resolve_reward,
)


def batch_from(
    s: np.ndarray,
    s2: np.ndarray,
    term: np.ndarray,
    trunc: np.ndarray | None = None,
    env_reward: np.ndarray | None = None,
) -> TransitionBatch:
    n = len(s)
    trunc = np.zeros(n, bool) if trunc is None else trunc
    env_reward = np.zeros(n) if env_reward is None else env_reward
    view = StateView({"s": s2, "terminated": term, "truncated": trunc}, prev=StateView({"s": s}))
    return TransitionBatch(s, np.zeros(n), s2, env_reward, term, trunc, {}, view)


# -- potential-based shaping leaves optimal policies unchanged -------------------------------


def value_iteration(P: np.ndarray, R: np.ndarray, gamma: float, term: np.ndarray) -> np.ndarray:
    """Q* for P[s,a,s'], R[s,a,s']; transitions into ``term`` states end the episode."""
    S, A, _ = P.shape
    Q = np.zeros((S, A))
    for _ in range(3000):
        V = Q.max(axis=1)
        V = np.where(term, 0.0, V)
        Q_new = (P * (R + gamma * V[None, None, :])).sum(axis=2)
        if np.abs(Q_new - Q).max() < 1e-11:
            break
        Q = Q_new
    return Q


@pytest.mark.parametrize("seed", range(20))
def test_potential_shaping_preserves_optimal_policy_on_random_mdps(seed: int) -> None:
    rng = np.random.default_rng(seed)
    S, A, gamma = 7, 3, 0.9
    P = rng.dirichlet(np.ones(S) * 0.5, size=(S, A))
    term = np.zeros(S, bool)
    term[-1] = True  # one terminal state
    R = rng.normal(size=(S, A, S))
    phi_table = rng.normal(scale=5.0, size=S)  # large potentials: a wrong sign would flip policies
    shaper = PotentialShaping(
        lambda v: phi_table[v.s], gamma=gamma, base=FunctionReward(lambda v: np.zeros(len(v.s)), "zero")
    )

    s, _a, s2 = np.meshgrid(np.arange(S), np.arange(A), np.arange(S), indexing="ij")
    b = batch_from(s.ravel(), s2.ravel(), term[s2.ravel()])
    F = shaper.compute(b).total.reshape(S, A, S)
    Q = value_iteration(P, R, gamma, term)
    Qs = value_iteration(P, R + F, gamma, term)
    nonterm = ~term
    np.testing.assert_array_equal(Q[nonterm].argmax(1), Qs[nonterm].argmax(1))
    # the theory: Q'(s,a) = Q(s,a) - phi(s)
    np.testing.assert_allclose(Qs[nonterm], Q[nonterm] - phi_table[nonterm, None], atol=1e-6)


def test_potential_of_terminal_is_zero_but_truncated_keeps_it() -> None:
    sh = PotentialShaping(lambda v: v.s.astype(float), gamma=0.5)
    s, s2 = np.array([1, 1, 1]), np.array([4, 4, 4])
    b = batch_from(s, s2, term=np.array([False, True, False]), trunc=np.array([False, False, True]))
    np.testing.assert_allclose(sh.compute(b).total, [0.5 * 4 - 1, 0 - 1, 0.5 * 4 - 1])


# -- composition ---------------------------------------------------------------------------


def test_weighted_sum_scale_clip_components() -> None:
    a = FunctionReward(lambda v: {"x": v.s * 1.0, "one": 1.0}, "a")
    b = FunctionReward(lambda v: v.s * 2.0, "b")
    bt = batch_from(np.zeros(3), np.array([1.0, 2.0, 3.0]), np.zeros(3, bool))
    t = (a + 0.5 * b).compute(bt)
    np.testing.assert_allclose(t.total, [1 + 1 + 1, 2 + 1 + 2, 3 + 1 + 3])
    assert set(t.components) == {"a.x", "a.one", "b"}
    np.testing.assert_allclose(sum(t.components.values()), t.total)
    c = Clip(a, -1.0, 2.5).compute(bt)
    np.testing.assert_allclose(c.total, [2.0, 2.5, 2.5])
    d = (a - b).compute(bt)
    np.testing.assert_allclose(d.total, [0.0, -1.0, -2.0])


def test_running_norm_return_mode_matches_hand_computation() -> None:
    src = FunctionReward(lambda v: v.s * 1.0, "r")
    norm = RunningNorm(src, mode="return", gamma=0.9, clip=None)
    rng = np.random.default_rng(0)
    ret = np.zeros(2)
    seen = []
    for _ in range(50):
        r = rng.normal(size=2)
        done = rng.random(2) < 0.2
        out = norm.compute(batch_from(np.zeros(2), r, done)).total
        ret = ret * 0.9 + r
        seen.extend(ret.tolist())
        ret[done] = 0.0  # boundary: the discounted return restarts per env
        var = np.var(seen)
        # count starts at 1e-4 with var 1: close to the plain variance after 100 samples
        np.testing.assert_allclose(out, r / np.sqrt(norm.var + 1e-8))
    assert abs(norm.var - var) / var < 0.01
    norm.train(False)
    before = norm.var
    norm.compute(batch_from(np.zeros(2), np.array([100.0, -100.0]), np.zeros(2, bool)))
    assert norm.var == before  # eval mode does not update statistics
    sd = norm.state_dict()
    other = RunningNorm(src, mode="return")
    other.load_state_dict(sd)
    assert other.var == norm.var and other.count == norm.count


def test_running_norm_respects_valid_mask() -> None:
    norm = RunningNorm(FunctionReward(lambda v: v.s * 1.0, "r"), mode="reward", clip=None)
    b = batch_from(np.zeros(2), np.array([1.0, 1e6]), np.zeros(2, bool))
    b.valid = np.array([True, False])
    for _ in range(10):
        norm.compute(b)
    assert abs(norm.mean - 1.0) < 1e-3


# -- bad outputs ------------------------------------------------------------------------------


def test_nan_wrong_shape_and_unstable_components_raise() -> None:
    bt = batch_from(np.zeros(3), np.array([1.0, 2.0, 3.0]), np.zeros(3, bool))
    from rewardlab.rewards.base import check_terms

    # finiteness is checked once per step by the wrapper (check_terms), naming the component
    with pytest.raises(RewardError, match=r"NaN or inf.*bad"):
        check_terms(
            FunctionReward(lambda v: {"ok": v.s * 1.0, "bad": np.array([1.0, np.nan, 0.0])}, "f").compute(bt), 3, "f"
        )
    with pytest.raises(RewardError, match=r"shape \(2,\); expected \(3,\)"):
        FunctionReward(lambda v: np.ones(2), "f").compute(bt)
    calls = iter([{"a": 1.0}, {"b": 1.0}])
    f = FunctionReward(lambda v: next(calls), "f")
    f.compute(bt)
    with pytest.raises(RewardError, match="changed its component names"):
        f.compute(bt)


# -- spec resolution --------------------------------------------------------------------------


def test_resolve_names_expressions_and_errors() -> None:
    mc = get_task("MountainCar-v0")
    assert isinstance(resolve_reward("env", mc), EnvReward)
    assert resolve_reward("sparse + 0.1*hand", mc).name == "sparse+0.1*hand"
    assert isinstance(resolve_reward("norm(hand)", mc), RunningNorm)
    assert isinstance(resolve_reward("potential", mc), PotentialShaping)
    with pytest.raises(RewardSpecError, match="Valid rewards: env, sparse, hand"):
        resolve_reward("handd", mc)
    with pytest.raises(RewardSpecError, match="no built-in reward"):
        resolve_reward("env", get_task("rewardlab/CartPoleKeepLeft-v0"))
    with pytest.raises(RewardSpecError, match="norm mode"):
        resolve_reward("norm(hand, bogus)", mc)


def test_reward_files_and_decorator(tmp_path: Path) -> None:
    mc = get_task("MountainCar-v0")
    f = tmp_path / "mine.py"
    f.write_text(
        textwrap.dedent('''
        import numpy as np
        import rewardlab

        @rewardlab.reward("mine_speed", tasks="MountainCar-v0")
        def speed(s):
            """Reward speed."""
            return {"speed": 10 * np.abs(s.v)}
    ''')
    )
    src = resolve_reward(str(f), mc)
    assert src.name == "mine_speed"
    assert "mine_speed" in rewardlab.available_rewards(mc)
    bad = tmp_path / "bad.py"
    bad.write_text("def reward(s):\n    return s.x +\n")
    with pytest.raises(RewardSpecError, match="syntax error at line 2"):
        resolve_reward(str(bad), mc)
    none = tmp_path / "none.py"
    none.write_text("x = 1\n")
    with pytest.raises(RewardSpecError, match="defines no reward"):
        resolve_reward(str(none), mc)
    with pytest.raises(RewardSpecError, match="does not exist"):
        resolve_reward(str(tmp_path / "missing.py"), mc)
    with pytest.raises(RewardSpecError, match="has no 'nope'"):
        resolve_reward(f"{f}:nope", mc)


# -- torch tensors flow through the same contract --------------------------------------------


def test_torch_tensors_through_sources_and_wrapper() -> None:
    import torch

    from rewardlab.wrappers.accounting import RewardAccountant

    s = torch.tensor([0.0, 1.0, 2.0])
    s2 = torch.tensor([1.0, 2.0, 4.0])
    term = torch.tensor([False, True, False])
    view = StateView({"s": s2, "terminated": term}, prev=StateView({"s": s}))
    b = TransitionBatch(s, torch.zeros(3), s2, torch.zeros(3), term, torch.zeros(3, dtype=torch.bool), {}, view)
    f = FunctionReward(lambda v: {"lin": v.s * 2.0, "const": 1.0}, "f")
    t = f.compute(b)
    assert isinstance(t.total, torch.Tensor)
    torch.testing.assert_close(t.total, torch.tensor([3.0, 5.0, 9.0]))
    sh = PotentialShaping(lambda v: v.s, gamma=0.5, base=f).compute(b)
    torch.testing.assert_close(sh.components["shaping"], torch.tensor([0.5 - 0.0, 0.0 - 1.0, 2.0 - 2.0]))
    n = RunningNorm(f, mode="return").compute(b)
    assert isinstance(n.total, torch.Tensor) and n.total.shape == (3,)
    # the accountant takes torch totals and components, and hands numpy to SB3
    task = get_task("CartPole-v1")
    acc = RewardAccountant(FunctionReward(lambda v: {"x": torch.as_tensor(v.x) * 1.0}, "tx"), task, 2)
    obs = np.zeros((2, 4), np.float32)
    out = acc.process(obs, np.zeros(2), obs + 1, np.ones(2), np.array([False, True]), np.zeros(2, bool), {}, {})
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [1.0, 1.0])
    assert acc.pop_episodes()[0].components["x"].tolist() == [1.0]
