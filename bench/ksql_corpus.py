"""The ksqlDB corpus: how many of the statements drawn from ksqlDB's documentation the built-in engine supports
(each checked against a result computed independently from the input records), and which it refuses.

    uv run python bench/ksql_corpus.py [--verbose]

Runs without a broker: persistent queries on Kafka's TopologyTestDriver with the real runner, other statements on the
engine against an in-memory cluster (see tests/streams/ksql_corpus.py).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="list every case")
    args = parser.parse_args()
    subprocess.run(["bash", str(REPO / "streams" / "build.sh")], check=True, stdout=subprocess.DEVNULL)
    from tests.streams.ksql_corpus import evaluate, share

    started = time.monotonic()
    outcomes = evaluate()
    elapsed = time.monotonic() - started
    supported, total = share(outcomes)
    kinds = Counter(o.case.kind for o in outcomes)
    for o in outcomes:
        if args.verbose or not (o.ok and o.supported):
            mark = "ok " if o.ok and o.supported else "REFUSED" if o.case.unsupported else "WRONG"
            print(f"{mark:<8} {o.case.id:<32} {o.case.doc}")
            if o.detail and (args.verbose or not o.ok):
                print(f"         {o.detail[:300]}")
    wrong = [o for o in outcomes if not o.ok]
    print(
        f"\n{total} statements ({kinds['query']} persistent queries simulated, {kinds['statement']} statements, "
        f"{kinds['select']} pull/push/print queries, {kinds['error']} that ksqlDB refuses too) in {elapsed:.1f} s"
    )
    print(f"supported: {supported}/{total} = {supported / total:.1%} (goal >= 85%)")
    print(f"refused, naming the construct: {sum(1 for o in outcomes if o.case.unsupported and o.ok)}")
    print(f"wrong results or unclear refusals: {len(wrong)}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
