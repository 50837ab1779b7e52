//! Who a class photo marks present, as a plain function of the recognition result and the
//! class's roster: [`decide`] sorts every face into exactly one of
//!
//! - **recognised**: a member of the class (to be marked present; once stored, either
//!   *marked* by this photo or *already present* that day),
//! - **not in class**: one of the teacher's students who is not a member of the class (the
//!   photo was matched against the class first; only faces that are nobody of the class for
//!   certain are compared with the teacher's other students). Reported, never marked,
//! - **unknown**: nobody for certain, possibly with a member it most likely is (a
//!   *suggestion* for the teacher to confirm),
//!
//! and lists the members no face was recognised as (*absent*). [`Decision::marks`] is what
//! to store; [`Decision::settle`] turns the store's answer (who was newly marked) into the
//! [`Evidence`] answered to the teacher.

use std::collections::{HashMap, HashSet};

use rollcall_face::BBox;

use crate::store::natural_order::natural_cmp;
use crate::store::{AutoMark, ClassRoster, RosterEntry, StudentId};
use crate::vision::{RecognisedFace, Verdict};

/// A student as the evidence names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The student's id.
    pub id: StudentId,
    /// Roll number.
    pub roll_no: String,
    /// Name.
    pub name: String,
}

/// A face taken for a student.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    /// Who.
    pub student: Named,
    /// Cosine similarity to their closest enrolled face.
    pub similarity: f32,
    /// Where the face is in the photo.
    pub bbox: BBox,
}

/// A face that is nobody for certain.
#[derive(Debug, Clone, PartialEq)]
pub struct Unknown {
    /// Its index among the photo's faces.
    pub face: usize,
    /// Where the face is in the photo.
    pub bbox: BBox,
    /// Best similarity to any member of the class.
    pub best_similarity: f32,
    /// The member it most likely is (between the review and the match threshold), with
    /// the similarity: for the teacher to confirm, never marked by itself.
    pub suggestion: Option<(Named, f32)>,
}

/// What a photo means for one class, before anything is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Faces in the photo.
    pub faces_detected: usize,
    /// Members recognised (one face each), to mark present.
    pub recognised: Vec<Sighting>,
    /// Faces that are nobody of the class for certain.
    pub unknown: Vec<Unknown>,
    /// Faces of the teacher's students who are not members of the class.
    pub not_in_class: Vec<Sighting>,
    /// Members not recognised, by roll number.
    pub absent: Vec<Named>,
}

/// The evidence of a marked photo.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// Faces in the photo.
    pub faces_detected: usize,
    /// Members this photo marked present.
    pub marked: Vec<Sighting>,
    /// Members recognised who were present that day already.
    pub already_present: Vec<Sighting>,
    /// Faces that are nobody of the class for certain.
    pub unknown: Vec<Unknown>,
    /// Faces of the teacher's students who are not members of the class.
    pub not_in_class: Vec<Sighting>,
    /// Members not recognised, by roll number.
    pub absent: Vec<Named>,
}

impl Evidence {
    /// The original service's sentence.
    pub fn message(&self) -> String {
        if self.marked.is_empty() && !self.already_present.is_empty() {
            "Attendance already marked for all students today".to_owned()
        } else {
            format!(
                "attendance marked succesfully for {} faces out of total {} detected faces",
                self.marked.len(),
                self.faces_detected
            )
        }
    }
}

/// Distinct students of roster entries (a student may have several embeddings).
fn directory(entries: &[RosterEntry]) -> HashMap<StudentId, Named> {
    entries
        .iter()
        .map(|e| {
            (
                e.student_id,
                Named {
                    id: e.student_id,
                    roll_no: e.roll_no.clone(),
                    name: e.name.clone(),
                },
            )
        })
        .collect()
}

