//! The rules of face templates (issue 13): how good a template is (the weakest is replaced
//! first), and whether a new photo of a student may join their templates: not a face
//! already enrolled as another student, and not clearly another person than the student.

use rollcall_face::quality::QualityMetrics;

use crate::store::{QualityFigures, RosterEntry, StudentId};
use crate::vision::cosine_similarity;

/// How far below the review threshold (the recognizer's FAR 1e-3 point) a photo may fall
/// against the student's own templates before it is refused as another person, when
/// `ROLLCALL_SAME_PERSON_THRESHOLD` is unset. Genuine pairs below the FAR 1e-3 point exist
/// (a few per cent): this refuses only what is clearly someone else.
pub const SAME_PERSON_SLACK: f32 = 0.1;

/// The figures stored with a template, from what the quality gate measured.
pub fn figures(metrics: &QualityMetrics) -> QualityFigures {
    QualityFigures {
        face_width: metrics.face_width,
        sharpness: metrics.sharpness,
        brightness: metrics.brightness,
        detection_score: metrics.score,
        yaw: metrics.landmark_yaw,
    }
}

/// A template's quality in 0..1 (higher is better), the mean of four parts: face width
/// (full at 224 px), sharpness (full at a Laplacian variance of 400), frontality (0 at a
/// landmark yaw of 50 degrees) and the detector's confidence.
pub fn quality_score(f: &QualityFigures) -> f32 {
    let part = |x: f32| {
        if x.is_finite() {
            x.clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let width = part(f.face_width / 224.0);
    let sharpness = part(f.sharpness / 400.0);
    let frontal = part(1.0 - f.yaw.abs() / 50.0);
    let score = part(f.detection_score);
    (width + sharpness + frontal + score) / 4.0
}

/// Decides whether `embedding`, a new photo of `student`, may join their templates, from
/// the teacher's roster for the recognizer that produced it:
///
/// - refused when it is at least `duplicate_threshold` similar to another student (the same
///   check, and message, as enrolment);
/// - refused when the student has templates of this recognizer and the best of them is
///   below `same_person_threshold` (clearly another person).
pub fn admit_photo(
    student: StudentId,
    name: &str,
    embedding: &[f32],
    roster: &[RosterEntry],
    duplicate_threshold: f32,
    same_person_threshold: f32,
) -> Result<(), String> {
    let twin = roster
        .iter()
        .filter(|e| e.student_id != student)
        .map(|e| (e, cosine_similarity(embedding, &e.embedding)))
        .filter(|&(_, sim)| sim >= duplicate_threshold)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((twin, _)) = twin {
        return Err(already_enrolled(&twin.roll_no, &twin.name));
    }
    let own = roster
        .iter()
        .filter(|e| e.student_id == student)
        .map(|e| cosine_similarity(embedding, &e.embedding))
        .fold(None, |best: Option<f32>, s| {
            Some(best.map_or(s, |b| b.max(s)))
        });
    match own {
        Some(best) if best < same_person_threshold => Err(format!(
            "This photo does not look like {name}: its face is {best:.2} similar to their \
             other photos, at least {same_person_threshold:.2} is expected. Check that it is \
             a photo of this student"
        )),
        _ => Ok(()),
    }
}

/// "This face is already enrolled as roll number 7 (Ada)".
pub fn already_enrolled(roll_no: &str, name: &str) -> String {
    format!("This face is already enrolled as roll number {roll_no} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(student_id: StudentId, embedding: Vec<f32>) -> RosterEntry {
        RosterEntry {
            student_id,
            roll_no: student_id.to_string(),
            name: format!("Student {student_id}"),
            embedding,
        }
    }

    #[test]
    fn duplicates_of_others_and_strangers_are_refused() {
        let roster = vec![
            entry(1, vec![1.0, 0.0, 0.0]),
            entry(1, vec![0.8, 0.6, 0.0]),
            entry(2, vec![0.0, 0.0, 1.0]),
        ];
        // Close to one of student 1's templates: fine for student 1.
        assert_eq!(
            admit_photo(1, "A", &[0.6, 0.8, 0.0], &roster, 0.5, 0.3),
            Ok(())
        );
        // Student 2's face for student 1: a duplicate of another student.
        let err = admit_photo(1, "A", &[0.0, 0.1, 1.0], &roster, 0.5, 0.3).unwrap_err();
        assert!(err.contains("roll number 2"), "{err}");
        // Nobody's face, far from student 1's: another person.
        let err = admit_photo(1, "A", &[0.0, -1.0, 0.2], &roster, 0.5, 0.3).unwrap_err();
        assert!(err.contains("does not look like A"), "{err}");
        // A student without templates of this model: only the duplicate check.
        assert_eq!(
            admit_photo(3, "C", &[0.0, -1.0, 0.2], &roster, 0.5, 0.3),
            Ok(())
        );
    }

    #[test]
    fn quality_prefers_large_sharp_frontal_faces() {
        let good = QualityFigures {
            face_width: 300.0,
            sharpness: 500.0,
            brightness: 120.0,
            detection_score: 0.9,
            yaw: 2.0,
        };
        let small = QualityFigures {
            face_width: 70.0,
            ..good
        };
        let turned = QualityFigures { yaw: 40.0, ..good };
        assert!(quality_score(&good) > quality_score(&small));
        assert!(quality_score(&good) > quality_score(&turned));
        assert!((0.0..=1.0).contains(&quality_score(&good)));
        let broken = QualityFigures {
            sharpness: f32::NAN,
            ..good
        };
        assert!(quality_score(&broken).is_finite());
    }
}
