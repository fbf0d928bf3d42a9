"""Gating networks: the M-step of each inner node's gate."""
