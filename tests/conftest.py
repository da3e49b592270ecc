"""Test-wide set-up: two host CPU devices for the data-parallel tests, float32 everywhere."""

import os

# Must happen before JAX is imported anywhere, so it sits at the top of conftest.
os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=2')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
