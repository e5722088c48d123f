"""make bench: every benchmark, or the groups named on the command line.

python -m benchmarks [startup] [threads] [training] [knn] [features] [sweep] [asha] [memory]
"""

import sys

from benchmarks import harness

GROUPS = ("startup", "threads", "training", "knn", "features", "sweep", "asha", "memory")


def main(argv):
    groups = argv or list(GROUPS)
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise SystemExit(f"unknown benchmark group(s) {unknown}; valid: {', '.join(GROUPS)}")
    info = harness.machine()
    print("machine: " + "  ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    verdicts = []
    for group in groups:
        module = __import__(f"benchmarks.bench_{group}", fromlist=["run"])
        print(f"\n== {group}", flush=True)
        results = module.run()
        print(f"saved {harness.save(group, results, info)}", flush=True)
        verdicts += [
            (result["name"] + suffix, result[key])
            for result in results
            for key, suffix in (("met", ""), ("memory_met", ": peak extra memory"))
            if key in result
        ]
    if verdicts:
        print("\n== targets")
        for name, met in verdicts:
            print(f"{harness.verdict(met):<7} {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
