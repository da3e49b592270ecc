"""Paths of the authors' parity fixture for the data tests."""

import pathlib

import numpy as np
import pytest

PARITY_DIR = pathlib.Path(__file__).resolve().parents[1] / 'fixtures' / 'parity'
# The fine-tune dataset folder (the authors' `datadir`) and its one identity folder.
FIXTURE_DATASET = PARITY_DIR / 'dataset' / 'synth_fixture'
FIXTURE_IDENTITY = FIXTURE_DATASET / '0'


@pytest.fixture(scope='session')
def parity() -> dict[str, np.ndarray]:
  """Arrays recorded from the authors' code on the fixture dataset."""
  with np.load(PARITY_DIR / 'dfrf_parity.npz') as npz:
    return {key: npz[key] for key in npz.files}
