"""Collected experience: the one container (:class:`Rollout`) and the one collector."""

from rewardlab.data.rollout import (
    Collector,
    Episode,
    Policy,
    Relabel,
    Rollout,
    random_policy,
    true_next_info,
    true_next_obs,
)

__all__ = ["Collector", "Episode", "Policy", "Relabel", "Rollout", "random_policy", "true_next_info", "true_next_obs"]
