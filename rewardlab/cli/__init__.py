"""The ``rewardlab`` command.

    rewardlab tasks [--family F]            list tasks with fitness and success threshold
    rewardlab rewards TASK                  rewards available for a task
    rewardlab agents [--task T]             agents and where their presets come from
    rewardlab run --task T --reward R ...   train one run, write its run directory
    rewardlab demo                          the default experiment (MountainCar sparse/env/hand)
    rewardlab show RUN_DIR                  print a run's status and summary
    rewardlab random TASK                   fitness of a uniform random policy
    rewardlab suites                        shipped experiment suites
    rewardlab compare SPEC|SUITE            run an experiment grid (local pool or Ray), resumable
    rewardlab report EXPERIMENT_DIR         plots + HTML + Markdown for an experiment
    rewardlab distance --task T A B         EPIC / STARC distance between two rewards
    rewardlab search --task T ...           reward search (LLM or mutation backend) with reflection
    rewardlab rank SEARCH_DIR ORDER ...     rank a search iteration's rollout videos (ICPL)
    rewardlab video RUN_DIR                 render a run's policy to a GIF
    rewardlab replay SEARCH_DIR             re-train a search's best reward, no LLM
    rewardlab bench [wrapper|pool|sandbox|train]  wrapper overhead; pool speed-up; sandbox cost; agents' training speed

Each command is a :class:`~rewardlab.cli.commands.Command` in the module named for what it does (``listing``,
``runs``, ``experiments``, ``bench``); ``search``, ``rank`` and ``replay`` come from ``llm_reward.cli`` through the
plugin list in :mod:`rewardlab.cli.app`, so ``rewardlab`` itself never imports ``llm_reward``.
"""

from rewardlab.cli.app import build_parser, main
from rewardlab.cli.commands import CLIError, Command

__all__ = ["CLIError", "Command", "build_parser", "main"]
