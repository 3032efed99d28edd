"""Same inputs, same outputs: run two revisions of the engine on the same synthetic CDs
and compare every file they write, byte for byte. For a change that must not change
what is released (a move, a refactor, a speed-up):

    make same-outputs BASE=<revision>        # default: the last commit (HEAD)

The inputs (two synthetic CDs and the hostile CD) are written once, by this tree's
builders, and both revisions read them: the comparison is of the engine, not of the
builders. Each revision runs the CLI's `anonymize` (both stages) and `blacklist` (the
hospital's stage-1 package) on each CD, with the same key. Compared, by relative path
(hashed UIDs only) and SHA-256: every DICOM file written, released, stage 1's in the
secure zone and the package's; not the tables, whose timestamps differ from run to
run. Exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from anon_pipeline.synthetic.cds import write_demo_batches, write_hostile_cd

REPO = Path(__file__).resolve().parents[1]
KEY_HEX = bytes(range(32)).hex()


def write_inputs(folder: Path) -> list[Path]:
    write_demo_batches(folder, batches=2, patients=2, slices=4)
    write_hostile_cd(folder / "hostile")
    return sorted(path for path in folder.iterdir() if path.is_dir())


def run_revision(tree: Path, cds: list[Path], out: Path, key_file: Path) -> None:
    """The CLI of the code in `tree` (imported from there, not from the installed
    package) on every CD, both ways."""
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    imported = subprocess.run(
        [sys.executable, "-c", "import anon_pipeline; print(anon_pipeline.__file__)"],
        cwd=tree,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not Path(imported).is_relative_to(tree):  # the installed package would win
        raise SystemExit(f"{tree}: the CLI would import {imported}, not this revision")
    for cd in cds:
        for command in (
            ["anonymize", str(cd), "--out", str(out / f"anonymize-{cd.name}")],
            ["blacklist", str(cd), str(out / f"package-{cd.name}")],
        ):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "anon_pipeline.cli",
                    *command,
                    "--quiet",
                    "--key-file",
                    str(key_file),
                ],
                cwd=tree,
                env=environment,
                check=True,
                stdout=subprocess.DEVNULL,
            )


def digests(out: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every DICOM file written (under a dicom/ folder)."""
    return {
        str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file() and "dicom" in path.relative_to(out).parts
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD", help="the revision to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="same-outputs-") as temporary:
        work = Path(temporary)
        base_tree = work / "base"
        subprocess.run(
            [
                "git",
                "-C",
                str(REPO),
                "worktree",
                "add",
                "--detach",
                "--quiet",
                str(base_tree),
                args.base,
            ],
            check=True,
        )
        try:
            cds = write_inputs(work / "in")
            key_file = work / "key"
            key_file.write_text(KEY_HEX + "\n")
            key_file.chmod(0o600)
            found = {}
            for name, tree in (("base", base_tree), ("this tree", REPO)):
                out = work / f"out-{name.replace(' ', '-')}"
                run_revision(tree, cds, out, key_file)
                found[name] = digests(out)
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(base_tree)],
                check=False,
            )
    base, this = found["base"], found["this tree"]
    differing = sorted(
        name for name in base.keys() | this.keys() if base.get(name) != this.get(name)
    )
    print(
        f"{len(this)} output files of this tree, {len(base)} of {args.base}: "
        f"{len(differing)} differ"
    )
    for name in differing[:20]:
        print(f"  {name}: {base.get(name, 'missing')[:12]} -> {this.get(name, 'missing')[:12]}")
    return 1 if differing or not this else 0


if __name__ == "__main__":
    sys.exit(main())
