-- Rollcall schema (SQLite). Needs `PRAGMA foreign_keys = ON` on every connection (set by
-- the store) for the cascades. Timestamps are RFC 3339 UTC text, dates `YYYY-MM-DD` text,
-- embeddings little-endian f32 bytes.

CREATE TABLE verified_emails (
    email       TEXT PRIMARY KEY NOT NULL,
    verified_at TEXT NOT NULL
);

CREATE TABLE teachers (
    id                  INTEGER PRIMARY KEY,
    user_id             TEXT NOT NULL UNIQUE,
    email               TEXT NOT NULL UNIQUE,
    password_hash       TEXT NOT NULL,
    password_changed_at TEXT NOT NULL,
    created_at          TEXT NOT NULL
);

CREATE TABLE students (
    id         INTEGER PRIMARY KEY,
    teacher_id INTEGER NOT NULL REFERENCES teachers (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    roll_no    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (teacher_id, roll_no)
);

CREATE TABLE student_embeddings (
    id         INTEGER PRIMARY KEY,
    student_id INTEGER NOT NULL REFERENCES students (id) ON DELETE CASCADE,
    model_id   TEXT NOT NULL,
    dim        INTEGER NOT NULL CHECK (dim >= 0),
    embedding  BLOB NOT NULL,
    created_at TEXT NOT NULL,
    CHECK (length(embedding) = 4 * dim)
);

CREATE INDEX student_embeddings_student_model_idx ON student_embeddings (student_id, model_id);

CREATE TABLE attendance (
    student_id INTEGER NOT NULL REFERENCES students (id) ON DELETE CASCADE,
    date       TEXT NOT NULL,
    teacher_id INTEGER NOT NULL REFERENCES teachers (id) ON DELETE CASCADE,
    source     TEXT NOT NULL CHECK (source IN ('auto', 'manual')),
    similarity REAL NULL,
    marked_at  TEXT NOT NULL,
    PRIMARY KEY (student_id, date)
) WITHOUT ROWID;

CREATE INDEX attendance_teacher_date_idx ON attendance (teacher_id, date);
