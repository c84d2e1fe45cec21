#!/usr/bin/python3
"""Reference drift statistics from scipy (Debian python3-scipy), for monitor.drift's parity test.

Reads a JSON list of cases from the file named on the command line; each case has a `method`
and the two samples. Prints a JSON list with, per case, what scipy says:
  ks            scipy.stats.ks_2samp (two-sided, method 'auto'): statistic, p_value
  chisquare     scipy.stats.chisquare of the current category counts against the reference's
                proportions scaled to the current count: statistic, p_value
  wasserstein   scipy.stats.wasserstein_distance / max(numpy.std(reference), 0.001): statistic
  jensenshannon scipy.spatial.distance.jensenshannon of the category shares: statistic
Nothing here is trellis code: it is the yardstick.
"""
import json
import sys
from collections import Counter

import numpy as np
from scipy import stats
from scipy.spatial import distance


def categories(reference, current):
    keys = sorted(set(reference) | set(current))
    ref, cur = Counter(reference), Counter(current)
    return keys, np.array([ref[k] for k in keys], float), np.array([cur[k] for k in keys], float)


def evaluate(case):
    method, reference, current = case["method"], case["reference"], case["current"]
    if method == "ks":
        result = stats.ks_2samp(np.array(reference, float), np.array(current, float))
        return {"statistic": float(result.statistic), "p_value": float(result.pvalue)}
    if method == "chisquare":
        _, ref, cur = categories(reference, current)
        expected = ref * (cur.sum() / ref.sum())
        result = stats.chisquare(cur, expected)
        return {"statistic": float(result.statistic), "p_value": float(result.pvalue)}
    if method == "wasserstein":
        ref, cur = np.array(reference, float), np.array(current, float)
        return {"statistic": float(stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001))}
    if method == "jensenshannon":
        _, ref, cur = categories(reference, current)
        return {"statistic": float(distance.jensenshannon(ref / len(reference), cur / len(current)))}
    raise ValueError("unknown method " + method)


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    json.dump([evaluate(case) for case in cases], sys.stdout)


if __name__ == "__main__":
    main()
