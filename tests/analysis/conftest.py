"""Shared fixtures of the analysis tests."""

import keras
import pytest


@pytest.fixture
def float64():
    """Float64 models: floatx and the global dtype policy (a policy set explicitly earlier in
    the session, as the trainer does after every run, overrides floatx), both put back."""
    previous, policy = keras.backend.floatx(), keras.config.dtype_policy()
    keras.backend.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    yield
    keras.backend.set_floatx(previous)
    keras.config.set_dtype_policy(policy)
