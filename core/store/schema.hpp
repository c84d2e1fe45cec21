// The metadata store's schema, one migration per version. The store follows ML Metadata's model:
// artifacts and executions joined by events (lineage), inside runs (MLMD's contexts), with params,
// metrics (per step) and tags for tracking. PRAGMA user_version holds the version; every earlier
// version migrates forward step by step, each step in one transaction.
//
// Conventions: times are Unix seconds (REAL, UTC); digests are lowercase hex SHA-256 of an
// artifact's serialised bytes; JSON columns hold canonical JSON (object keys sorted).
#pragma once

#include <string_view>

namespace trellis::store {

// Version 1: runs, executions, artifacts, events, params, metrics, tags.
inline constexpr std::string_view schema_v1 = R"SQL(
CREATE TABLE runs (
  id              TEXT PRIMARY KEY,          -- e.g. 20261123-170500-ab12
  pipeline        TEXT NOT NULL,             -- the pipeline's name
  script          TEXT NOT NULL,             -- absolute path of the script
  overrides       TEXT NOT NULL DEFAULT '{}',-- JSON object of --set overrides, so --resume can redo them
  params          TEXT NOT NULL DEFAULT '{}',-- JSON object of the resolved pipeline params
  status          TEXT NOT NULL,             -- running | succeeded | failed | cancelled | interrupted
  message         TEXT,                      -- why it did not succeed
  started_at      REAL NOT NULL,
  ended_at        REAL,
  host            TEXT NOT NULL,
  pid             INTEGER NOT NULL,
  user            TEXT,
  trellis_version TEXT NOT NULL
);
CREATE INDEX runs_by_pipeline ON runs(pipeline, started_at);

CREATE TABLE executions (
  id             INTEGER PRIMARY KEY,
  run_id         TEXT NOT NULL REFERENCES runs(id),
  stage_id       TEXT NOT NULL,              -- the stage's id in the script
  stage_name     TEXT NOT NULL,              -- e.g. data.csv; "lua" for an inline Lua stage
  plugin_name    TEXT,                       -- NULL for an inline Lua stage
  plugin_version TEXT,
  plugin_digest  TEXT,                       -- SHA-256 of the plugin's .so file
  config         TEXT NOT NULL DEFAULT '{}', -- canonical JSON of the config the stage ran with
  cache_key      TEXT,                       -- recorded even with cache = false (resume uses it); NULL when unknown
  status         TEXT NOT NULL,              -- running | succeeded | cached | failed | skipped | cancelled | interrupted
  cached_from    INTEGER REFERENCES executions(id), -- the execution whose outputs a cached one reused
  attempts       INTEGER NOT NULL DEFAULT 0,
  started_at     REAL,
  ended_at       REAL,
  host           TEXT,
  pid            INTEGER,
  error          TEXT
);
CREATE INDEX executions_by_run ON executions(run_id, stage_id);
CREATE INDEX executions_by_cache_key ON executions(cache_key, ended_at) WHERE status = 'succeeded';

CREATE TABLE artifacts (
  digest     TEXT PRIMARY KEY,               -- SHA-256 of the serialised bytes: the object's name
  type       TEXT NOT NULL,                  -- table | model | metrics | report | file | directory
  size       INTEGER NOT NULL,
  properties TEXT NOT NULL DEFAULT '{}',     -- JSON: rows and columns of a table, flavor of a model, ...
  created_at REAL NOT NULL,
  removed_at REAL                            -- set when trellis gc deleted the object
);

CREATE TABLE events (
  execution_id    INTEGER NOT NULL REFERENCES executions(id),
  kind            TEXT NOT NULL CHECK (kind IN ('input', 'output')),
  port            TEXT NOT NULL,
  artifact_digest TEXT NOT NULL REFERENCES artifacts(digest),
  PRIMARY KEY (execution_id, kind, port)
);
CREATE INDEX events_by_artifact ON events(artifact_digest, kind);

CREATE TABLE params (
  run_id       TEXT NOT NULL REFERENCES runs(id),
  execution_id INTEGER NOT NULL DEFAULT 0,   -- 0: a pipeline param; else logged by that execution
  key          TEXT NOT NULL,
  value        TEXT NOT NULL,                -- JSON
  PRIMARY KEY (run_id, execution_id, key)
);

CREATE TABLE metrics (
  run_id       TEXT NOT NULL REFERENCES runs(id),
  execution_id INTEGER NOT NULL,
  name         TEXT NOT NULL,
  step         INTEGER NOT NULL DEFAULT 0,
  value        REAL,                         -- NULL for NaN
  logged_at    REAL NOT NULL
);
CREATE INDEX metrics_by_run ON metrics(run_id, name, step);

CREATE TABLE tags (
  run_id TEXT NOT NULL REFERENCES runs(id),
  key    TEXT NOT NULL,
  value  TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
)SQL";

// Version 2: the model registry (what gc must keep, what `trellis lineage MODEL` starts from) and
// fingerprints of data files named in stage configs, so a re-run hashes only files that changed.
inline constexpr std::string_view schema_v2 = R"SQL(
CREATE TABLE models (
  name            TEXT NOT NULL,
  version         INTEGER NOT NULL,
  artifact_digest TEXT NOT NULL REFERENCES artifacts(digest),
  execution_id    INTEGER REFERENCES executions(id), -- the execution that registered it
  uri             TEXT,                              -- where the deploy stage put it, if anywhere
  registered_at   REAL NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE INDEX models_by_artifact ON models(artifact_digest);

CREATE TABLE file_fingerprints (
  path     TEXT PRIMARY KEY,                 -- absolute path
  size     INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  inode    INTEGER NOT NULL,
  digest   TEXT NOT NULL                     -- fast content hash (XXH3-128, hex)
);
)SQL";

// Version 3: hyperparameter sweeps. A sweep's trials are ordinary executions of the run (stage ids
// "<sweep>.<n>.<stage>"); these tables keep what executions do not: the sweep's definition, each
// trial's params, status and scored metrics, and which trial won. Written with the execution of
// the sweep's selector (a core-native stage whose stage_id is the sweep's id).
inline constexpr std::string_view schema_v3 = R"SQL(
CREATE TABLE sweeps (
  run_id       TEXT NOT NULL REFERENCES runs(id),
  sweep_id     TEXT NOT NULL,                -- the sweep's id in the script
  execution_id INTEGER REFERENCES executions(id), -- the selector's execution
  method       TEXT NOT NULL,                -- grid | random
  space        TEXT NOT NULL DEFAULT '{}',   -- JSON: the space as declared
  seed         INTEGER,                      -- random only
  metric       TEXT NOT NULL,                -- what chooses the winner
  direction    TEXT NOT NULL,                -- maximize | minimize
  score_port   TEXT NOT NULL,                -- the trials' output the metric is read from
  winner       INTEGER,                      -- the winning trial's number; NULL when none won
  message      TEXT,                         -- why none won, or which trials were left out
  PRIMARY KEY (run_id, sweep_id)
);

CREATE TABLE sweep_trials (
  run_id   TEXT NOT NULL,
  sweep_id TEXT NOT NULL,
  trial    INTEGER NOT NULL,                 -- 1, 2, ... in the order of the space
  params   TEXT NOT NULL DEFAULT '{}',       -- JSON object: the trial's params
  status   TEXT NOT NULL,                    -- succeeded | failed | skipped | cancelled
  value    REAL,                             -- the sweep's metric; NULL when missing or NaN
  metrics  TEXT NOT NULL DEFAULT '{}',       -- JSON object: every value of its scored output
  error    TEXT,                             -- why it did not succeed
  PRIMARY KEY (run_id, sweep_id, trial),
  FOREIGN KEY (run_id, sweep_id) REFERENCES sweeps(run_id, sweep_id)
);
)SQL";

