-- The quickstart: read the Wisconsin breast cancer data, split it, train a logistic regression,
-- evaluate it, gate it on its AUC, export it to a local model registry, and check the test data
-- for drift against the training data.
--
--   trellis run scripts/examples/quickstart.lua
--   trellis run scripts/examples/quickstart.lua --set min_auc=0.99 --set seed=7

pipeline { name = "quickstart", description = "breast cancer classifier, end to end" }

local P = params {
  data = path "data/breast_cancer.csv", -- relative to this script's folder
  registry = ".trellis/registry",       -- relative to where trellis runs
  seed = 42,
  test_fraction = 0.25,
  l2 = 1.0,
  min_auc = 0.95,
}

local data = stage "data.csv" { id = "load", path = P.data }

local split = stage "data.split" {
  table = data.table,
  test_fraction = P.test_fraction,
  seed = P.seed,
  stratify = "malignant",
}

local model = stage "train.linear" {
  id = "train",
  train = split.train,
  target = "malignant",
  objective = "logistic",
  l2 = P.l2,
}

local evaluation = stage "train.evaluate" {
  model = model.model,
  data = split.test,
  target = "malignant",
}

local gate = stage "govern.gate" {
  metrics = evaluation.metrics,
  rules = { "roc_auc >= " .. P.min_auc, "accuracy >= 0.9" },
}

stage "deploy.export" {
  model = model.model,
  metrics = evaluation.metrics,
  registry = P.registry,
  name = "breast_cancer",
  description = "logistic regression on the Wisconsin diagnostic data",
  after = gate, -- only a model that passed the gate is exported
}

stage "monitor.drift" {
  reference = split.train,
  current = split.test,
  warn = 0.1,
  alert = 0.25,
}
