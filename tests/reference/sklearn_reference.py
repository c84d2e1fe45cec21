#!/usr/bin/python3
"""scikit-learn reference for tests/plugin_tests/test_sklearn_parity.cpp.

  sklearn_reference.py digits OUT.csv
      writes sklearn's 8x8 digits (1797 rows, pixel_0 .. pixel_63, int `digit`) as CSV.
  sklearn_reference.py fit OBJECTIVE L2 TARGET TRAIN.csv TEST.csv PREDICTIONS.csv
      fits scikit-learn's model on TRAIN.csv the way train.linear defines it, and prints one JSON
      object: the standardisation, the coefficients, scikit-learn's metrics of the trellis
      predictions in PREDICTIONS.csv (the same predictions train.evaluate scored), and its metrics
      of its own model's predictions on TEST.csv. Metric names are train.evaluate's.

The mapping (see plugins/train_linear/README.md): features standardised by StandardScaler (mean
and population std of the training rows, constant columns kept with scale 1); ridge is
Ridge(alpha = l2); logistic and multinomial are LogisticRegression(C = 1 / l2), the intercept
unpenalised. The logistic reference uses the newton-cg solver: lbfgs, sklearn's default, stops on
scipy's relative change of the loss and leaves coefficients about 1e-3 from the optimum on digits.
Run with Debian's /usr/bin/python3 (python3-sklearn 1.2).
"""
import csv
import json
import sys
import warnings

import numpy as np
from sklearn import metrics
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def columns_of(path, target):
    header, rows = read_csv(path)
    t = header.index(target)
    features = [name for i, name in enumerate(header) if i != t]
    x = np.array([[float(v) for i, v in enumerate(row) if i != t] for row in rows])
    y = [row[t] for row in rows]
    return features, x, y


def class_order(labels):
    """The class order of trellis::class_labels(): numeric for int labels, bytes for strings."""
    distinct = set(labels)
    try:
        return [str(v) for v in sorted(int(v) for v in distinct)]
    except ValueError:
        return sorted(distinct, key=lambda s: s.encode())


def metric_name(label):
    return "".join(c if c.isascii() and (c.isalnum() or c in "_.-") else "_" for c in label) or "_"


def classification_metrics(y, proba, classes, threshold=0.5):
    """train.evaluate's names; y and classes as text, proba rows in class order."""
    y = np.array(y)
    classes = list(classes)
    if len(classes) == 2:
        predicted = np.where(proba[:, 1] >= threshold, classes[1], classes[0])
    else:
        predicted = np.array(classes)[np.argmax(proba, axis=1)]
    out = {
        "accuracy": metrics.accuracy_score(y, predicted),
        "f1_macro": metrics.f1_score(y, predicted, average="macro", zero_division=0),
        "f1_weighted": metrics.f1_score(y, predicted, average="weighted", zero_division=0),
        "log_loss": metrics.log_loss(y, proba, labels=classes, eps=1e-15),
    }
    precision = metrics.precision_score(y, predicted, labels=classes, average=None, zero_division=0)
    recall = metrics.recall_score(y, predicted, labels=classes, average=None, zero_division=0)
    f1 = metrics.f1_score(y, predicted, labels=classes, average=None, zero_division=0)
    for k, label in enumerate(classes):
        out["precision/" + metric_name(label)] = precision[k]
        out["recall/" + metric_name(label)] = recall[k]
        out["f1/" + metric_name(label)] = f1[k]
    if len(classes) == 2:
        positive = y == classes[1]
        out["roc_auc"] = metrics.roc_auc_score(positive, proba[:, 1])
        out["precision"], out["recall"], out["f1"] = precision[1], recall[1], f1[1]
    else:
        out["roc_auc"] = metrics.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
    return out


