//! The enrolment quality gate on labelled photos.

mod common;

use std::collections::BTreeMap;

use rollcall_face::FaceError;

#[test]
fn hard_photos_get_their_expected_verdict() {
    let engine = common::engine();
    let mut wrong = Vec::new();
    for row in common::tsv("hard/labels.tsv") {
        let (Some(file), Some(expected)) = (row.first(), row.get(3)) else {
            continue;
        };
        let bytes = common::read(format!("hard/{file}"));
        let result = engine.enrol(&bytes);
        let verdict = match &result {
            Ok(_) => "accept".to_owned(),
            Err(FaceError::Rejected(issues)) => {
                let codes: Vec<&str> = issues.iter().map(|i| i.code.as_str()).collect();
                format!("reject {}", codes.join(","))
            }
            Err(e @ FaceError::InvalidImage { .. }) => format!("invalid: {e}"),
            Err(e) => panic!("{file}: unexpected error {e}"),
        };
        eprintln!("{file:<50} expected {expected:<12.12} got {verdict}");
        let ok = if expected.starts_with("accept") {
            result.is_ok()
        } else if expected.contains("invalid") {
            matches!(result, Err(FaceError::InvalidImage { .. }))
        } else {
            matches!(result, Err(FaceError::Rejected(ref issues)) if !issues.is_empty())
        };
        if !ok {
            wrong.push(format!("{file}: expected {expected}, got {verdict}"));
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

#[test]
fn most_identity_portraits_are_accepted() {
    let engine = common::engine();
    let mut total = 0usize;
    let mut accepted = 0usize;
    let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (person, photos) in common::identities() {
        for photo in photos {
            total += 1;
            let bytes = std::fs::read(&photo).unwrap();
            match engine.enrol(&bytes) {
                Ok(_) => accepted += 1,
                Err(FaceError::Rejected(issues)) => {
                    let codes: Vec<&str> = issues.iter().map(|i| i.code.as_str()).collect();
                    eprintln!(
                        "rejected {person}/{}: {}",
                        photo.file_name().unwrap().to_string_lossy(),
                        issues
                            .iter()
                            .map(|i| format!("{} {:.1} (limit {:.1})", i.code, i.value, i.limit))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    for c in codes {
                        *reasons.entry(c).or_default() += 1;
                    }
                }
                Err(e) => panic!("{}: {e}", photo.display()),
            }
        }
    }
    let rate = accepted as f64 / total as f64;
    eprintln!(
        "identities/: {accepted}/{total} accepted ({:.1}%), rejections by reason: {reasons:?}",
        rate * 100.0
    );
    assert!(
        rate >= 0.85,
        "only {:.1}% of identities/ accepted",
        rate * 100.0
    );
}

#[test]
fn rejection_lists_every_failed_check_and_serialises_codes() {
    let engine = common::engine();
    let Err(FaceError::Rejected(issues)) =
        engine.enrol(&common::read("hard/no_face/landscape.jpg"))
    else {
        panic!("landscape must be rejected");
    };
    assert_eq!(issues.len(), 1);
    let json = serde_json::to_string(&issues).unwrap();
    assert!(json.contains("\"NO_FACE\""), "{json}");

    let Err(FaceError::Rejected(issues)) = engine.enrol(&common::read(
        "hard/multiple_faces/obama_biden_two_people.jpg",
    )) else {
        panic!("two people must be rejected");
    };
    assert!(
        issues.iter().any(|i| i.code.as_str() == "MULTIPLE_FACES"),
        "{issues:?}"
    );
}
