"""Reference-frame choice: random other train frames in training, fixed train positions at test."""

import numpy as np
import pytest

from dfrf_jax.data import dataset, references
from dfrf_jax.data.errors import DatasetError
from tests.data.conftest import FIXTURE_IDENTITY


@pytest.fixture(scope='module')
def train() -> dataset.Split:
  return dataset.load_identity(str(FIXTURE_IDENTITY)).train


def test_training_references_are_other_distinct_train_frames(train):
  rng = np.random.default_rng(0)
  seen = np.zeros(len(train), int)
  for target in range(len(train)):
    for _ in range(20):
      refs = references.training_references(rng, train, target, 4)
      assert refs.shape == (4,)
      assert len(set(refs.tolist())) == 4
      assert target not in refs
      assert refs.min() >= 0 and refs.max() < len(train)
      seen[refs] += 1
  # 12 targets x 20 draws x 4 refs spread over all 12 frames, none missing.
  assert seen.sum() == 960 and seen.min() > 0


def test_training_references_are_a_permutation_prefix(train):
  # The authors: permutation(train indices without the target)[:N].
  refs = references.training_references(np.random.default_rng(7), train, 5, 4)
  want = np.random.default_rng(7).permutation([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11])[:4]
  np.testing.assert_array_equal(refs, want)


def test_training_references_are_deterministic(train):
  draw = lambda seed: references.training_references(np.random.default_rng(seed), train, 3, 4)
  np.testing.assert_array_equal(draw(1), draw(1))
  assert any(not np.array_equal(draw(1), draw(s)) for s in range(2, 6))


def test_training_references_need_enough_frames(train):
  with pytest.raises(DatasetError, match=r'transforms_train.json: 12 train frames, expected at '
                     r'least 13 \(the target plus 12 references\)'):
    references.training_references(np.random.default_rng(0), train, 0, 12)
  with pytest.raises(ValueError, match='target position 12 is outside'):
    references.training_references(np.random.default_rng(0), train, 12, 4)


def test_render_references_take_the_given_positions(train):
  np.testing.assert_array_equal(references.render_references(train, (1, 4, 7, 10), 4),
                                [1, 4, 7, 10])
  np.testing.assert_array_equal(references.render_references(train, (9, 2, 5, 11), 2), [9, 2])


def test_render_references_default_positions_need_201_frames(train):
  with pytest.raises(DatasetError, match=r'transforms_train.json: 12 train frames, but the test '
                     r'references are train positions \[50, 100, 150, 200\]; '
                     r'expected at least 201'):
    references.render_references(train, (50, 100, 150, 200), 4)
  with pytest.raises(ValueError, match='names fewer than 4 references'):
    references.render_references(train, (1, 2), 4)


def test_render_references_evenly_spaced_when_no_positions(train):
  # Centres of 4 equal parts of 12 frames: 1.5, 4.5, 7.5, 10.5 rounded down.
  np.testing.assert_array_equal(references.render_references(train, (), 4), [1, 4, 7, 10])
  np.testing.assert_array_equal(references.render_references(train, (), 1), [6])
  all_twelve = references.render_references(train, (), 12)
  np.testing.assert_array_equal(all_twelve, np.arange(12))
  with pytest.raises(DatasetError, match='12 train frames, expected at least 13'):
    references.render_references(train, (), 13)
