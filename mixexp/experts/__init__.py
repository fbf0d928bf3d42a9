"""Experts: per-leaf conditional models with their log-densities and weighted M-steps."""
