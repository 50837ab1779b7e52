-- Classes: a teacher has several classes; a student (enrolled once per teacher) is a
-- member of any number of them; attendance is per class, student and day.
--
-- Every existing teacher gets a default class holding all their students, and their
-- attendance moves into it, so that the original endpoints (which work on the default
-- class) see exactly what they saw before.

CREATE TABLE classes (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    teacher_id BIGINT NOT NULL REFERENCES teachers (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    -- The name lower-cased (by the service): names are unique per teacher, ignoring case.
    name_key   TEXT NOT NULL,
    note       TEXT NULL,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT classes_teacher_id_name_key_key UNIQUE (teacher_id, name_key),
    -- Target of the memberships' foreign key: a membership's class and student belong to
    -- one teacher.
    CONSTRAINT classes_teacher_id_id_key UNIQUE (teacher_id, id)
);

-- One default class per teacher.
CREATE UNIQUE INDEX classes_one_default_per_teacher ON classes (teacher_id) WHERE is_default;

ALTER TABLE students ADD CONSTRAINT students_teacher_id_id_key UNIQUE (teacher_id, id);

CREATE TABLE class_members (
    teacher_id BIGINT NOT NULL,
    class_id   BIGINT NOT NULL,
    student_id BIGINT NOT NULL,
    added_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (class_id, student_id),
    FOREIGN KEY (teacher_id, class_id) REFERENCES classes (teacher_id, id) ON DELETE CASCADE,
    FOREIGN KEY (teacher_id, student_id) REFERENCES students (teacher_id, id) ON DELETE CASCADE
);

CREATE INDEX class_members_student_idx ON class_members (student_id);
CREATE INDEX class_members_teacher_student_idx ON class_members (teacher_id, student_id);

-- Existing data: a default class per teacher, every student in it.
INSERT INTO classes (teacher_id, name, name_key, note, is_default, created_at)
SELECT id, 'Default class', 'default class', NULL, TRUE, created_at FROM teachers;

INSERT INTO class_members (teacher_id, class_id, student_id, added_at)
SELECT s.teacher_id, c.id, s.id, s.created_at
FROM students s JOIN classes c ON c.teacher_id = s.teacher_id AND c.is_default;

-- Attendance: (student, day) becomes (class, student, day), in the default class.
ALTER TABLE attendance ADD COLUMN class_id BIGINT;
UPDATE attendance a SET class_id = c.id
FROM classes c WHERE c.teacher_id = a.teacher_id AND c.is_default;
ALTER TABLE attendance ALTER COLUMN class_id SET NOT NULL;
ALTER TABLE attendance DROP CONSTRAINT attendance_pkey;
DROP INDEX attendance_teacher_date_idx;
ALTER TABLE attendance DROP COLUMN teacher_id;
ALTER TABLE attendance ADD CONSTRAINT attendance_pkey PRIMARY KEY (class_id, student_id, date);
-- Only members have attendance in a class; leaving the class (or the class being deleted)
-- takes it with it.
ALTER TABLE attendance ADD CONSTRAINT attendance_class_member_fkey
    FOREIGN KEY (class_id, student_id) REFERENCES class_members (class_id, student_id)
    ON DELETE CASCADE;
CREATE INDEX attendance_class_date_idx ON attendance (class_id, date);
CREATE INDEX attendance_student_idx ON attendance (student_id);
