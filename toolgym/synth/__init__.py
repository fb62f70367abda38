"""Synthetic tool-use data: harvest -> evolve -> agents -> tasks -> rollouts -> filter -> export."""
