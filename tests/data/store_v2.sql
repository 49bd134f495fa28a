-- A candidate store written by kdnas before paired speed-ups and retries (schema version 2: the DDL
-- SQLAlchemy emitted for it), for the migration test. Portable: run on SQLite and on PostgreSQL.
CREATE TABLE kdnas_schema (
	version INTEGER NOT NULL
);
CREATE TABLE leases (
	setting VARCHAR(64) NOT NULL,
	arch_id VARCHAR(64) NOT NULL,
	owner VARCHAR(255) NOT NULL,
	acquired FLOAT NOT NULL,
	renewed FLOAT NOT NULL,
	PRIMARY KEY (setting, arch_id)
);
CREATE TABLE measurements (
	setting VARCHAR(64) NOT NULL,
	arch_id VARCHAR(64) NOT NULL,
	arch TEXT NOT NULL,
	status VARCHAR(16) NOT NULL,
	reason TEXT,
	parameters INTEGER,
	parameters_without_embeddings INTEGER,
	loss FLOAT,
	latency_median_ms FLOAT,
	latency_p90_ms FLOAT,
	latency_cv FLOAT,
	wall_seconds FLOAT,
	run VARCHAR(32),
	created FLOAT,
	PRIMARY KEY (setting, arch_id)
);
CREATE TABLE meta (
	"key" VARCHAR(255) NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY ("key")
);
CREATE TABLE proposals (
	run VARCHAR(64) NOT NULL,
	episode INTEGER NOT NULL,
	slot INTEGER NOT NULL,
	arch_id VARCHAR(64) NOT NULL,
	arch TEXT NOT NULL,
	mode VARCHAR(16),
	PRIMARY KEY (run, episode, slot)
);
INSERT INTO kdnas_schema VALUES (2);
INSERT INTO measurements VALUES ('k', '276e91931440', '{"hidden_act": "gelu", "hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 1, "num_hidden_layers": 1}', 'ok', '', 10, 5, 0.25, 1.5, 1.7, 0.02, 3.0, 'run', 1700000000.0);
INSERT INTO measurements VALUES ('k', '23d2bc2b726c', '{"hidden_act": "relu", "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 2}', 'failed', 'OutOfMemoryError: CUDA out of memory', 0, 0, NULL, NULL, NULL, NULL, 4.0, 'shared', 1700000001.0);
INSERT INTO proposals VALUES ('run', 0, 0, '276e91931440', '{"hidden_act": "gelu", "hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 1, "num_hidden_layers": 1}', 'explore');
INSERT INTO meta VALUES ('budget_checked', 'true');
INSERT INTO leases VALUES ('k', 'deadbeef0000', 'otherhost:1:/run', 1700000000.0, 1700000000.0);