/// Sorts every face of `faces` (recognised against `roster.members`, with
/// [`RecognisedFace::outsider`] from `roster.others`) into recognised, not in class and
/// unknown, and lists the absent members.
///
/// A face whose member verdict is unknown but that matches another student of the teacher
/// is "not in class" unless its suggested member is at least as similar (then it stays an
/// unknown face with that suggestion: the teacher decides).
pub fn decide(faces: &[RecognisedFace], roster: &ClassRoster) -> Decision {
    let members = directory(&roster.members);
    let others = directory(&roster.others);
    let mut decision = Decision {
        faces_detected: faces.len(),
        recognised: Vec::new(),
        unknown: Vec::new(),
        not_in_class: Vec::new(),
        absent: Vec::new(),
    };
    let mut seen: HashSet<StudentId> = HashSet::new();
    for (index, face) in faces.iter().enumerate() {
        match face.verdict {
            Verdict::Student {
                student_id,
                similarity,
            } => match members.get(&student_id) {
                Some(student) if seen.insert(student_id) => decision.recognised.push(Sighting {
                    student: student.clone(),
                    similarity,
                    bbox: face.bbox,
                }),
                // Not one of the members (or a second face for one): never a mark.
                _ => decision.unknown.push(Unknown {
                    face: index,
                    bbox: face.bbox,
                    best_similarity: similarity,
                    suggestion: None,
                }),
            },
            Verdict::Unknown {
                best_similarity,
                suggestion,
            } => {
                let suggestion = suggestion
                    .and_then(|(id, similarity)| members.get(&id).map(|s| (s.clone(), similarity)));
                let outsider = face
                    .outsider
                    .and_then(|(id, similarity)| others.get(&id).map(|s| (s.clone(), similarity)));
                match outsider {
                    Some((student, similarity))
                        if suggestion.as_ref().is_none_or(|(_, s)| similarity > *s) =>
                    {
                        decision.not_in_class.push(Sighting {
                            student,
                            similarity,
                            bbox: face.bbox,
                        });
                    }
                    _ => decision.unknown.push(Unknown {
                        face: index,
                        bbox: face.bbox,
                        best_similarity,
                        suggestion,
                    }),
                }
            }
        }
    }
    let mut absent: Vec<Named> = members
        .into_values()
        .filter(|s| !seen.contains(&s.id))
        .collect();
    absent.sort_by(|a, b| natural_cmp(&a.roll_no, &b.roll_no));
    decision.absent = absent;
    decision
}

impl Decision {
    /// The marks to store: one per recognised member.
    pub fn marks(&self) -> Vec<AutoMark> {
        self.recognised
            .iter()
            .map(|s| AutoMark {
                student_id: s.student.id,
                similarity: s.similarity,
            })
            .collect()
    }