def binary_metrics(y, p, threshold=0.5):
    """train.evaluate's metrics of a 0/1 model's 'probability' column."""
    y = np.array([int(float(v)) for v in y])
    predicted = (p >= threshold).astype(int)
    return {
        "accuracy": metrics.accuracy_score(y, predicted),
        "precision": metrics.precision_score(y, predicted, zero_division=0),
        "recall": metrics.recall_score(y, predicted, zero_division=0),
        "f1": metrics.f1_score(y, predicted, zero_division=0),
        "log_loss": metrics.log_loss(y, p, labels=[0, 1], eps=1e-15),
        "roc_auc": metrics.roc_auc_score(y, p),
    }


def regression_metrics(y, predicted):
    y = np.array([float(v) for v in y])
    return {
        "rmse": float(np.sqrt(metrics.mean_squared_error(y, predicted))),
        "mae": metrics.mean_absolute_error(y, predicted),
        "r2": metrics.r2_score(y, predicted),
    }


def trellis_prediction_metrics(path, y_test, objective, classes):
    header, rows = read_csv(path)
    table = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    if objective == "regression":
        return regression_metrics(y_test, np.array([float(v) for v in table["prediction"]]))
    per_class = ["probability:" + c for c in classes]
    if all(name in table for name in per_class):
        proba = np.array([[float(v) for v in table[name]] for name in per_class]).T
        return classification_metrics(y_test, proba, classes)
    return binary_metrics(y_test, np.array([float(v) for v in table["probability"]]))


def fit(objective, l2, target, train_path, test_path, predictions_path):
    features, x_train, y_train = columns_of(train_path, target)
    _, x_test, y_test = columns_of(test_path, target)
    scaler = StandardScaler().fit(x_train)
    z_train, z_test = scaler.transform(x_train), scaler.transform(x_test)
    out = {"features": features, "means": scaler.mean_.tolist(), "scales": scaler.scale_.tolist()}
    if objective == "regression":
        model = Ridge(alpha=l2, fit_intercept=True, solver="cholesky").fit(z_train, [float(v) for v in y_train])
        out["weights"] = [model.coef_.tolist()]
        out["intercepts"] = [float(model.intercept_)]
        out["sklearn_metrics"] = regression_metrics(y_test, model.predict(z_test))
        classes = []
    else:
        classes = class_order(y_train)
        multi_class = "multinomial" if objective == "multinomial" else "auto"
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a reference that did not converge is no reference
            model = LogisticRegression(C=1.0 / l2, solver="newton-cg", tol=1e-8, max_iter=1000,
                                       multi_class=multi_class).fit(z_train, y_train)
        # sklearn's classes_ sort like class_order() for these labels; check rather than trust.
        index = [list(model.classes_).index(c) for c in classes]
        out["weights"] = model.coef_.tolist() if model.coef_.shape[0] == 1 else model.coef_[index].tolist()
        out["intercepts"] = model.intercept_.tolist() if len(model.intercept_) == 1 else model.intercept_[index].tolist()
        proba = model.predict_proba(z_test)[:, index]
        if classes == ["0", "1"] and objective == "logistic":
            out["sklearn_metrics"] = binary_metrics(y_test, proba[:, 1])
        else:
            out["sklearn_metrics"] = classification_metrics(y_test, proba, classes)
    out["classes"] = classes
    out["metrics_of_trellis_predictions"] = trellis_prediction_metrics(predictions_path, y_test, objective, classes)
    return out


def main(argv):
    if len(argv) == 3 and argv[1] == "digits":
        from sklearn.datasets import load_digits
        digits = load_digits()
        with open(argv[2], "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["pixel_%d" % j for j in range(64)] + ["digit"])
            for row, label in zip(digits.data.astype(int), digits.target):
                writer.writerow(list(row) + [int(label)])
        return 0
    if len(argv) == 8 and argv[1] == "fit":
        result = fit(argv[2], float(argv[3]), argv[4], argv[5], argv[6], argv[7])
        print(json.dumps(result, default=float))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
