#!/usr/bin/python3
"""Reference for train.xgboost's tests: python xgboost (Debian python3-xgboost 1.7.4) on the same
CSV with the same parameters, and python loading the model bytes trellis saved.

    /usr/bin/python3 xgboost_reference.py SPEC.json OUT.json

SPEC is a JSON object:
  csv                    the data file (header row; an empty cell is a missing value)
  target                 the label column
  features               feature columns (default: every other column, in file order)
  params                 XGBoost parameters, given to xgboost.train as they are
  num_boost_round        rounds (default 10)
  valid_every            k > 0: rows i with i % k == 0 (0-based) are the validation set, the others
                         the training set; 0 (default): every row trains, no validation set
  early_stopping_rounds  as xgboost.train's (needs valid_every)
  trellis_model          optional: a model file trellis wrote; it is loaded with
                         xgboost.Booster(model_file=...) and predicts on every row too

Class objectives (binary:*, multi:*) get class indices: the distinct labels sorted numerically
when they are all integers, else as strings (byte order), as trellis.class_labels() sorts them.
Features are read as float64 (an empty cell as NaN), as a numpy user reads such a file.

OUT gets: predictions (every row of the CSV, in order; a list per row for multi:softprob),
best_iteration and best_score (with early stopping; predictions then use iteration_range
(0, best_iteration + 1), as xgboost's scikit-learn wrapper does), evals_result, and
trellis_predictions (from trellis_model, predicted the same way).
"""
import csv
import json
import sys

import numpy as np
import xgboost as xgb


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def as_float(text):
    return float("nan") if text == "" else float(text)


def class_order(labels):
    distinct = set(labels)
    try:
        return sorted(distinct, key=int)
    except ValueError:
        return sorted(distinct, key=lambda s: s.encode())


def predict(booster, matrix):
    best = booster.attr("best_iteration")
    iteration_range = (0, int(best) + 1) if best is not None else (0, 0)
    return booster.predict(matrix, iteration_range=iteration_range).tolist()


def main():
    spec = json.load(open(sys.argv[1]))
    header, rows = read_csv(spec["csv"])
    target = spec["target"]
    features = spec.get("features") or [name for name in header if name != target]
    columns = [header.index(name) for name in features]
    X = np.array([[as_float(row[j]) for j in columns] for row in rows], dtype=np.float64)
    labels_text = [row[header.index(target)] for row in rows]
    params = spec.get("params", {})
    objective = params.get("objective", "reg:squarederror")
    if objective.startswith("binary:") or objective.startswith("multi:"):
        order = class_order(labels_text)
        y = np.array([order.index(label) for label in labels_text], dtype=np.float64)
    else:
        y = np.array([float(label) for label in labels_text], dtype=np.float64)

    k = spec.get("valid_every", 0)
    everything = np.arange(len(rows))
    valid_rows = everything[everything % k == 0] if k else np.array([], dtype=int)
    train_rows = everything[everything % k != 0] if k else everything
    dtrain = xgb.DMatrix(X[train_rows], label=y[train_rows], feature_names=features)
    evals = [(dtrain, "train")]
    if k:
        evals.append((xgb.DMatrix(X[valid_rows], label=y[valid_rows], feature_names=features), "valid"))
    evals_result = {}
    booster = xgb.train(params, dtrain, num_boost_round=spec.get("num_boost_round", 10), evals=evals,
                        early_stopping_rounds=spec.get("early_stopping_rounds"), evals_result=evals_result,
                        verbose_eval=False)
    everything_matrix = xgb.DMatrix(X, feature_names=features)
    out = {"predictions": predict(booster, everything_matrix), "evals_result": evals_result,
           "num_boosted_rounds": booster.num_boosted_rounds(), "xgboost_version": xgb.__version__}
    if booster.attr("best_iteration") is not None:
        out["best_iteration"] = int(booster.attr("best_iteration"))
        out["best_score"] = booster.attr("best_score")
    if spec.get("trellis_model"):
        loaded = xgb.Booster(model_file=spec["trellis_model"])
        out["trellis_predictions"] = predict(loaded, everything_matrix)
        out["trellis_feature_names"] = loaded.feature_names
        out["trellis_attributes"] = loaded.attributes()
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
