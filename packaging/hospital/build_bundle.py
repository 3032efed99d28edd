"""Build the offline stage-1 bundle for a hospital computer: `make hospital-bundle`.

    python packaging/hospital/build_bundle.py [--platform native|win_amd64|macosx_arm64|
        macosx_x86_64|manylinux_x86_64] [--python 3.11] [--dir DIR]

The wheels of anon_pipeline and of what stage 1 needs (no Dagster, no DuckDB), for the
named platform and Python only, downloaded from the package index by platform tag (no
machine of that platform needed), then checked: every wheel is that platform's or pure
Python. A dependency without a wheel for the platform stops the build, named. Beside the
wheels: the installer of that platform (install.sh, or install.ps1 and install.bat) and a
README.txt in its terms. The bundle's folder and archive name its platform and Python.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent
# Platform tags pip may take for each target (it does not widen a given tag itself).
TARGETS = {
    "win_amd64": ["win_amd64"],
    "macosx_arm64": [f"macosx_{major}_0_arm64" for major in range(11, 16)],
    "macosx_x86_64": [f"macosx_10_{minor}_x86_64" for minor in range(9, 16)]
    + [f"macosx_{major}_0_x86_64" for major in range(11, 16)],
    "manylinux_x86_64": ["manylinux2014_x86_64"]
    + [f"manylinux_2_{minor}_x86_64" for minor in range(17, 35)],
}
# Dependencies of the dependencies that pip, resolving markers for the machine it runs
# on, would leave out for another platform's (tqdm needs colorama on Windows).
PLATFORM_EXTRAS = {"win_amd64": ["colorama>=0.4"]}


class BundleError(Exception):
    """The bundle cannot be built as asked: one line, naming what is missing."""


def native_platform() -> str:
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def stage1_requirements() -> list[str]:
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"])


def wheel_platform(name: str) -> str:
    """The platform tag of a wheel's file name (name-version[-build]-py-abi-platform)."""
    return name.removesuffix(".whl").split("-")[-1]


def pip(*arguments: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *arguments], check=True)


def download_wheels(wheels: Path, target: str, python: str) -> None:
    """The stage-1 dependencies' wheels for `target` and `python`, or BundleError."""
    platforms = [option for tag in TARGETS[target] for option in ("--platform", tag)]
    abi = "cp" + python.replace(".", "")
    try:
        pip(
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--dest",
            str(wheels),
            "--python-version",
            python,
            "--implementation",
            "cp",
            "--abi",
            abi,
            "--abi",
            "abi3",
            "--abi",
            "none",
            *platforms,
            *stage1_requirements(),
            *PLATFORM_EXTRAS.get(target, []),
        )
    except subprocess.CalledProcessError:
        raise BundleError(
            f"a stage-1 dependency has no wheel for {target} and Python {python} (pip names "
            "it above); choose another Python version, or build on that platform"
        ) from None


def check_wheels(wheels: Path, target: str) -> None:
    allowed = {*TARGETS.get(target, [target]), "any"}
    for wheel in sorted(wheels.glob("*.whl")):
        tags = set(wheel_platform(wheel.name).split("."))  # a wheel may carry several
        if not tags & allowed:
            raise BundleError(f"{wheel.name} is not a {target} or pure-Python wheel")


def write_installer(bundle: Path, target: str, python: str) -> None:
    """The platform's installer and its README.txt, with its platform and Python named."""
    text = (HERE / "README.txt").read_text() if target != "win_amd64" else ""
    if target == "win_amd64":
        script = (HERE / "install.ps1").read_text().replace("{python}", python)
        (bundle / "install.ps1").write_text(script)
        shutil.copy(HERE / "install.bat", bundle / "install.bat")
        text = (HERE / "README-windows.txt").read_text()
    else:
        shutil.copy(HERE / "install.sh", bundle / "install.sh")
    header = f"Platform: {target}; Python {python} (install that Python first).\n\n"
    (bundle / "README.txt").write_text(header + text.replace("{python}", python))


def archive(bundle: Path, target: str) -> Path:
    """One file to carry: a zip for Windows, a tar.gz elsewhere."""
    if target == "win_amd64":
        path = bundle.with_name(bundle.name + ".zip")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
            for file in sorted(bundle.rglob("*")):
                zipped.write(file, file.relative_to(bundle.parent))
        return path
    path = bundle.with_name(bundle.name + ".tar.gz")
    with tarfile.open(path, "w:gz") as tarred:
        tarred.add(bundle, arcname=bundle.name)
    return path


def build(target: str, python: str, bundle: Path | None) -> Path:
    native = target == "native"
    name = native_platform() if native else target
    if not native and target not in TARGETS:
        raise BundleError(f"unknown platform {target!r}: one of native, {', '.join(TARGETS)}")
    if native:
        python = platform.python_version().rsplit(".", 1)[0]
    bundle = bundle or REPOSITORY / "dist" / f"anon-pipeline-hospital-{name}-py{python}"
    shutil.rmtree(bundle, ignore_errors=True)
    wheels = bundle / "wheels"
    wheels.mkdir(parents=True)
    if native:  # this machine's own wheels, built or taken from its index
        pip("wheel", "--quiet", "--wheel-dir", str(wheels), str(REPOSITORY))
    else:
        pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(REPOSITORY))
        download_wheels(wheels, target, python)
        check_wheels(wheels, target)
    write_installer(bundle, "native" if native else target, python)
    return archive(bundle, target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--platform", default="native", help="native (default), " + ", ".join(TARGETS)
    )
    parser.add_argument("--python", default="3.11", help="the hospital's Python (default 3.11)")
    parser.add_argument("--dir", type=Path, default=None, help="the bundle's folder")
    args = parser.parse_args()
    try:
        path = build(args.platform, args.python, args.dir)
    except BundleError as error:
        print(f"hospital-bundle: {error}", file=sys.stderr)
        return 1
    print(f"bundle: {path} (carry it to the hospital; its README.txt says how to install)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
