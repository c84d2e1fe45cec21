-- The second example: gradient-boosted trees on the three-cultivar wine data (178 wines, 13
-- chemical measurements). It checks the data against a schema inferred from the training split,
-- sweeps XGBoost's depth and learning rate on a validation split, evaluates the winner on the test
-- split with multiclass metrics, and gates it.
--
--   trellis run scripts/examples/wine.lua
--   trellis run scripts/examples/wine.lua -j 2 --set min_accuracy=0.95
--   trellis runs show latest            # statistics, anomalies, the trials, the winner's metrics
--   trellis runs compare latest         # the trials side by side

pipeline { name = "wine", description = "XGBoost on three wine cultivars: validate, sweep, evaluate, gate" }

local P = params {
  data = path "data/wine.csv", -- relative to this script's folder
  seed = 42,
  rounds = 60,
  min_accuracy = 0.9,
  min_macro_f1 = 0.9,
}

local data = stage "data.csv" { id = "load", path = P.data, types = { "cultivar:int" } }

local split = stage "data.split" { table = data.table, test_fraction = 0.25, seed = P.seed, stratify = "cultivar" }
local holdout = stage "data.split" {
  id = "holdout", table = split.train, test_fraction = 0.25, seed = P.seed + 1, stratify = "cultivar",
}

-- The schema is inferred from the training rows; the test rows must fit it before the model is
-- scored on them. A missing column, a column of another type or too many missing values stop the
-- pipeline here. 133 training wines do not span every measurement's real range, so a value
-- outside it is a warning (listed by `trellis runs show`), not a failure.
local checked = stage "data.validate" {
  id = "validate",
  table = split.test,
  reference = split.train,
  severity = { out_of_range = "warn" },
}

local tuned = sweep {
  id = "tune",
  method = "grid",
  space = { max_depth = { 2, 4 }, learning_rate = { 0.1, 0.3 } },
  metric = "log_loss",
  direction = "minimize",
  trial = function(p)
    local model = stage "train.xgboost" {
      id = "train",
      train = holdout.train,
      valid = holdout.test,
      target = "cultivar",
      objective = "multi:softprob",
      num_boost_round = P.rounds,
      early_stopping_rounds = 10,
      max_depth = p.max_depth,
      learning_rate = p.learning_rate,
      seed = P.seed,
      nthread = 1,
    }
    local score = stage "train.evaluate" { model = model.model, data = holdout.test, target = "cultivar" }
    return { model = model.model, metrics = score.metrics }
  end,
}

local evaluation = stage "train.evaluate" { id = "evaluate", model = tuned.model, data = checked.table, target = "cultivar" }

stage "govern.gate" {
  metrics = evaluation.metrics,
  rules = { "accuracy >= " .. P.min_accuracy, "f1_macro >= " .. P.min_macro_f1 },
}
