"""Learners: the stable-baselines3 factory with tuned presets (more agents later)."""
