-- A candidate store written by kdnas before leases (schema version 1), for the migration test.
CREATE TABLE IF NOT EXISTS measurements (
    setting TEXT NOT NULL,
    arch_id TEXT NOT NULL,
    arch TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    parameters INTEGER,
    parameters_without_embeddings INTEGER,
    loss REAL,
    latency_median_ms REAL,
    latency_p90_ms REAL,
    latency_cv REAL,
    wall_seconds REAL,
    run TEXT,
    created REAL,
    PRIMARY KEY (setting, arch_id)
);
CREATE TABLE IF NOT EXISTS proposals (
    run TEXT NOT NULL,
    episode INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    arch_id TEXT NOT NULL,
    arch TEXT NOT NULL,
    mode TEXT,
    PRIMARY KEY (run, episode, slot)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS claims (
    setting TEXT NOT NULL,
    arch_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started REAL NOT NULL,
    PRIMARY KEY (setting, arch_id)
);
INSERT INTO measurements VALUES ('k', '276e91931440', '{"hidden_act": "gelu", "hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 1, "num_hidden_layers": 1}', 'ok', '', 10, 5, 0.25, 1.5, 1.7, 0.02, 3.0, 'run', 1700000000.0);
INSERT INTO proposals VALUES ('run', 0, 0, '276e91931440', '{"hidden_act": "gelu", "hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 1, "num_hidden_layers": 1}', 'explore');
INSERT INTO meta VALUES ('budget_checked', 'true');
INSERT INTO claims VALUES ('k', 'deadbeef0000', 'job', 'host', 1, 1700000000.0);
