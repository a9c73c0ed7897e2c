# SPDX-License-Identifier: Apache-2.0
"""Code style: flake8 (99 columns), pep257 docstrings, and an SPDX header on every file."""

from pathlib import Path
import subprocess
import sys

ROOT = Path(__file__).resolve().parent.parent
PY_DIRS = ['space_miner', 'test', 'bench', 'launch', 'setup.py']
SKIP_PARTS = {'.venv', '.git', 'build', 'install', 'log', '__pycache__', '.pytest_cache',
              '.hypothesis'}
SPDX = 'SPDX-License-Identifier: Apache-2.0'
# Files that cannot carry a comment, or are not ours to mark.
NO_HEADER = {'LICENSE', 'resource/space_miner', 'bench/results.json'}
HEADER_SUFFIXES = {'.py', '.yaml', '.yml', '.xacro', '.xml', '.md', '.cfg', '.txt', '.rviz',
                   ''}


def _project_files():
    listed = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for line in listed.splitlines():
        path = ROOT / line
        if path.is_file() and not SKIP_PARTS.intersection(Path(line).parts):
            yield line, path


def test_flake8():
    result = subprocess.run([sys.executable, '-m', 'flake8', '--max-line-length', '99',
                             *PY_DIRS], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pep257():
    result = subprocess.run([sys.executable, '-m', 'pydocstyle', 'space_miner', 'launch',
                             'setup.py'], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_file_has_an_spdx_header():
    missing = []
    for name, path in _project_files():
        if name in NO_HEADER or path.suffix not in HEADER_SUFFIXES:
            continue
        head = path.read_text(errors='replace')[:400]
        if SPDX not in head:
            missing.append(name)
    assert not missing, f'no SPDX header: {missing}'