// Version 4: the model registry grows into a registry with governance. Versions gain a status,
// who registered them, a description and the card fields the pipeline declared; aliases name a
// version (MLflow 2's champion/challenger); approvals, promotion policies and model signatures
// are what promotion checks; roles and tokens say who may do what; trusted keys say whose
// signatures count; and every change to any of it is appended to the audit log, a hash chain
// whose entries the store's Ed25519 key signs (govern/audit_log.hpp).
inline constexpr std::string_view schema_v4 = R"SQL(
ALTER TABLE models ADD COLUMN status TEXT NOT NULL DEFAULT 'active'; -- active | archived
ALTER TABLE models ADD COLUMN registered_by TEXT;                     -- identity of the run's user
ALTER TABLE models ADD COLUMN description TEXT;
ALTER TABLE models ADD COLUMN card TEXT NOT NULL DEFAULT '{}';        -- JSON: intended_use, limitations, ...

CREATE TABLE model_tags (
  name    TEXT NOT NULL,
  version INTEGER NOT NULL,
  key     TEXT NOT NULL,
  value   TEXT NOT NULL,
  PRIMARY KEY (name, version, key),
  FOREIGN KEY (name, version) REFERENCES models(name, version)
);

CREATE TABLE model_aliases (
  name    TEXT NOT NULL,
  alias   TEXT NOT NULL,                     -- champion, challenger, any name
  version INTEGER NOT NULL,
  set_by  TEXT NOT NULL,
  set_at  REAL NOT NULL,
  PRIMARY KEY (name, alias),
  FOREIGN KEY (name, version) REFERENCES models(name, version)
);

