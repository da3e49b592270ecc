"""`python -m dfrf_jax.train`: the same as dfrf-train."""

from dfrf_jax.train.main import run

run()
