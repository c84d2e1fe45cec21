-- The quickstart: read the Wisconsin breast cancer data, split it, train a logistic regression,
-- evaluate it, gate it on its AUC, export and register it, evaluate the current champion on the
-- same test data, promote the new model to breast_cancer@champion through the alias's policy, and
-- check the test data for drift against the training data.
--
--   trellis models policy set breast_cancer@champion scripts/examples/quickstart-policy.json
--   trellis run scripts/examples/quickstart.lua
--   trellis models card breast_cancer@champion
--   trellis run scripts/examples/quickstart.lua --set min_auc=0.99 --set seed=7

pipeline {
  name = "quickstart",
  description = "breast cancer classifier, end to end",
  model_card = {
    intended_use = "A worked example of trellis: tells malignant from benign breast masses from 30 "
      .. "measurements of a fine-needle aspirate image. Not for clinical use.",
    limitations = "Trained on 569 cases from one hospital (Wisconsin, 1995); a linear model on "
      .. "features it was not validated beyond. Its AUC on a quarter held out says little about "
      .. "another population or imaging set-up.",
  },
}

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

local export = stage "deploy.export" {
  model = model.model,
  metrics = evaluation.metrics,
  registry = P.registry,
  name = "breast_cancer",
  description = "logistic regression on the Wisconsin diagnostic data",
  after = gate, -- only a model that passed the gate is exported
}

-- The current champion on the same test data, for the policy's "beat the champion" rule. On the
-- first run there is none yet, and the new model stands in for it.
local champion = registered_model { "breast_cancer@champion", id = "champion", otherwise = model.model }
local champion_score = stage "train.evaluate" {
  id = "evaluate_champion",
  model = champion.model,
  data = split.test,
  target = "malignant",
}

-- Moves breast_cancer@champion to the version just registered if it passes the alias's policy
-- (trellis models policy show); a refusal fails the stage and names the rule.
stage "govern.promote" {
  model = model.model,
  name = "breast_cancer",
  alias = "champion",
  after = { export, champion_score }, -- it reads their records: the registration, the evaluations
}

-- Each column is tested with what its type and size call for (KS or chi-squared on a small
-- sample, Wasserstein or Jensen-Shannon on a large one); the dataset drifts when half the
-- columns do.
stage "monitor.drift" {
  reference = split.train,
  current = split.test,
  drift_share = 0.5,
}