CREATE TABLE approvals (
  id       INTEGER PRIMARY KEY,
  name     TEXT NOT NULL,
  version  INTEGER NOT NULL,
  identity TEXT NOT NULL,
  role     TEXT NOT NULL,                    -- the identity's role when it decided
  decision TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
  reason   TEXT NOT NULL,
  at       REAL NOT NULL,
  FOREIGN KEY (name, version) REFERENCES models(name, version)
);
CREATE INDEX approvals_by_version ON approvals(name, version, identity, id);

CREATE TABLE promotion_policies (
  name   TEXT NOT NULL,
  alias  TEXT NOT NULL,
  policy TEXT NOT NULL,                      -- canonical JSON (docs/governance.md)
  set_by TEXT NOT NULL,
  set_at REAL NOT NULL,
  PRIMARY KEY (name, alias)
);

CREATE TABLE model_signatures (
  name       TEXT NOT NULL,
  version    INTEGER NOT NULL,
  key_id     TEXT NOT NULL,
  public_key TEXT NOT NULL,                  -- hex, 32 bytes
  sha256     TEXT NOT NULL,                  -- of the model artifact's bytes (its digest)
  signature  TEXT NOT NULL,                  -- hex Ed25519 over the sha256 as 64 hex characters
  signed_by  TEXT NOT NULL,
  signed_at  REAL NOT NULL,
  PRIMARY KEY (name, version, key_id),
  FOREIGN KEY (name, version) REFERENCES models(name, version)
);

CREATE TABLE roles (
  identity   TEXT PRIMARY KEY,               -- an OS user name, or a token's identity
  role       TEXT NOT NULL CHECK (role IN ('viewer', 'developer', 'approver', 'admin')),
  granted_by TEXT NOT NULL,
  granted_at REAL NOT NULL
);

CREATE TABLE tokens (
  id         TEXT PRIMARY KEY,               -- public part, shown in lists
  identity   TEXT NOT NULL,
  role       TEXT NOT NULL CHECK (role IN ('viewer', 'developer', 'approver', 'admin')),
  hash       TEXT NOT NULL UNIQUE,           -- SHA-256 of the whole token; the token is never stored
  created_by TEXT NOT NULL,
  created_at REAL NOT NULL,
  expires_at REAL NOT NULL,
  revoked_at REAL
);

CREATE TABLE trusted_keys (
  key_id     TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  public_key TEXT NOT NULL UNIQUE,           -- hex, 32 bytes
  added_by   TEXT NOT NULL,
  added_at   REAL NOT NULL
);

CREATE TABLE audit_log (
  seq        INTEGER PRIMARY KEY,            -- 1, 2, ... without gaps
  at         REAL NOT NULL,
  actor      TEXT NOT NULL,
  action     TEXT NOT NULL,                  -- e.g. model.register, alias.set, approval.approve
  object     TEXT NOT NULL,                  -- e.g. churn:3, churn@champion, token 1a2b, key 9f..
  before     TEXT NOT NULL DEFAULT 'null',   -- JSON
  after      TEXT NOT NULL DEFAULT 'null',   -- JSON
  prev_hash  TEXT NOT NULL,                  -- the previous entry's hash; 64 zeros for the first
  hash       TEXT NOT NULL,                  -- SHA-256 of the entry's canonical JSON with prev_hash
  signature  TEXT NOT NULL                   -- Ed25519 of hash, by the store key
);
CREATE INDEX audit_by_object ON audit_log(object, seq);
CREATE INDEX audit_by_actor ON audit_log(actor, seq);

