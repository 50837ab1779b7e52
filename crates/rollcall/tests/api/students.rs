//! End-to-end student tests: enrolment (quality gate, formats, duplicates, limits),
//! listing, deletion and the isolation between teachers; the real server with the real
//! face models and photos, on SQLite and on PostgreSQL (+ Redis).

use crate::common;
use crate::support::classroom;

use classroom::{identity_photos, part, photo, roll_nos};
use common::{Backend, expect, spawn};
use reqwest::multipart::Form;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The reason code each rejected `hard/` photo must carry: the labelled one, as recorded in
/// the face engine's `tests/data/gate_split.toml` (both halves: this test checks that the
/// codes travel over HTTP, the engine's test grades the gate on the evaluation half).
fn labelled_code(file: &str) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../face/tests/data/gate_split.toml"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let key = format!("\"{file}\" = \"");
    text.lines()
        .find_map(|line| line.strip_prefix(&key))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{file} is not in {path}"))
        .to_owned()
}

/// Photos on which the gate is known to disagree with the labelled code (see the engine's
/// `enrol.rs`): two blurry crops rejected only as FACE_CUT_OFF. They must still be refused.
const KNOWN_DISAGREEMENTS: [&str; 2] = [
    "tiny_or_blurry/kevin_sussman_blurry_4.png",
    "tiny_or_blurry/kevin_sussman_blurry_turned_5.png",
];

/// Rows of `hard/labels.tsv`: (file, category).
fn hard_photos() -> Vec<(String, String)> {
    let path = classroom::faces_dir().join("hard").join("labels.tsv");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split('\t');
            Some((cols.next()?.to_owned(), cols.next()?.to_owned()))
        })
        .collect()
}

