"""Benchmark: the released index at 25 M instances (the project's whole size).

    python benchmarks/released_index.py [--rows 25000000] [--batch-files 1300]

Fills the index with synthetic rows shaped like real ones (hashed UIDs of 40-odd
digits, ~1,250 instances per batch, 20,000 batches), then measures, each in a fresh
connection as a run makes it: which batch released one instance (the question an
operator asks), a batch's early check (1,300 instances, half of them already
released), and a release's guarded insert of 1,300 new instances. Its size on disk is
printed too. A comparison: the same lookup without the primary key (a scan).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from run import machine_description, publish, two_column_table

from anon_pipeline.engine.batch import released_index

ROUNDS = 7
FILL = """
INSERT INTO released
SELECT '2.25.' || (hash(i)::UHUGEINT * 1000003 + i)::VARCHAR,
       '2.25.' || hash(i // 1250)::VARCHAR, '2.25.' || hash(i // 300)::VARCHAR,
       'cd_' || lpad((i // 1250)::VARCHAR, 5, '0'), md5(i::VARCHAR)[:32], now()::TIMESTAMP
FROM range(?) t(i)
"""


def timed(function, rounds: int = ROUNDS) -> float:
    """Median seconds of `rounds` calls."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def shown(value: str | float) -> str:
    return value if isinstance(value, str) else f"{value * 1e3:.1f} ms"


def output_name(instance: str) -> str:
    return f"2.25.1/2.25.2/{instance}.dcm"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=25_000_000, help="released instances")
    parser.add_argument("--batch-files", type=int, default=1300, help="instances per batch")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="released-index-") as folder:
        path = Path(folder) / "released_index.duckdb"
        started = time.perf_counter()
        with released_index.connected(path) as connection:
            connection.execute(FILL, [args.rows])
        fill_seconds = time.perf_counter() - started
        size = path.stat().st_size
        wanted = args.batch_files // 2
        with duckdb.connect(str(path), read_only=True) as connection:
            sampling = f"USING SAMPLE reservoir({wanted} ROWS) REPEATABLE (1)"
            rows = connection.execute(f"SELECT instance FROM released {sampling}").fetchall()
        sample = [row[0] for row in rows]
        known = sample[0]
        assert released_index.released_by(path, known)
        lookup = timed(lambda: released_index.released_by(path, known))
        names = [output_name(i) for i in sample]
        names += [output_name(f"2.25.9{n:038d}") for n in range(args.batch_files - len(names))]
        claims = {}

        def early_check() -> None:
            claims.update(released_index.claims(path, names, "cd_new"))

        early = timed(early_check)
        assert len(claims) == len(sample)
        new = [(name, "0" * 32) for name in names if name not in claims]
        guard = timed(lambda: released_index.record_release(path, "cd_new", new), rounds=3)
        with duckdb.connect(str(path)) as connection:
            connection.execute("CREATE TABLE scan AS SELECT * FROM released")
        with duckdb.connect(str(path), read_only=True) as connection:
            query = "SELECT batch FROM scan WHERE instance = ?"
            scan = timed(lambda: connection.execute(query, [known]).fetchall(), rounds=3)

    header = (
        f"Released index: {time.strftime('%Y-%m-%d')}, {machine_description()}, "
        f"{args.rows:,} released instances, `make bench-index`"
    )
    rows = [
        ("size on disk (DuckDB file, primary key included)", f"{size / 1e9:.2f} GB"),
        ("filling it (one INSERT, benchmark only)", f"{fill_seconds:.0f} s"),
        ("which batch released instance X (open, look up, close)", lookup),
        (f"a batch's early check ({args.batch_files:,} instances, half released)", early),
        (f"a release's guarded insert ({len(new):,} new instances)", guard),
        ("the same lookup without the key (a scan, connection open)", scan),
    ]
    report = two_column_table(
        ("measured", "median"), [(what, shown(value)) for what, value in rows]
    )
    publish(header, report, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