    /// The evidence, once the store has said which students it newly marked (the others
    /// recognised were present that day already).
    pub fn settle(self, newly_marked: &HashSet<StudentId>) -> Evidence {
        let (marked, already_present) = self
            .recognised
            .into_iter()
            .partition(|s| newly_marked.contains(&s.student.id));
        Evidence {
            faces_detected: self.faces_detected,
            marked,
            already_present,
            unknown: self.unknown,
            not_in_class: self.not_in_class,
            absent: self.absent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: StudentId, roll_no: &str) -> RosterEntry {
        RosterEntry {
            student_id: id,
            roll_no: roll_no.to_owned(),
            name: format!("Student {roll_no}"),
            embedding: vec![1.0, 0.0],
        }
    }

    fn bbox(x: f32) -> BBox {
        BBox {
            x,
            y: 0.0,
            w: 10.0,
            h: 10.0,
        }
    }

    fn face(x: f32, verdict: Verdict, outsider: Option<(StudentId, f32)>) -> RecognisedFace {
        RecognisedFace {
            bbox: bbox(x),
            score: 0.9,
            verdict,
            outsider,
            evidence: None,
        }
    }

    fn student(student_id: StudentId, similarity: f32) -> Verdict {
        Verdict::Student {
            student_id,
            similarity,
        }
    }

    fn unknown(best_similarity: f32, suggestion: Option<(StudentId, f32)>) -> Verdict {
        Verdict::Unknown {
            best_similarity,
            suggestion,
        }
    }

    /// Members 1 (two embeddings), 2, 10; other students 7 and 8.
    fn roster() -> ClassRoster {
        ClassRoster {
            members: vec![entry(10, "10"), entry(1, "1"), entry(1, "1"), entry(2, "2")],
            others: vec![entry(7, "7"), entry(8, "8")],
        }
    }

    fn rolls(sightings: &[Sighting]) -> Vec<&str> {
        sightings
            .iter()
            .map(|s| s.student.roll_no.as_str())
            .collect()
    }

    #[test]
    fn every_face_lands_in_exactly_one_list() {
        let faces = vec![
            face(0.0, student(1, 0.8), None),
            face(1.0, unknown(0.2, None), Some((7, 0.7))),
            face(2.0, unknown(0.1, None), None),
            face(3.0, unknown(0.39, Some((2, 0.39))), None),
        ];
        let decision = decide(&faces, &roster());
        assert_eq!(decision.faces_detected, 4);
        assert_eq!(rolls(&decision.recognised), ["1"]);
        assert_eq!(rolls(&decision.not_in_class), ["7"]);
        assert_eq!(decision.not_in_class[0].similarity, 0.7);
        assert_eq!(decision.not_in_class[0].bbox, bbox(1.0));
        assert_eq!(decision.unknown.len(), 2);
        assert_eq!(decision.unknown[0].suggestion, None);
        // Each unknown face says which face of the photo it is.
        assert_eq!((decision.unknown[0].face, decision.unknown[1].face), (2, 3));
        let (suggested, similarity) = decision.unknown[1].suggestion.clone().unwrap();
        assert_eq!((suggested.roll_no.as_str(), similarity), ("2", 0.39));
        // Absent: members not recognised, by roll number (2 before 10), once each.
        let absent: Vec<&str> = decision.absent.iter().map(|s| s.roll_no.as_str()).collect();
        assert_eq!(absent, ["2", "10"]);
        // Only the member is marked; the other student never is.
        assert_eq!(
            decision.marks(),
            vec![AutoMark {
                student_id: 1,
                similarity: 0.8
            }]
        );
    }

    #[test]
    fn a_closer_suggestion_keeps_the_face_unknown() {
        let faces = vec![
            face(0.0, unknown(0.40, Some((2, 0.40))), Some((7, 0.43))),
            face(1.0, unknown(0.41, Some((10, 0.41))), Some((8, 0.41))),
        ];
        let decision = decide(&faces, &roster());
        assert_eq!(rolls(&decision.not_in_class), ["7"]);
        assert_eq!(decision.unknown.len(), 1);
        assert_eq!(
            decision.unknown[0].suggestion.as_ref().map(|(s, _)| s.id),
            Some(10)
        );
        assert!(decision.marks().is_empty());
    }

    #[test]
    fn verdicts_naming_nobody_of_the_class_are_never_marks() {
        // A verdict for someone who is not a member, a second face for one member, and an
        // outsider id that is not one of the teacher's other students.
        let faces = vec![
            face(0.0, student(7, 0.9), None),
            face(1.0, student(2, 0.8), None),
            face(2.0, student(2, 0.7), None),
            face(3.0, unknown(0.1, None), Some((99, 0.9))),
        ];
        let decision = decide(&faces, &roster());
        assert_eq!(rolls(&decision.recognised), ["2"]);
        assert!(decision.not_in_class.is_empty());
        assert_eq!(decision.unknown.len(), 3);
        assert_eq!(decision.marks().len(), 1);
    }

    #[test]
    fn settle_splits_marked_from_already_present() {
        let faces = vec![
            face(0.0, student(1, 0.8), None),
            face(1.0, student(2, 0.6), None),
        ];
        let decision = decide(&faces, &roster());
        let evidence = decision.clone().settle(&HashSet::from([2]));
        assert_eq!(rolls(&evidence.marked), ["2"]);
        assert_eq!(rolls(&evidence.already_present), ["1"]);
        assert_eq!(
            evidence.message(),
            "attendance marked succesfully for 1 faces out of total 2 detected faces"
        );
        let again = decision.settle(&HashSet::new());
        assert!(again.marked.is_empty());
        assert_eq!(
            again.message(),
            "Attendance already marked for all students today"
        );
    }

    #[test]
    fn an_empty_class_has_nobody_absent() {
        let faces = vec![face(0.0, unknown(0.0, None), Some((7, 0.8)))];
        let decision = decide(
            &faces,
            &ClassRoster {
                members: Vec::new(),
                others: vec![entry(7, "7")],
            },
        );
        assert!(decision.absent.is_empty());
        assert_eq!(rolls(&decision.not_in_class), ["7"]);
    }
}