/// Every `hard/` photo gets the expected answer; formats are detected from content.
async fn enrolment_gate(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let token = app.signed_in_teacher().await;
    let mut wrong = Vec::new();
    let mut roll = 100;
    for (file, category) in hard_photos() {
        roll += 1;
        let bytes = photo(&format!("hard/{file}"));
        // Every upload claims to be a JPEG: the content decides.
        let r = app
            .add_student_part(
                &token,
                "Test Student",
                &roll.to_string(),
                part(bytes, "x.jpg", "image/jpeg"),
            )
            .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert!(
            body.get("detail").is_some() || status == StatusCode::OK,
            "{file}: {body}"
        );
        match category.as_str() {
            "format_variants" => {
                // The Einstein variants are one photo: after the first, the face is known
                // (409), which also proves the file was decoded.
                let known = status == StatusCode::CONFLICT
                    && body["detail"]
                        .as_str()
                        .unwrap_or("")
                        .contains("already enrolled");
                if status != StatusCode::OK && !known {
                    wrong.push(format!(
                        "{file}: expected 200 (or 409 same face), got {status} {body}"
                    ));
                }
            }
            "broken_files" => {
                if status != StatusCode::BAD_REQUEST {
                    wrong.push(format!("{file}: expected 400, got {status} {body}"));
                }
            }
            _ => {
                let codes: Vec<&str> = body["reasons"]
                    .as_array()
                    .map(|r| r.iter().filter_map(|x| x["code"].as_str()).collect())
                    .unwrap_or_default();
                let required = labelled_code(&file);
                let known = KNOWN_DISAGREEMENTS.contains(&file.as_str());
                if status != StatusCode::UNPROCESSABLE_ENTITY
                    || !(known || codes.contains(&required.as_str()))
                {
                    wrong.push(format!(
                        "{file}: expected 422 with reasons {required:?}, got {status} {body}"
                    ));
                } else {
                    eprintln!("{file}: rejected with {codes:?}");
                    for reason in body["reasons"].as_array().unwrap() {
                        assert!(reason["value"].is_number() && reason["limit"].is_number());
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected enrolment answers:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_gate_sqlite() {
    enrolment_gate(Backend::SqliteInProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_gate_postgres() {
    enrolment_gate(Backend::PostgresRedis).await;
}

/// Validation, duplicates, formats, limits, listing and deletion.
async fn student_lifecycle(backend: Backend) {
    let app = spawn(backend, |s| s.max_upload_bytes = 2 * 1024 * 1024).await;
    let token = app.signed_in_teacher().await;

    // Unauthenticated: 401.
    let r = app
        .client
        .get(app.url("/get_all_students"))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::UNAUTHORIZED).await;

    let perry = app.enrol_person(&token, "matthew_perry", "10").await;
    let body = expect(
        app.add_student(
            &token,
            "Someone Else",
            "10",
            &identity_photos("lisa_kudrow")[0],
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("10"), "{body}");

    // The same face under another roll number: 409 naming the first one.
    let body = expect(
        app.add_student(&token, "Perry Again", "11", &perry).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("roll number 10"),
        "{body}"
    );

    // PNG and WebP (claimed as JPEG) are accepted.
    let r = app
        .add_student_part(
            &token,
            "Barack Obama",
            "2",
            part(
                photo("hard/format_variants/obama_rgba_32bit.png"),
                "obama.jpg",
                "image/jpeg",
            ),
        )
        .await;
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(
        body,
        json!({"msg": "The Student is registered successfully",
               "student": {"name": "Barack Obama", "roll_no": "2"}})
    );
    let r = app
        .add_student_part(
            &token,
            "  Albert Einstein  ",
            " 3 ",
            part(
                photo("hard/format_variants/einstein_webp.webp"),
                "e.jpg",
                "image/jpeg",
            ),
        )
        .await;
    expect(r, StatusCode::OK).await;

    // Listing is sorted by roll number, numerically.
    let list = app.get_json("/get_all_students", &token).await;
    assert_eq!(
        list,
        json!({"msg": [
            {"name": "Barack Obama", "roll_no": "2"},
            {"name": "Albert Einstein", "roll_no": "3"},
            {"name": "matthew_perry", "roll_no": "10"},
        ]})
    );

    // Invalid fields and missing parts: 422 with a reason.
    let kudrow = std::fs::read(&identity_photos("lisa_kudrow")[0]).unwrap();
    for (data, what) in [
        (json!({"name": "", "roll_no": "5"}).to_string(), "name"),
        (
            json!({"name": "Lisa", "roll_no": "   "}).to_string(),
            "roll_no",
        ),
        (
            json!({"name": "x".repeat(101), "roll_no": "5"}).to_string(),
            "name",
        ),
        (
            json!({"name": "Lisa", "roll_no": "5".repeat(33)}).to_string(),
            "roll_no",
        ),
        (json!({"name": "Lisa"}).to_string(), "roll_no"),
        ("not json".to_owned(), "data"),
    ] {
        let form = Form::new()
            .text("data", data.clone())
            .part("image", part(kudrow.clone(), "k.jpg", "image/jpeg"));
        let r = app
            .client
            .post(app.url("/addStudent"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let body = expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            body["detail"].as_str().unwrap().contains(what),
            "{data}: {body}"
        );
    }
    let form = Form::new().text("data", json!({"name": "Lisa", "roll_no": "5"}).to_string());
    let r = app
        .client
        .post(app.url("/addStudent"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body = expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body["detail"].as_str().unwrap().contains("image"), "{body}");
    // Empty file: 400.
    let r = app
        .add_student_part(&token, "Lisa", "5", part(Vec::new(), "k.jpg", "image/jpeg"))
        .await;
    expect(r, StatusCode::BAD_REQUEST).await;
    // Too large: 413.
    let r = app
        .add_student_part(
            &token,
            "Lisa",
            "5",
            part(vec![0xFF; 3 * 1024 * 1024], "k.jpg", "image/jpeg"),
        )
        .await;
    // The server did not read the rest of the body, so it closes the
    // connection and says so: the client must not reuse it.
    assert_eq!(r.headers()["connection"], "close");
    let body = expect(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(body["detail"].is_string());
    // Not multipart: 415.
    let r = app
        .client
        .post(app.url("/addStudent"))
        .bearer_auth(&token)
        .json(&json!({"name": "Lisa", "roll_no": "5"}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    // Deletion: 200, then 404; the face can then be enrolled again.
    let body = expect(
        app.call(Method::DELETE, "/delete_student/10", &token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["msg"], "Student deleted successfully");
    expect(
        app.call(Method::DELETE, "/delete_student/10", &token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect(
        app.add_student(&token, "Perry Again", "11", &perry).await,
        StatusCode::OK,
    )
    .await;
    let list = app.get_json("/get_all_students", &token).await;
    assert_eq!(
        roll_nos(&list["msg"]),
        ["11", "2", "3"].iter().map(|s| s.to_string()).collect()
    );

    // Everything is in the OpenAPI document.
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for path in [
        "/addStudent",
        "/get_all_students",
        "/delete_student/{roll_no}",
        "/mark_attendance",
        "/get-attendance/{roll_no}",
        "/get-all-attendance",
        "/attendance/report",
        "/attendance/{roll_no}/{date}",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(
        doc["paths"]["/addStudent"]["post"]["requestBody"]["content"]["multipart/form-data"]
            .is_object()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn student_lifecycle_sqlite() {
    student_lifecycle(Backend::SqliteInProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn student_lifecycle_postgres() {
    student_lifecycle(Backend::PostgresRedis).await;
}

/// A second teacher can neither see nor change the first one's students.
async fn teachers_are_isolated(backend: Backend) {
    let app = spawn(backend, |s| {
        s.attendance_date = Some("2024-09-02".parse().unwrap());
    })
    .await;
    let alice = app.signed_in_teacher().await;
    let bob = app.signed_in_teacher().await;
    let cox = app.enrol_person(&alice, "courteney_cox", "1").await;
    app.enrol_person(&alice, "jennifer_aniston", "2").await;
    let group = photo("groups/friends_four.jpg");
    expect(app.mark(&alice, group.clone()).await, StatusCode::OK).await;

    assert_eq!(
        app.get_json("/get_all_students", &bob).await,
        json!({"msg": []})
    );
    for (method, path) in [
        (Method::DELETE, "/delete_student/1"),
        (Method::GET, "/get-attendance/1"),
        (Method::PUT, "/attendance/1/2024-09-03"),
        (Method::DELETE, "/attendance/1/2024-09-02"),
    ] {
        let body = expect(
            app.call(method.clone(), path, &bob).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert!(
            !body.to_string().contains("courteney"),
            "{method} {path}: {body}"
        );
    }
    // Bob has no students: marking is 404, reports are empty.
    expect(app.mark(&bob, group.clone()).await, StatusCode::NOT_FOUND).await;
    let r = app.call(Method::GET, "/get-all-attendance", &bob).await;
    assert_eq!(r.text().await.unwrap(), "Name,Roll_no,Present_dates\n");
    assert_eq!(
        app.get_json("/attendance/report", &bob).await,
        json!({"start_date": null, "end_date": null, "dates": [], "students": []})
    );

    // Bob may enrol the same person in his own class; marking touches only his student.
    expect(
        app.add_student(&bob, "Courteney", "1", &cox).await,
        StatusCode::OK,
    )
    .await;
    let body = expect(app.mark(&bob, group).await, StatusCode::OK).await;
    assert_eq!(roll_nos(&body["marked"]), ["1".to_owned()].into());
    assert_eq!(body["absent"], json!([]));

    // Alice's data is intact.
    let body = app.get_json("/get-attendance/1", &alice).await;
    assert_eq!(body["data"], json!(["2024-09-02"]));
    let list = app.get_json("/get_all_students", &alice).await;
    assert_eq!(roll_nos(&list["msg"]).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teachers_are_isolated_sqlite() {
    teachers_are_isolated(Backend::SqliteInProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teachers_are_isolated_postgres() {
    teachers_are_isolated(Backend::PostgresRedis).await;
}

/// Issue 10, item 14: one spelling per roll number (NFC), no invisible or bidirectional
/// characters, no dot-only roll numbers; look-ups normalise too.
async fn roll_numbers_have_one_spelling(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let token = app.signed_in_teacher().await;
    let photos = identity_photos("barack_obama");
    let mut enrolled = false;
    for p in &photos {
        // "ü" as one precomposed character.
        let r = app.add_student(&token, "Müller", "M\u{fc}1", p).await;
        if r.status() == StatusCode::OK {
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["student"]["roll_no"], "M\u{fc}1");
            enrolled = true;
            break;
        }
    }
    assert!(enrolled, "no photo accepted");
    // "u" + combining diaeresis is the same roll number: refused as taken, before the photo
    // is even looked at.
    let other = identity_photos("joe_biden");
    let r = app
        .add_student(&token, "Other", "Mu\u{308}1", &other[0])
        .await;
    let body = expect(r, StatusCode::CONFLICT).await;
    assert!(
        body["detail"].as_str().unwrap().contains("already exists"),
        "{body}"
    );
    // Look-ups normalise: the decomposed spelling in a path finds the student.
    let decomposed = "Mu%CC%881";
    let body = app
        .get_json(&format!("/get-attendance/{decomposed}"), &token)
        .await;
    assert_eq!(body["data"], json!([]));
    // Invisible, control, bidirectional and dot-only roll numbers are refused with a reason.
    for (roll, reason) in [
        ("1\u{200B}2", "U+200B"),
        ("\u{202E}21", "U+202E"),
        ("12\u{2066}", "U+2066"),
        ("1\u{200D}2", "U+200D"),
        ("1\u{FEFF}", "U+FEFF"),
        ("1\u{A0}2", "U+00A0"),
        (".", "dots only"),
        ("..", "dots only"),
        ("", "must not be empty"),
    ] {
        let r = app.add_student(&token, "Invisible", roll, &other[0]).await;
        let body = expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(reason), "{roll:?}: {detail}");
        assert!(detail.contains("roll_no"), "{roll:?}: {detail}");
    }
    let list = app.get_json("/get_all_students", &token).await;
    assert_eq!(roll_nos(&list["msg"]).len(), 1, "{list}");
    // Deleting through the decomposed spelling deletes the one student.
    let r = app
        .call(
            Method::DELETE,
            &format!("/delete_student/{decomposed}"),
            &token,
        )
        .await;
    expect(r, StatusCode::OK).await;
    let list = app.get_json("/get_all_students", &token).await;
    assert_eq!(list["msg"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roll_numbers_have_one_spelling_sqlite() {
    roll_numbers_have_one_spelling(Backend::SqliteInProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roll_numbers_have_one_spelling_postgres() {
    roll_numbers_have_one_spelling(Backend::PostgresRedis).await;
}