-- The newest entry, signed, in one row: deleting entries from the end means rewriting it, which
-- needs the store key.
CREATE TABLE audit_head (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  seq       INTEGER NOT NULL,
  hash      TEXT NOT NULL,
  signature TEXT NOT NULL                    -- Ed25519 of "<seq>:<hash>", by the store key
);
)SQL";

// Version 5: the traffic split of each served endpoint, changed by `trellis rollout` and the
// server's admin endpoint, read by every `trellis serve` on the store at each reload. NULL columns
// leave the deployment file's setting in force.
inline constexpr std::string_view schema_v5 = R"SQL(
CREATE TABLE serve_rollouts (
  endpoint      TEXT PRIMARY KEY,            -- the endpoint's name in deployment files
  primary_model TEXT,                        -- NAME:VERSION or NAME@ALIAS; NULL: the file's model
  canary_model  TEXT,                        -- NULL: the file's canary, if any
  percent       INTEGER CHECK (percent BETWEEN 0 AND 100), -- of requests to the canary; NULL: the file's
  previous      TEXT NOT NULL DEFAULT 'null',-- JSON of the state a promote replaced, for rollback
  set_by        TEXT NOT NULL,
  set_at        REAL NOT NULL
);
)SQL";

// Version 6: delayed labels, the ground truth that arrives after a prediction (posted to the
// server or given to `trellis monitor labels`), joined to the prediction log by request id (a
// later label for the same row replaces the earlier one: a correction, not a second truth); and
// trellis monitor's windows and alert states.
inline constexpr std::string_view schema_v6 = R"SQL(
CREATE TABLE prediction_labels (
  endpoint    TEXT NOT NULL,                 -- the endpoint that answered the request
  request_id  TEXT NOT NULL,                 -- the request's id, as in the prediction log
  row         INTEGER NOT NULL DEFAULT 0,    -- the row within the request (0 for one-row requests)
  label       TEXT NOT NULL,                 -- JSON: a number, string or true/false
  received_at REAL NOT NULL,
  received_by TEXT NOT NULL,                 -- the identity that sent it
  PRIMARY KEY (endpoint, request_id, row)
) WITHOUT ROWID;
CREATE INDEX prediction_labels_by_time ON prediction_labels(endpoint, received_at);

-- trellis monitor's history: one row per window it looked at, with the metrics the policy's stages
-- computed on it (the run holds the details), and the state of each alert.
CREATE TABLE monitor_windows (
  id          INTEGER PRIMARY KEY,
  monitor     TEXT NOT NULL,                 -- the policy's pipeline name
  endpoint    TEXT NOT NULL,
  run_id      TEXT REFERENCES runs(id),      -- the run that checked it; NULL when skipped
  status      TEXT NOT NULL,                 -- checked | failed | skipped
  message     TEXT,                          -- why it failed or was skipped
  since       REAL,                          -- the window's bounds, when it is one of time
  until       REAL,
  rows        INTEGER NOT NULL DEFAULT 0,
  labelled    INTEGER,                       -- rows with a label, when labels were joined
  first_at    REAL,                          -- times of its first and last row
  last_at     REAL,
  metrics     TEXT NOT NULL DEFAULT '{}',    -- JSON: "STAGE.METRIC" -> value
  at          REAL NOT NULL
);
CREATE INDEX monitor_windows_by_monitor ON monitor_windows(monitor, at);

CREATE TABLE monitor_alerts (
  monitor     TEXT NOT NULL,
  alert       TEXT NOT NULL,
  firing      INTEGER NOT NULL DEFAULT 0,    -- 1 while the alert fires
  streak      INTEGER NOT NULL DEFAULT 0,    -- windows in a row that point to the other state
  value       REAL,                          -- the metric in the last window that had it
  since       REAL NOT NULL,                 -- when it entered its state
  updated_at  REAL NOT NULL,
  PRIMARY KEY (monitor, alert)
);
)SQL";

// migrations[i] takes a database from version i to version i + 1.
inline constexpr std::string_view migrations[] = {schema_v1, schema_v2, schema_v3, schema_v4, schema_v5, schema_v6};
inline constexpr int schema_version = 6;

} // namespace trellis::store
