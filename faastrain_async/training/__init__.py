"""Training RL autoscalers with Stable-Baselines3 (the optional ``rl`` extra).

Nothing here imports Stable-Baselines3 or PyTorch at import time: ``features`` and
``model_policy`` are plain numpy, and ``trainer`` imports SB3 inside its functions, so the
base install (and ``make_policy``) works without the extra.
"""
