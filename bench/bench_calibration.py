"""The false-alarm rate of the shipped rule's scan on stationary traffic, per alpha and rate.

Simulates ``--keys`` keys for ``--weeks`` weeks at each negative rate (stories per 15-min
period) with no surge at all, and counts the incidents the scan would open at each alpha
(``alerting.tools.calibrate``). The shipped ``alpha`` is the largest one whose worst rate is
at most one false alarm per 100 key-weeks (docs/alerting.md).

    .venv/bin/python bench/bench_calibration.py [--keys 100] [--weeks 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

from alerting.detect.rules import load_rules
from alerting.tools.calibrate import calibrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--weeks", type=float, default=10.0)
    parser.add_argument("--target", type=float, default=1.0, help="per 100 key-weeks")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    params = load_rules().rules[0].params("ticker")
    started = time.perf_counter()
    result = calibrate(params, keys=args.keys, weeks=args.weeks)
    seconds = time.perf_counter() - started
    chosen = result.largest_alpha(args.target)
    if args.json:
        print(json.dumps({
            "key_weeks_per_rate": result.key_weeks, "shipped_alpha": params.alpha,
            "largest_alpha_for_target": chosen, "target_per_100_key_weeks": args.target,
            "per_100_key_weeks": {f"{a:g}": {f"{r:g}": v for r, v in row.items()}
                                  for a, row in result.per_100_key_weeks.items()},
        }))  # fmt: skip
        return
    print(f"false alarms per 100 key-weeks of stationary traffic ({result.key_weeks:g} key-weeks "
          f"per rate, windows {list(params.windows_s)} s, min_count {params.min_count}, "
          f"min_ratio {params.min_ratio}; {seconds:.1f} s)")  # fmt: skip
    print("alpha     " + "".join(f"{f'{r:g}/15min':>12}" for r in result.rates) + f"{'worst':>10}")
    for alpha in result.alphas:
        row = result.per_100_key_weeks[alpha]
        mark = "  <- shipped" if alpha == params.alpha else ""
        print(f"{alpha:<10.0e}" + "".join(f"{row[r]:>12.2f}" for r in result.rates)
              + f"{result.worst(alpha):>10.2f}{mark}")  # fmt: skip
    print(f"largest alpha with at most {args.target:g} per 100 key-weeks: {chosen}")


if __name__ == "__main__":
    main()
