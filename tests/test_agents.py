"""The SB3 agent factory: preset lookup, rl-zoo3 parsing, overrides, validation, tiny learning runs."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.vec_env import VecNormalize

from agents import (
    AGENTS,
    AgentSpec,
    LinearDecay,
    load_model,
    make_model,
    parse_overrides,
    parse_policy_kwargs,
    resolve_agent,
    save_model,
)
from agents.sb3_factory import constructor_keys, parse_schedule

BOX = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
DISCRETE = gym.spaces.Discrete(3)


@pytest.fixture(autouse=True)
def one_torch_thread():
    # Tiny networks gain nothing from threads, and on a busy 2-core machine spinning
    # intra-op threads made a 256-step SAC run 20x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- preset lookup ---------------------------------------------------------------------------


def test_cartpole_ppo_comes_from_rl_zoo3():
    spec = resolve_agent("ppo", "CartPole-v1", "classic")
    assert spec.source == "rl-zoo3 ppo.yml[CartPole-v1]"
    assert spec.n_envs == 8
    assert spec.kwargs["n_steps"] == 32
    assert spec.n_timesteps == 100_000
    assert spec.policy == "MlpPolicy"
    assert spec.normalize is None
    assert spec.kwargs["learning_rate"] == LinearDecay(0.001)


def test_lab_task_entry_wins_over_the_zoo():
    spec = resolve_agent("ppo", "MiniGrid-DoorKey-5x5-v0", "minigrid")
    assert spec.source == "lab presets lab.yml[ppo][MiniGrid-DoorKey-5x5-v0]"
    assert (spec.n_envs, spec.kwargs["n_steps"], spec.kwargs["batch_size"]) == (8, 128, 64)
    assert spec.kwargs["ent_coef"] == 0.01
    assert spec.kwargs["learning_rate"] == pytest.approx(2.5e-4)
    assert spec.kwargs["policy_kwargs"] == {"net_arch": [64, 64]}
    assert "env_wrapper" not in spec.dropped  # the zoo's FlatObsWrapper entry was never used


def test_zoo_is_skipped_for_minigrid_family():
    # rl-zoo3 has MiniGrid-Unlock-v0 (for FlatObsWrapper obs); the lab's family default applies instead.
    spec = resolve_agent("ppo", "MiniGrid-Unlock-v0", "minigrid")
    assert spec.source == "lab presets lab.yml[ppo][family:minigrid]"


def test_zoo_entry_under_another_version_suffix():
    spec = resolve_agent("ppo", "HalfCheetah-v5", "mujoco")
    assert spec.source.startswith("rl-zoo3 ppo.yml[HalfCheetah-v4]")
    assert spec.kwargs["policy_kwargs"]["activation_fn"] is torch.nn.ReLU
    assert spec.normalize == {"norm_obs": True, "norm_reward": True, "gamma": 0.98}


@pytest.mark.parametrize(
    ("task_id", "base"),
    [
        ("rewardlab/HalfCheetahBackflip-v0", "HalfCheetah-v4"),
        ("rewardlab/HopperJump-v0", "Hopper-v4"),
        ("rewardlab/AntCircle-v0", "Ant-v4"),
        ("rewardlab/CartPoleKeepLeft-v0", "CartPole-v1"),
    ],
)
def test_behaviour_tasks_reuse_their_base_env_presets(task_id, base):
    spec = resolve_agent("ppo", task_id, "behaviour")
    assert f"rl-zoo3 ppo.yml[{base}]" in spec.source
    assert task_id in spec.source


def test_family_default_then_sb3_defaults():
    spec = resolve_agent("sac", "Reacher-v5", "mujoco")
    assert spec.source == "lab presets lab.yml[sac][family:mujoco]"
    spec = resolve_agent("ppo", "SomethingNew-v0", "nofamily")
    assert spec.source == "defaults"
    assert (spec.n_envs, spec.kwargs, spec.normalize, spec.n_timesteps) == (1, {}, None, None)


def test_mountaincar_ppo_keeps_zoo_preset_with_normalisation():
    spec = resolve_agent("ppo", "MountainCar-v0", "classic")
    assert spec.source == "rl-zoo3 ppo.yml[MountainCar-v0]"
    assert spec.n_envs == 16
    assert spec.normalize == {"norm_obs": True, "norm_reward": True, "gamma": 0.99}


def test_unhonoured_zoo_keys_are_dropped_with_a_reason():
    spec = resolve_agent("ppo", "CarRacing-v3", "classic")
    assert set(spec.dropped) == {"env_wrapper", "frame_stack"}
    assert all(spec.dropped.values())
    assert "env_wrapper" not in spec.kwargs
    # normalize given as a dict-string
    assert spec.normalize == {"norm_obs": False, "norm_reward": True, "gamma": 0.99}
    assert spec.kwargs["policy_kwargs"]["activation_fn"] is torch.nn.GELU


def test_action_noise_from_zoo_noise_keys():
    spec = resolve_agent("td3", "Pendulum-v1", "classic", action_space=BOX)
    assert spec.action_noise == {"type": "normal", "std": 0.1}
    assert isinstance(spec.kwargs["action_noise"], NormalActionNoise)
    spec = resolve_agent("td3", "MountainCarContinuous-v0", "classic", action_space=BOX)
    assert isinstance(spec.kwargs["action_noise"], OrnsteinUhlenbeckActionNoise)
    # without an action space the noise is built later, by make_model
    assert "action_noise" not in resolve_agent("td3", "Pendulum-v1", "classic").kwargs


# --- parsing ---------------------------------------------------------------------------------


def test_schedule_parsing():
    sched = parse_schedule("lin_2.5e-4")
    assert sched == LinearDecay(2.5e-4)
    assert sched(1.0) == pytest.approx(2.5e-4)
    assert sched(0.5) == pytest.approx(1.25e-4)
    assert sched(0.0) == 0.0
    assert str(sched) == "lin_0.00025"
    for bad in ("lin_abc", "exp_0.1", "lin_"):
        with pytest.raises(ValueError, match="schedule"):
            parse_schedule(bad)


def test_policy_kwargs_parsing():
    text = """dict(
        log_std_init=-2,
        ortho_init=False,
        activation_fn=nn.ReLU,
        net_arch=dict(pi=[256], vf=[256]),
    )"""
    assert parse_policy_kwargs(text) == {
        "log_std_init": -2,
        "ortho_init": False,
        "activation_fn": torch.nn.ReLU,
        "net_arch": {"pi": [256], "vf": [256]},
    }
    parsed = parse_policy_kwargs("{'net_arch': [64, 64], 'optimizer_class': th.optim.Adam, 'activation_fn': nn.Tanh}")
    assert parsed["optimizer_class"] is torch.optim.Adam
    assert parsed["activation_fn"] is torch.nn.Tanh


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('x')",
        "dict(a=__import__('os').system('x'))",
        "dict(activation_fn=nn.Module.__subclasses__())",
        "dict(activation_fn=nn.ReLU.__init__)",
        "dict(a=open('/etc/passwd'))",
        "dict(**{'a': 1})",
        "dict(a=[x for x in range(3)])",
        "dict(a=lambda: 0)",
        "dict(a=os)",
        "dict(a=1 + 1)",
        "[64, 64]",
        "dict(net_arch=[64,",
    ],
)
def test_policy_kwargs_rejects_unsafe_or_malformed_strings(text):
    with pytest.raises(ValueError):
        parse_policy_kwargs(text)


def test_parse_overrides_values():
    out = parse_overrides(
        [
            "learning_rate=3e-4",
            "clip_range=lin_0.1",
            "policy_kwargs=dict(net_arch=[32, 32], activation_fn=nn.ReLU)",
            "normalize={'norm_obs': True, 'norm_reward': False}",
            "n_envs=4",
            "use_sde=True",
            "ent_coef=auto",
            "policy=MlpPolicy",
            "train_freq=(1, 'episode')",
            "noise_type=ornstein-uhlenbeck",
        ]
    )
    assert out["learning_rate"] == pytest.approx(3e-4)
    assert out["clip_range"] == LinearDecay(0.1)
    assert out["policy_kwargs"] == {"net_arch": [32, 32], "activation_fn": torch.nn.ReLU}
    assert out["normalize"] == {"norm_obs": True, "norm_reward": False}
    assert out["n_envs"] == 4 and out["use_sde"] is True
    assert out["ent_coef"] == "auto" and out["policy"] == "MlpPolicy"
    assert out["train_freq"] == (1, "episode")
    assert out["noise_type"] == "ornstein-uhlenbeck"
    assert parse_overrides([]) == {} and parse_overrides(None) == {}


@pytest.mark.parametrize(
    "items",
    [
        ["learning_rate"],
        ["=3"],
        ["learning_rate="],
        ["net_arch=[64,"],
        ["gamma=0.9", "gamma=0.8"],
        ["policy_kwargs=__import__('os').system('x')"],
        ["clip_range=lin_fast"],
        ["2bad=1"],
    ],
)
def test_parse_overrides_errors_name_the_bad_item(items):
    with pytest.raises(ValueError, match="override") as err:
        parse_overrides(items)
    assert items[-1] in str(err.value)


# --- overrides and validation ----------------------------------------------------------------


def test_overrides_win_and_are_recorded():
    spec = resolve_agent(
        "ppo",
        "CartPole-v1",
        "classic",
        overrides={"n_steps": "64", "learning_rate": "lin_3e-4", "n_envs": "2", "normalize": "True"},
    )
    assert spec.kwargs["n_steps"] == 64 and spec.n_envs == 2
    assert spec.kwargs["learning_rate"] == LinearDecay(3e-4)
    assert spec.normalize == {"norm_obs": True, "norm_reward": True, "gamma": 0.98}
    assert spec.overrides == {"n_steps": 64, "learning_rate": LinearDecay(3e-4), "n_envs": 2, "normalize": True}
    assert spec.kwargs["batch_size"] == 256  # the rest of the preset stays
    # already-parsed values (from parse_overrides) pass straight through
    spec = resolve_agent("ppo", "CartPole-v1", "classic", parse_overrides(["policy_kwargs=dict(net_arch=[8])"]))
    assert spec.kwargs["policy_kwargs"] == {"net_arch": [8]}


def test_unknown_override_key_lists_valid_keys():
    with pytest.raises(ValueError, match="lerning_rate") as err:
        resolve_agent("ppo", "CartPole-v1", "classic", overrides={"lerning_rate": "0.1"})
    msg = str(err.value)
    assert "Did you mean learning_rate" in msg
    for key in ("n_steps", "gae_lambda", "n_envs", "normalize"):
        assert key in msg
    with pytest.raises(ValueError, match="set by make_model"):
        resolve_agent("dqn", "CartPole-v1", "classic", overrides={"seed": "1"})
    with pytest.raises(ValueError, match="buffer_size"):
        resolve_agent("sac", "Pendulum-v1", "classic", overrides={"n_epochs": "3"})
    with pytest.raises(ValueError, match="default buffers"):
        resolve_agent("sac", "Pendulum-v1", "classic", overrides={"replay_buffer_class": "HerReplayBuffer"})


def test_schedule_only_for_schedulable_keys():
    with pytest.raises(ValueError, match="schedules only work for learning_rate"):
        resolve_agent("ppo", "CartPole-v1", "classic", overrides={"ent_coef": "lin_0.01"})


def test_unknown_agent():
    with pytest.raises(ValueError, match="ppo, a2c, dqn, sac, td3"):
        resolve_agent("ddpg", "Pendulum-v1", "classic")
    assert resolve_agent("PPO", "CartPole-v1", "classic").algo == "ppo"


def test_dqn_on_box_and_sac_td3_on_discrete_are_refused():
    with pytest.raises(ValueError, match=r"dqn needs a Discrete.*fit a Box action space: ppo, a2c, sac, td3"):
        resolve_agent("dqn", "Pendulum-v1", "classic", action_space=BOX)
    for algo in ("sac", "td3"):
        with pytest.raises(ValueError, match=rf"{algo} needs a Box.*fit a Discrete action space: ppo, a2c, dqn"):
            resolve_agent(algo, "CartPole-v1", "classic", action_space=DISCRETE)
    venv = make_vec_env("CartPole-v1", n_envs=1)
    with pytest.raises(ValueError, match="ppo, a2c, dqn"):
        make_model(resolve_agent("sac", "CartPole-v1", "classic"), venv, seed=0)
    venv.close()


def test_bad_normalize_and_policy_are_refused():
    with pytest.raises(ValueError, match="norm_everything"):
        resolve_agent("ppo", "CartPole-v1", "classic", overrides={"normalize": "{'norm_everything': True}"})
    with pytest.raises(ValueError, match="MlpPolicy"):
        resolve_agent("ppo", "CartPole-v1", "classic", overrides={"policy": "FancyPolicy"})


def test_constructor_keys_come_from_the_sb3_signature():
    assert "n_epochs" in constructor_keys("ppo") and "n_epochs" not in constructor_keys("a2c")
    assert "action_noise" in constructor_keys("td3")
    assert not {"seed", "device", "env", "policy"} & set(constructor_keys("sac"))


# --- serialisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algo", "task_id", "family", "space"),
    [
        ("ppo", "HalfCheetah-v5", "mujoco", BOX),
        ("a2c", "Pendulum-v1", "classic", BOX),
        ("dqn", "CartPole-v1", "classic", DISCRETE),
        ("sac", "MountainCarContinuous-v0", "classic", BOX),
        ("td3", "Pendulum-v1", "classic", BOX),
        ("ppo", "CarRacing-v3", "classic", None),
    ],
)
def test_to_dict_is_json_and_round_trips(algo, task_id, family, space):
    spec = resolve_agent(algo, task_id, family, overrides={"learning_rate": "lin_1e-3"}, action_space=space)
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["kwargs"]["learning_rate"] == "lin_0.001"
    back = AgentSpec.from_dict(data)
    expected = {k: v for k, v in spec.kwargs.items() if k != "action_noise"}
    assert back.kwargs == expected
    assert back.to_dict()["kwargs"] == {k: v for k, v in data["kwargs"].items() if k != "action_noise"}
    assert (back.source, back.normalize, back.action_noise) == (spec.source, spec.normalize, spec.action_noise)


# --- models ----------------------------------------------------------------------------------

LEARN_CASES = {
    "ppo": ("CartPole-v1", {}),
    "a2c": ("CartPole-v1", {}),
    "dqn": ("CartPole-v1", {"learning_starts": "64", "train_freq": "16", "gradient_steps": "4"}),
    "sac": ("Pendulum-v1", {"learning_starts": "64", "batch_size": "32"}),
    "td3": ("Pendulum-v1", {"learning_starts": "64", "batch_size": "32", "buffer_size": "1000"}),
}


@pytest.mark.parametrize("algo", AGENTS)
def test_make_model_learns_a_tiny_budget(algo):
    env_id, overrides = LEARN_CASES[algo]
    spec = resolve_agent(algo, env_id, "classic", overrides=overrides)
    venv = make_vec_env(env_id, n_envs=spec.n_envs, seed=0)
    model = make_model(spec, venv, seed=0, device="auto")
    assert type(model).__name__.lower() == algo
    model.learn(256)
    assert model.num_timesteps >= 256
    if algo == "td3":
        assert model.action_noise is not None
    venv.close()


def test_make_model_applies_normalisation_and_save_load_keeps_it(tmp_path):
    spec = resolve_agent("ppo", "MountainCar-v0", "classic", overrides={"n_envs": "2", "n_steps": "32"})
    venv = make_vec_env("MountainCar-v0", n_envs=spec.n_envs, seed=0)
    model = make_model(spec, venv, seed=0, device="cpu")
    vec_norm = model.get_vec_normalize_env()
    assert isinstance(vec_norm, VecNormalize) and vec_norm.gamma == 0.99
    model.learn(64)
    path = save_model(model, tmp_path / "model")
    assert path.exists() and (tmp_path / "model.vecnormalize.pkl").exists()
    loaded = load_model("ppo", path, env=make_vec_env("MountainCar-v0", n_envs=2, seed=1), device="cpu")
    loaded_norm = loaded.get_vec_normalize_env()
    assert loaded_norm is not None
    np.testing.assert_allclose(loaded_norm.obs_rms.mean, vec_norm.obs_rms.mean)
    obs = loaded.get_env().reset()
    action, _ = loaded.predict(obs, deterministic=True)
    assert action.shape == (2,)
    with pytest.raises(FileNotFoundError):
        load_model("ppo", tmp_path / "missing.zip")


def test_make_model_warns_when_env_count_differs_from_preset():
    spec = resolve_agent("a2c", "CartPole-v1", "classic")
    venv = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    with pytest.warns(UserWarning, match="n_envs=8"):
        make_model(spec, venv, seed=0, device="cpu")
    venv.close()
