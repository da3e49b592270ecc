"""A generic 3D face: the 68 iBUG landmarks of an average adult head, in metres.

The points are placed by hand from textbook facial proportions (no scanned or licensed model): the
eyes sit on the line y = 0 with inner corners 36 mm apart and 27 mm long; the brows arch 20-28 mm
above them; the nose tip is 50 mm below the eyes and 35 mm in front of the eye corners; the mouth is
50 mm wide, 70-89 mm below the eyes; the chin is 120 mm below the eyes; the jaw contour is a
half-ellipse 140 mm wide that curves back 60 mm to the ears. Depth falls off quadratically towards
the sides of brows, eyes and lips.

Head frame: x towards the subject's left (image right when facing the camera), y up, z out of the
face (towards a camera that looks at it). The origin is the centre of the head: the landmarks' mean
in x and y, 90 mm behind the eye corners.
"""

import numpy as np

_MM = 1e-3


def _jaw() -> np.ndarray:
  """0-16: from the subject's right ear, under the chin, to the left ear."""
  angle = np.pi * np.arange(17) / 16
  x = -70.0 * np.cos(angle)
  y = -10.0 - 110.0 * np.sin(angle) ** 1.5
  z = -60.0 + 70.0 * np.sin(angle)
  return np.stack([x, y, z], 1)


def _brows() -> np.ndarray:
  """17-21 right brow (outer to inner), 22-26 left brow (inner to outer)."""
  right_x = np.array([-60.0, -50.0, -38.0, -26.0, -15.0])
  arch = np.array([20.0, 25.0, 28.0, 27.0, 24.0])
  right = np.stack([right_x, arch, 5.0 - 25.0 * (right_x / 60.0) ** 2], 1)
  left = right[::-1] * np.array([-1.0, 1.0, 1.0])
  return np.concatenate([right, left])


def _nose() -> np.ndarray:
  """27-30 bridge from between the eyes to the tip, 31-35 lower edge from right to left."""
  bridge = np.stack([np.zeros(4), [0.0, -15.0, -30.0, -45.0], [5.0, 15.0, 25.0, 35.0]], 1)
  lower = np.array([[-15.0, -52.0, 15.0], [-8.0, -55.0, 20.0], [0.0, -57.0, 24.0],
                    [8.0, -55.0, 20.0], [15.0, -52.0, 15.0]])
  return np.concatenate([bridge, lower])


def _eyes() -> np.ndarray:
  """36-41 right eye, 42-47 left eye, each clockwise in the image from the outer/inner corner."""
  right = np.array([[-45.0, 0.0], [-37.0, 5.0], [-26.0, 5.0], [-18.0, 0.0], [-26.0, -4.0],
                    [-37.0, -4.0]])
  left = np.array([[18.0, 0.0], [26.0, 5.0], [37.0, 5.0], [45.0, 0.0], [37.0, -4.0],
                   [26.0, -4.0]])
  xy = np.concatenate([right, left])
  z = -8.0 * (np.abs(xy[:, 0]) - 18.0) / 27.0
  return np.concatenate([xy, z[:, None]], 1)


def _lips() -> np.ndarray:
  """48-59 outer lip from the right corner over the top, 60-67 inner lip likewise."""
  outer = np.array([[-25.0, -78.0], [-15.0, -72.0], [-6.0, -70.0], [0.0, -71.0], [6.0, -70.0],
                    [15.0, -72.0], [25.0, -78.0], [15.0, -85.0], [6.0, -88.0], [0.0, -89.0],
                    [-6.0, -88.0], [-15.0, -85.0]])
  inner = np.array([[-21.0, -78.0], [-8.0, -76.0], [0.0, -76.0], [8.0, -76.0], [21.0, -78.0],
                    [8.0, -79.0], [0.0, -79.0], [-8.0, -79.0]])
  xy = np.concatenate([outer, inner])
  z = 15.0 - 15.0 * (xy[:, 0] / 25.0) ** 2
  return np.concatenate([xy, z[:, None]], 1)


def mean_face() -> np.ndarray:
  """The generic face: [68, 3] float64 metres in the head frame (see the module docstring)."""
  points = np.concatenate([_jaw(), _brows(), _nose(), _eyes(), _lips()])
  centre = np.array([points[:, 0].mean(), points[:, 1].mean(), -90.0])
  return (points - centre) * _MM
