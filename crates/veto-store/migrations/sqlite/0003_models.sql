-- Trained models and the persons unlearned from them.

CREATE TABLE models (
    model_id    TEXT PRIMARY KEY,
    snapshot_id TEXT NOT NULL REFERENCES snapshots (snapshot_id),
    path        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    trained_at_us BIGINT NOT NULL,
    manifest    TEXT NOT NULL
);

CREATE TABLE model_unlearning (
    model_id    TEXT NOT NULL REFERENCES models (model_id),
    person_ref  TEXT NOT NULL,
    version     BIGINT NOT NULL,
    done_at_us  BIGINT NOT NULL,
    PRIMARY KEY (model_id, person_ref)
);
