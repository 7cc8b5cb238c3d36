"""``./run`` on machines other than this one: it picks the newest working
Python among 3.13, 3.12 and 3.11 (a pyenv shim for a version that is not
selected does not count), refuses an unsupported SIFUWU_PYTHON, and a
half-made virtual environment (python3-venv missing) is removed, not reused,
with the package to install named.

The functions are read by sourcing ``run`` (which then defines them only), so no test here installs anything."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REAL_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))
VERSION = "%d.%d" % sys.version_info[:2]


def script(path, body):
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def run_functions(snippet, path, **env):
    """Source ./run's functions with PATH=``path`` and run ``snippet``."""
    environment = {"PATH": f"{path}:/usr/bin:/bin", "HOME": os.environ.get(
        "HOME", "/root"), **env}
    return subprocess.run(
        ["bash", "-c", f"source ./run; {snippet}"],
        cwd=ROOT, env=environment, capture_output=True, text=True,
        timeout=60)


def only_pythons(tmp_path):
    """A PATH folder whose python3.1x are only what a test puts there (the
    system's /usr/bin ones are hidden behind stand-ins that fail)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("python3.13", "python3.12", "python3.11", "python3"):
        script(folder / name, """\
            echo "pyenv: $(basename "$0"): command not found" >&2
            exit 127
            """)
    return folder


def test_a_pyenv_shim_for_an_unselected_version_is_skipped(tmp_path):
    folder = only_pythons(tmp_path)
    (folder / f"python{VERSION}").unlink()
    (folder / f"python{VERSION}").symlink_to(REAL_PYTHON)
    done = run_functions("find_python", folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"python{VERSION}"


def test_the_newest_working_version_wins(tmp_path):
    folder = only_pythons(tmp_path)
    for name in ("python3", f"python{VERSION}"):
        (folder / name).unlink()
        (folder / name).symlink_to(REAL_PYTHON)
    done = run_functions("find_python", folder)
    assert done.stdout.strip() == f"python{VERSION}"


def test_an_unsupported_sifuwu_python_is_refused(tmp_path):
    folder = only_pythons(tmp_path)
    old = script(tmp_path / "python3.10", f"""\
        exec {REAL_PYTHON} -c 'import sys; sys.exit(1)'
        """)
    done = run_functions("setup_python", folder, SIFUWU_PYTHON=str(old),
                         SIFUWU_VENV=str(tmp_path / "venv"))
    assert done.returncode == 1
    assert f"SIFUWU_PYTHON={old} 不能运行，或不是 Python 3.11–3.13" in (
        done.stderr)
    assert not (tmp_path / "venv").exists()


def test_no_supported_python_says_what_to_install(tmp_path):
    done = run_functions("setup_python", only_pythons(tmp_path),
                         SIFUWU_VENV=str(tmp_path / "venv"))
    assert done.returncode == 1
    assert "需要 Python 3.11、3.12 或 3.13" in done.stderr


def debian_without_venv_package(tmp_path):
    """An interpreter like Debian's without python3.X-venv: ``-m venv``
    leaves a venv without pip and fails."""
    return script(tmp_path / f"python{VERSION}", f"""\
        if [ "$1" = -m ] && [ "$2" = venv ]; then
          {REAL_PYTHON} -m venv --without-pip "$3"
          echo "The virtual environment was not created successfully because ensurepip is not available." >&2
          exit 1
        fi
        exec {REAL_PYTHON} "$@"
        """)


def test_a_half_made_venv_is_removed_and_the_package_named(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([str(REAL_PYTHON), "-m", "venv", "--without-pip",
                    str(venv)], check=True)
    python = debian_without_venv_package(tmp_path)
    done = run_functions("setup_python", only_pythons(tmp_path),
                         SIFUWU_PYTHON=str(python), SIFUWU_VENV=str(venv))
    assert done.returncode == 1
    assert "不完整或不是由 Python" in done.stderr
    assert f"sudo apt-get install -y python{VERSION}-venv" in done.stderr
    assert not venv.exists(), "a half-made venv must not be left behind"


def test_a_venv_of_another_or_a_vanished_interpreter_is_not_usable(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([str(REAL_PYTHON), "-m", "venv", str(venv)], check=True)
    folder = only_pythons(tmp_path)

    def usable(version):
        return run_functions(
            f"venv_usable {version} && echo usable || echo stale", folder,
            SIFUWU_VENV=str(venv)).stdout.strip()

    assert usable(VERSION) == "usable"
    assert usable("3.11" if VERSION != "3.11" else "3.13") == "stale"
    # its base interpreter removed: bin/python no longer runs
    (venv / "bin" / "python").unlink()
    script(venv / "bin" / "python", "exit 127\n")
    assert usable(VERSION) == "stale"
