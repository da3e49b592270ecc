"""notebooks/quickstart.ipynb runs headless at the test size (DFRF_NOTEBOOK_TEST=1) and is stored clean.

Its programs are those of tests/test_api.py (same dataset spec and config); run after it in one session,
the kernel reads them from the session's XLA cache (tests/conftest.py) instead of compiling them.
"""

import os
import pathlib
import re

import nbclient
import nbformat

from dfrf_jax.eval.video import probe_streams

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / 'notebooks' / 'quickstart.ipynb'


def _text(cell: nbformat.NotebookNode) -> str:
  """Everything a code cell printed or displayed as text."""
  parts = []
  for output in cell.outputs:
    parts.append(output.get('text', ''))
    parts.extend(str(v) for k, v in output.get('data', {}).items() if k.startswith('text/'))
  return '\n'.join(parts)


def test_notebook_is_committed_without_outputs():
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(notebook)
  for cell in notebook.cells:
    if cell.cell_type == 'code':
      assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]


def test_notebook_runs_at_the_test_size(tmp_path, monkeypatch):
  monkeypatch.setenv('DFRF_NOTEBOOK_TEST', '1')
  monkeypatch.setenv('DFRF_NOTEBOOK_WORKDIR', str(tmp_path))
  # The kernel imports this checkout's dfrf_jax, whatever else is installed.
  monkeypatch.setenv('PYTHONPATH', os.pathsep.join(filter(None, [str(ROOT),
                                                                os.environ.get('PYTHONPATH')])))
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(notebook, timeout=600, kernel_name='python3',
                                   resources={'metadata': {'path': str(ROOT / 'notebooks')}})
  client.execute()  # raises CellExecutionError naming the failing cell
  text = '\n'.join(_text(c) for c in notebook.cells if c.cell_type == 'code')
  assert 'step   10  loss' in text
  assert 'rendered (32, 32, 3) at step 10' in text
  assert 'background only' in text  # the metrics table
  assert text.count('<video') == 2  # the self-driven and the swapped-audio videos, inline
  # configs/test.py: 16^3 cells measured, refined once (render.accel.grid_refinements) to 32^3.
  assert re.search(r"grid: 32\^3 cells, \d+\.\d% occupied", text)
  difference = float(re.search(r'largest pixel difference (\S+)', text).group(1))
  assert difference < 0.05  # the accelerated frames match the dense ones
  own = probe_streams(tmp_path / 'self_driven.mp4')
  assert (own['num_frames'], own['width'], own['has_audio']) == (4, 32, False)
  swapped = probe_streams(tmp_path / 'swapped_audio.mp4')
  assert (swapped['num_frames'], swapped['has_audio']) == (4, True)
