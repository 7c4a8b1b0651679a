"""The environment layer: spaces, actions, rewards, the async env and the Gymnasium adapter."""
