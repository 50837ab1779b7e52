-- Classes: a teacher has several classes; a student (enrolled once per teacher) is a
-- member of any number of them; attendance is per class, student and day.
--
-- Every existing teacher gets a default class holding all their students, and their
-- attendance moves into it, so that the original endpoints (which work on the default
-- class) see exactly what they saw before.

CREATE TABLE classes (
    id         INTEGER PRIMARY KEY,
    teacher_id INTEGER NOT NULL REFERENCES teachers (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    -- The name lower-cased (by the service): names are unique per teacher, ignoring case.
    name_key   TEXT NOT NULL,
    note       TEXT NULL,
    is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at TEXT NOT NULL,
    UNIQUE (teacher_id, name_key),
    -- Target of the memberships' foreign key: a membership's class and student belong to
    -- one teacher.
    UNIQUE (teacher_id, id)
);

-- One default class per teacher.
CREATE UNIQUE INDEX classes_one_default_per_teacher ON classes (teacher_id) WHERE is_default = 1;

CREATE UNIQUE INDEX students_teacher_id_id_key ON students (teacher_id, id);

CREATE TABLE class_members (
    teacher_id INTEGER NOT NULL,
    class_id   INTEGER NOT NULL,
    student_id INTEGER NOT NULL,
    added_at   TEXT NOT NULL,
    PRIMARY KEY (class_id, student_id),
    FOREIGN KEY (teacher_id, class_id) REFERENCES classes (teacher_id, id) ON DELETE CASCADE,
    FOREIGN KEY (teacher_id, student_id) REFERENCES students (teacher_id, id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX class_members_student_idx ON class_members (student_id);
CREATE INDEX class_members_teacher_student_idx ON class_members (teacher_id, student_id);

-- Existing data: a default class per teacher, every student in it.
INSERT INTO classes (teacher_id, name, name_key, note, is_default, created_at)
SELECT id, 'Default class', 'default class', NULL, 1, created_at FROM teachers;

INSERT INTO class_members (teacher_id, class_id, student_id, added_at)
SELECT s.teacher_id, c.id, s.id, s.created_at
FROM students s JOIN classes c ON c.teacher_id = s.teacher_id AND c.is_default = 1;

-- Attendance: (student, day) becomes (class, student, day), in the default class. SQLite
-- cannot change a primary key in place: the table is rebuilt.
CREATE TABLE attendance_by_class (
    class_id   INTEGER NOT NULL,
    student_id INTEGER NOT NULL REFERENCES students (id) ON DELETE CASCADE,
    date       TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('auto', 'manual')),
    similarity REAL NULL,
    marked_at  TEXT NOT NULL,
    PRIMARY KEY (class_id, student_id, date),
    -- Only members have attendance in a class; leaving the class (or the class being
    -- deleted) takes it with it.
    FOREIGN KEY (class_id, student_id) REFERENCES class_members (class_id, student_id)
        ON DELETE CASCADE
) WITHOUT ROWID;

INSERT INTO attendance_by_class (class_id, student_id, date, source, similarity, marked_at)
SELECT c.id, a.student_id, a.date, a.source, a.similarity, a.marked_at
FROM attendance a JOIN classes c ON c.teacher_id = a.teacher_id AND c.is_default = 1;

DROP TABLE attendance;
ALTER TABLE attendance_by_class RENAME TO attendance;
CREATE INDEX attendance_class_date_idx ON attendance (class_id, date);
CREATE INDEX attendance_student_idx ON attendance (student_id);
