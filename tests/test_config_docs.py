"""docs/config.md documents exactly the fields of `default_config()`, with their default values."""

import ast
import pathlib
import re
from typing import Any, Iterator

from dfrf_jax import config as config_lib

_DOC = pathlib.Path(__file__).resolve().parent.parent / 'docs' / 'config.md'
# A table row whose first cell is a backticked field name and whose second a backticked default.
_ROW = re.compile(r'^\|\s*`([a-z_A-Z0-9.]+)`\s*\|\s*`([^`]*)`\s*\|')


def _flatten(tree: dict[str, Any], prefix: str = '') -> Iterator[tuple[str, Any]]:
  for key, value in tree.items():
    if isinstance(value, dict):
      yield from _flatten(value, f'{prefix}{key}.')
    else:
      yield f'{prefix}{key}', value


def _documented() -> dict[str, str]:
  rows = {}
  for line in _DOC.read_text().splitlines():
    match = _ROW.match(line)
    if match:
      name, default = match.groups()
      assert name not in rows, f'{_DOC.name}: field {name} is documented twice'
      rows[name] = default
  return rows


def test_documented_fields_are_the_config_fields():
  fields = dict(_flatten(config_lib.default_config().to_dict()))
  documented = _documented()
  assert sorted(set(fields) - set(documented)) == []  # undocumented fields
  assert sorted(set(documented) - set(fields)) == []  # documented fields that do not exist


def test_documented_defaults_are_the_config_defaults():
  fields = dict(_flatten(config_lib.default_config().to_dict()))
  for name, default in _documented().items():
    value = ast.literal_eval(default)
    assert value == fields[name] and type(value) is type(fields[name]), (
        f'{_DOC.name}: {name} documented default {default}, config has {fields[name]!r}')
