"""Every installed package is the version constraints.txt names: a release upstream cannot
change what `make test` or the image installs without a commit (lxml 6.2.0 once broke every
.docx conversion on a fresh clone while nothing of ours had changed)."""

from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# The installer's own packages, which a virtualenv brings and `pip freeze` leaves out.
_TOOLING = {"pip", "setuptools", "wheel", "chukchat"}


def constraints() -> dict[str, str]:
    pinned = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, separator, version = line.partition("==")
            assert separator, f"not an exact pin: {line!r}"
            pinned[canonicalize_name(name)] = version
    return pinned


def test_every_installed_package_is_the_pinned_version():
    pinned = constraints()
    installed = {
        canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
    }
    unpinned = sorted(set(installed) - set(pinned) - _TOOLING)
    differing = {
        name: (version, pinned[name])
        for name, version in installed.items()
        if name in pinned and pinned[name] != version
    }
    assert unpinned == []
    assert differing == {}


def test_the_makefile_installs_with_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    installs = [line.strip() for line in makefile.splitlines() if "pip install" in line]
    project_installs = [line for line in installs if " -e " in line]
    assert len(project_installs) == 3  # the app, its tests, the benchmark's tools
    assert all("-c constraints.txt" in line for line in project_installs)
