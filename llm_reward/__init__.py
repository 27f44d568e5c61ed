"""LLM-authored rewards: clients, prompts, sandbox and the reward-search loop (issue 4)."""
