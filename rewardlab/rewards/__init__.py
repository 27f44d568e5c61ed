"""The reward contract, composition and name resolution."""

from rewardlab.rewards.base import (
    EnvReward,
    FunctionReward,
    RewardError,
    RewardSource,
    RewardTerms,
    TransitionBatch,
)
from rewardlab.rewards.compose import Clip, PotentialShaping, RunningNorm, Scale, WeightedSum
from rewardlab.rewards.registry import RewardSpecError, available_rewards, resolve_reward, reward

__all__ = [
    "Clip",
    "EnvReward",
    "FunctionReward",
    "PotentialShaping",
    "RewardError",
    "RewardSource",
    "RewardSpecError",
    "RewardTerms",
    "RunningNorm",
    "Scale",
    "TransitionBatch",
    "WeightedSum",
    "available_rewards",
    "resolve_reward",
    "reward",
]
