# SPDX-License-Identifier: Apache-2.0
"""``colcon build`` installs the package the way ROS 2 users expect."""

import configparser
from pathlib import Path
import py_compile
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _console_scripts():
    # setup.py's entry points, read from the installed metadata of this checkout.
    from importlib import metadata
    eps = metadata.distribution('space_miner').entry_points
    return sorted(ep.name for ep in eps if ep.group == 'console_scripts')


@pytest.fixture(scope='module')
def install(tmp_path_factory):
    colcon = Path(sys.executable).parent / 'colcon'
    if not colcon.exists():
        colcon = shutil.which('colcon')
    assert colcon, 'colcon missing: requirements-dev.txt installs colcon-common-extensions'
    work = tmp_path_factory.mktemp('ws')
    src = work / 'src' / 'space_miner'
    src.parent.mkdir()
    ignore = shutil.ignore_patterns('.venv', '.git', 'build', 'install', 'log', '*.egg-info',
                                    '__pycache__', 'runs')
    shutil.copytree(ROOT, src, ignore=ignore)
    result = subprocess.run(
        [str(colcon), 'build', '--base-paths', 'src', '--build-base', 'build',
         '--install-base', 'install', '--event-handlers', 'console_direct-'],
        cwd=work, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work / 'install' / 'space_miner'


def test_share_holds_launch_config_urdf_and_the_package_manifest(install):
    share = install / 'share' / 'space_miner'
    for sub in ('launch', 'config', 'config/scenarios', 'urdf'):
        if not any((ROOT / sub).glob('*')):
            continue  # git keeps no empty directory
        assert (share / sub).is_dir(), sub
        installed = sorted(p.name for p in (share / sub).iterdir() if p.is_file())
        assert installed == sorted(p.name for p in (ROOT / sub).iterdir() if p.is_file()), sub
    assert (share / 'package.xml').is_file()
    assert (install / 'share' / 'ament_index' / 'resource_index' / 'packages'
            / 'space_miner').is_file()


def test_executables_are_in_lib_space_miner(install):
    scripts = _console_scripts()
    assert scripts, 'setup.py declares no console script'
    for name in scripts:
        exe = install / 'lib' / 'space_miner' / name
        assert exe.is_file(), f'{name} not in lib/space_miner (ros2 run would not find it)'


def test_installed_launch_files_compile(install):
    for launch_file in (install / 'share' / 'space_miner' / 'launch').glob('*.py'):
        py_compile.compile(str(launch_file), doraise=True)


def test_setup_cfg_puts_scripts_where_ros2_run_looks():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'setup.cfg')
    assert cfg['develop']['script_dir'] == '$base/lib/space_miner'
    assert cfg['install']['install_scripts'] == '$base/lib/space_miner'


def test_ros2_finds_the_colcon_installed_package_and_its_launch_files(install, tmp_path):
    # The ROS 2 route: with the install prefix on AMENT_PREFIX_PATH (what sourcing
    # install/setup.bash does), ros2 finds the package, its executables in lib/ and its
    # launch files in share/ (test_ros2_launch.py runs them from .venv's prefix).
    import os

    from launch_run import ros2_executable

    ros2 = ros2_executable()
    env = dict(os.environ, AMENT_PREFIX_PATH=str(install), ROS_LOG_DIR=str(tmp_path),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')

    def run(*args):
        result = subprocess.run([ros2, *args], env=env, capture_output=True, text=True,
                                timeout=120, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return result.stdout

    assert Path(run('pkg', 'prefix', 'space_miner').strip()) == install
    executables = {line.split()[-1] for line in run('pkg', 'executables',
                                                    'space_miner').splitlines()}
    assert set(_console_scripts()) <= executables
    shown = run('launch', 'space_miner', 'sim.launch.py', '--show-args')
    for argument in ('scenario', 'body', 'summary', 'exit_at_end', 'description'):
        assert f"'{argument}':" in shown, shown
