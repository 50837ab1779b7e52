-- Rollcall schema (PostgreSQL). Timestamps are TIMESTAMPTZ (UTC), embeddings are
-- little-endian f32 bytes.

CREATE TABLE verified_emails (
    email       TEXT PRIMARY KEY,
    verified_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE teachers (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             TEXT NOT NULL,
    email               TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    password_changed_at TIMESTAMPTZ NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    CONSTRAINT teachers_user_id_key UNIQUE (user_id),
    CONSTRAINT teachers_email_key UNIQUE (email)
);

CREATE TABLE students (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    teacher_id BIGINT NOT NULL REFERENCES teachers (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    roll_no    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT students_teacher_id_roll_no_key UNIQUE (teacher_id, roll_no)
);

CREATE TABLE student_embeddings (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    student_id BIGINT NOT NULL REFERENCES students (id) ON DELETE CASCADE,
    model_id   TEXT NOT NULL,
    dim        INTEGER NOT NULL CHECK (dim >= 0),
    embedding  BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (octet_length(embedding) = 4 * dim)
);

CREATE INDEX student_embeddings_student_model_idx ON student_embeddings (student_id, model_id);

CREATE TABLE attendance (
    student_id BIGINT NOT NULL REFERENCES students (id) ON DELETE CASCADE,
    date       DATE NOT NULL,
    teacher_id BIGINT NOT NULL REFERENCES teachers (id) ON DELETE CASCADE,
    source     TEXT NOT NULL CHECK (source IN ('auto', 'manual')),
    similarity REAL NULL,
    marked_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (student_id, date)
);

CREATE INDEX attendance_teacher_date_idx ON attendance (teacher_id, date);
