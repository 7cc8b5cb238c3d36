"""The lock files (``./run lock``, uv): every dependency pinned for Python
3.11-3.13; the runtime lock, which the image installs, carries no dev tools,
stand-ins or compose driver; ./run installs with the dev lock as constraints;
both locks agree on what they share and satisfy pyproject.toml."""

import re
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NOT_IN_THE_IMAGE = {"pytest", "playwright", "python-on-whales", "aiosmtpd",
                    "secantusdb", "compose-spec", "import-linter",
                    "hypothesis", "pytest-timeout", "uv", "kubernetes-validate"}


def normal(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock):
    """{(name, marker or ''): version} of a uv lock file."""
    found = {}
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", line
        found[(normal(requirement.name), str(requirement.marker or ""))] = (
            spec.version)
    return found


def chosen(lock, name, python):
    """The version the lock gives ``name`` on Python ``python``."""
    env = {"python_version": python, "python_full_version": python + ".0",
           "platform_python_implementation": "CPython",
           "sys_platform": "linux", "platform_system": "Linux",
           "implementation_name": "cpython", "platform_machine": "x86_64",
           "os_name": "posix"}
    versions = [version for (pin, marker), version in pins(lock).items()
                if pin == name and (not marker or Marker(marker).evaluate(env))]
    assert len(versions) <= 1, (name, python, versions)
    return versions[0] if versions else None


def test_every_runtime_dependency_is_pinned_and_satisfies_pyproject():
    for python in ("3.11", "3.12", "3.13"):
        for line in PROJECT["dependencies"]:
            requirement = Requirement(line)
            version = chosen("runtime.lock", normal(requirement.name), python)
            assert version, f"{requirement.name} not in runtime.lock"
            assert requirement.specifier.contains(version, prereleases=True)


def test_the_image_lock_carries_no_dev_tools():
    names = {name for name, _ in pins("runtime.lock")}
    assert not names & NOT_IN_THE_IMAGE
    dev = {name for name, _ in pins("dev.lock")}
    assert NOT_IN_THE_IMAGE - {"uv"} <= dev


def test_both_locks_agree_on_what_they_share():
    dev = pins("dev.lock")
    for key, version in pins("runtime.lock").items():
        assert dev.get(key) == version, key


def test_run_installs_with_the_dev_lock_and_the_image_with_the_runtime_lock():
    run = (ROOT / "run").read_text()
    assert "--constraint requirements/dev.lock" in run
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements/runtime.lock" in dockerfile
