"""Starts an absl command-line tool so that its --help is complete however it was launched."""

from collections.abc import Callable
import sys

from absl import app, flags


def run_cli(main_fn: Callable[[list[str]], None], doc: str, names: list[str],
            required: list[str]) -> None:
  """Runs an absl main whose --help shows `doc` and the flags `names`, however it was started.

  absl's --help lists the flags of the module named by sys.argv[0]; a console script or `python -m`
  starts from another module, so the flags are registered for it and its docstring replaced.
  """
  for name in names:
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])
  sys.modules['__main__'].__doc__ = doc
  flags.mark_flags_as_required(required)
  app.run(main_fn)
