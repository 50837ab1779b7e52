-- Face templates (issue 13): a student has several face photos ("templates"), each with
-- its quality figures and, optionally, the aligned face crop (a 112x112 JPEG, encrypted by
-- the service with XChaCha20-Poly1305 before it reaches the database: `crop` is
-- version || nonce || ciphertext). A template has one embedding per recognizer model, so
-- that a model upgrade (`rollcall models reembed`) adds embeddings beside the old ones.
--
-- Every existing embedding becomes a template of its own (source 'migrated', no crop, no
-- quality figures) with that one embedding: existing students keep matching as before.

CREATE TABLE face_templates (
    id              INTEGER PRIMARY KEY,
    student_id      INTEGER NOT NULL REFERENCES students (id) ON DELETE CASCADE,
    source          TEXT NOT NULL
        CHECK (source IN ('enrolment', 'photo', 'confirmation', 'migrated')),
    -- 0..1, higher is better; the weakest template is the one replaced when full.
    quality         REAL NOT NULL,
    face_width      REAL NULL,
    sharpness       REAL NULL,
    brightness      REAL NULL,
    detection_score REAL NULL,
    yaw             REAL NULL,
    crop            BLOB NULL,
    created_at      TEXT NOT NULL
);

CREATE INDEX face_templates_student_idx ON face_templates (student_id);

CREATE TABLE template_embeddings (
    template_id INTEGER NOT NULL REFERENCES face_templates (id) ON DELETE CASCADE,
    model_id    TEXT NOT NULL,
    dim         INTEGER NOT NULL CHECK (dim >= 0),
    embedding   BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (template_id, model_id),
    CHECK (length(embedding) = 4 * dim)
) WITHOUT ROWID;

CREATE INDEX template_embeddings_model_idx ON template_embeddings (model_id, template_id);

INSERT INTO face_templates (id, student_id, source, quality, crop, created_at)
SELECT id, student_id, 'migrated', 0, NULL, created_at FROM student_embeddings;

INSERT INTO template_embeddings (template_id, model_id, dim, embedding, created_at)
SELECT id, model_id, dim, embedding, created_at FROM student_embeddings;

DROP TABLE student_embeddings;
