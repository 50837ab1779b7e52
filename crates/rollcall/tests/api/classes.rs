//! End-to-end tests of classes: the real server on 127.0.0.1:0 with the real face models
//! and real photos from `../shared/faces`.
//!
//! Photo analyses are slow on small machines, so the photo test does few: five enrolments
//! (more if a photo fails the quality gate) and two analyses of one group photo (`friends_four.jpg`: Courteney Cox, Jennifer
//! Aniston, Matt LeBlanc, Matthew Perry).

use crate::common;
use crate::support::classroom;

use std::collections::BTreeSet;
use std::time::Duration;

use classroom::{part, photo, roll_nos};
use common::{Backend, TestApp, expect, expect_unauthorized, spawn};
use reqwest::multipart::Form;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

const DAY: &str = "2024-09-02";
/// The web app's origin, allowed by CORS.
const APP_ORIGIN: &str = "https://app.school.example";

async fn app(backend: Backend) -> TestApp {
    spawn(backend, |s| {
        s.attendance_date = Some(DAY.parse().unwrap());
        s.vision.queue_timeout = Duration::from_secs(600);
        s.cors_origins = vec![APP_ORIGIN.to_owned()];
    })
    .await
}

impl TestApp {
    /// A request with a token and a JSON body.
    async fn send_json(&self, method: Method, path: &str, token: &str, body: Value) -> Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /classes` and the new class's id.
    async fn create_class(&self, token: &str, name: &str) -> i64 {
        let r = self
            .send_json(Method::POST, "/classes", token, json!({ "name": name }))
            .await;
        let body = expect(r, StatusCode::CREATED).await;
        assert_eq!(body["name"], name);
        body["id"].as_i64().unwrap()
    }

    /// The default class's id, from `GET /classes`.
    async fn default_class(&self, token: &str) -> i64 {
        let body = self.get_json("/classes", token).await;
        let default = body["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["default"] == true)
            .unwrap_or_else(|| panic!("no default class: {body}"));
        default["id"].as_i64().unwrap()
    }

    /// `POST /classes/{class}/students` with `{"roll_nos": [...]}`.
    async fn add_members(&self, token: &str, class: i64, rolls: &[&str]) -> Response {
        self.send_json(
            Method::POST,
            &format!("/classes/{class}/students"),
            token,
            json!({ "roll_nos": rolls }),
        )
        .await
    }

    /// `POST /classes/{class}/attendance` with a photo.
    async fn mark_class(&self, token: &str, class: i64, bytes: Vec<u8>) -> Response {
        let form = Form::new().part("file", part(bytes, "class.jpg", "image/jpeg"));
        self.client
            .post(self.url(&format!("/classes/{class}/attendance")))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Enrols `person` (roll number = their folder name) straight into `class` with the
    /// `/addStudent` multipart body, from the first of their photos the quality gate
    /// accepts; returns the answer.
    async fn enrol_into_class(&self, token: &str, class: i64, name: &str, person: &str) -> Value {
        let mut refused = Vec::new();
        for path in classroom::identity_photos(person) {
            let form = Form::new()
                .text("data", json!({"name": name, "roll_no": person}).to_string())
                .part(
                    "image",
                    part(std::fs::read(&path).unwrap(), "photo.jpg", "image/jpeg"),
                );
            let r = self
                .client
                .post(self.url(&format!("/classes/{class}/students")))
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            if r.status() == StatusCode::OK {
                return r.json().await.unwrap();
            }
            let status = r.status();
            let body = r.text().await.unwrap();
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            refused.push(body);
        }
        panic!("no photo of {person} passes the quality gate: {refused:?}");
    }

    /// The members of a class, by roll number.
    async fn members(&self, token: &str, class: i64) -> Vec<String> {
        let body = self
            .get_json(&format!("/classes/{class}/students"), token)
            .await;
        body["msg"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["roll_no"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// The students a marking response recognised (newly marked or already present).
fn recognised(body: &Value) -> BTreeSet<String> {
    let mut all = roll_nos(&body["marked"]);
    all.extend(roll_nos(&body["already_present"]));
    all
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Each face is in exactly one list.
fn assert_faces_accounted(body: &Value) {
    let len = |key: &str| body[key].as_array().map_or(0, Vec::len);
    assert_eq!(
        body["faces_detected"].as_u64().unwrap() as usize,
        len("marked") + len("already_present") + len("unknown_faces") + len("not_in_class"),
        "{body}"
    );
}

const COX: &str = "courteney_cox";
const ANISTON: &str = "jennifer_aniston";
const LEBLANC: &str = "matt_leblanc";
const PERRY: &str = "matthew_perry";
const KUDROW: &str = "lisa_kudrow";

/// Two classes sharing a student; a group photo marked in one class: its members marked,
/// the other class untouched, a member of the other class reported as not in this class;
/// then the original endpoints on the default class, unchanged.
async fn two_classes_sharing_students_with_a_group_photo(backend: Backend) {
    let app = app(backend).await;
    let token = app.signed_in_teacher().await;
    let default = app.default_class(&token).await;

    // Four students in the default class, as the original frontend enrols them.
    for person in [COX, ANISTON, LEBLANC, PERRY] {
        app.enrol_person(&token, person, person).await;
    }
    let maths = app.create_class(&token, "7B Maths").await;
    let science = app.create_class(&token, "7B Science").await;

    // Maths: Cox, Aniston, LeBlanc. Science: LeBlanc, Perry, and Kudrow, enrolled straight
    // into it with the /addStudent body.
    let r = app
        .add_members(&token, maths, &[COX, ANISTON, LEBLANC])
        .await;
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(roll_nos(&body["added"]), set(&[COX, ANISTON, LEBLANC]));
    assert_eq!(body["already_members"], json!([]));
    let r = app.add_members(&token, science, &[LEBLANC, PERRY]).await;
    expect(r, StatusCode::OK).await;
    let body = app
        .enrol_into_class(&token, science, "Lisa Kudrow", KUDROW)
        .await;
    assert_eq!(body["msg"], "The Student is registered successfully");
    assert_eq!(
        body["student"],
        json!({"name": "Lisa Kudrow", "roll_no": KUDROW})
    );
    // A face is enrolled once per teacher, whatever the class: Cox's photo under another
    // roll number is refused, in Science too.
    let cox_photo = classroom::faces_dir().join("identities/courteney_cox/2.jpg");
    let form = Form::new()
        .text(
            "data",
            json!({"name": "Again", "roll_no": "cox-2"}).to_string(),
        )
        .part(
            "image",
            part(std::fs::read(cox_photo).unwrap(), "c.jpg", "image/jpeg"),
        );
    let r = app
        .client
        .post(app.url(&format!("/classes/{science}/students")))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body = expect(r, StatusCode::CONFLICT).await;
    assert_eq!(
        body["detail"],
        format!("This face is already enrolled as roll number {COX} ({COX})")
    );
    assert_eq!(app.members(&token, science).await, [KUDROW, LEBLANC, PERRY]);
    assert_eq!(app.members(&token, maths).await, [COX, ANISTON, LEBLANC]);
    assert_eq!(
        app.members(&token, default).await,
        [COX, ANISTON, LEBLANC, PERRY],
        "enrolled into Science only"
    );
    // Every student of the teacher, whatever their classes.
    let all = app.get_json("/get_all_students", &token).await;
    assert_eq!(
        roll_nos(&all["msg"]),
        set(&[COX, ANISTON, LEBLANC, PERRY, KUDROW])
    );
    let classes = app.get_json("/classes", &token).await;
    let counts: Vec<(String, i64)> = classes["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["students"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("Default class".to_owned(), 4),
            ("7B Maths".to_owned(), 3),
            ("7B Science".to_owned(), 3)
        ]
    );

    // The group photo, marked in Maths.
    let group = photo("groups/friends_four.jpg");
    let r = app.mark_class(&token, maths, group.clone()).await;
    let body = expect(r, StatusCode::OK).await;
    assert_faces_accounted(&body);
    assert_eq!(body["date"], DAY);
    let marked_in_maths = recognised(&body);
    assert!(
        marked_in_maths.is_subset(&set(&[COX, ANISTON, LEBLANC])),
        "only members are marked: {body}"
    );
    assert!(marked_in_maths.len() >= 2, "{body}");
    assert_eq!(roll_nos(&body["marked"]), marked_in_maths);
    // Perry is in the photo but not in the class: reported, with his face box.
    let not_in_class = body["not_in_class"].as_array().unwrap();
    assert_eq!(roll_nos(&body["not_in_class"]), set(&[PERRY]), "{body}");
    assert_eq!(not_in_class[0]["name"], PERRY);
    assert!(not_in_class[0]["similarity"].as_f64().unwrap() >= 0.42);
    assert!(not_in_class[0]["box"]["w"].as_f64().unwrap() > 0.0);
    // Absent: the members not recognised.
    let absent = roll_nos(&body["absent"]);
    assert_eq!(
        absent,
        set(&[COX, ANISTON, LEBLANC])
            .difference(&marked_in_maths)
            .cloned()
            .collect::<BTreeSet<_>>()
    );

    let report = app
        .get_json(&format!("/classes/{maths}/attendance"), &token)
        .await;
    assert_eq!(report["dates"], json!([DAY]));
    for row in report["students"].as_array().unwrap() {
        let roll = row["roll_no"].as_str().unwrap();
        let present = marked_in_maths.contains(roll);
        assert_eq!(row["present"], json!([present]), "{row}");
        assert_eq!(row["percentage"], if present { 100.0 } else { 0.0 });
    }
    // The other class and the default class are untouched.
    let science_report = app
        .get_json(&format!("/classes/{science}/attendance"), &token)
        .await;
    assert_eq!(science_report["dates"], json!([]), "{science_report}");
    assert_eq!(science_report["students"].as_array().unwrap().len(), 3);
    for person in [COX, ANISTON, LEBLANC, PERRY] {
        let body = app
            .get_json(&format!("/get-attendance/{person}"), &token)
            .await;
        assert_eq!(body["data"], json!([]), "{person} in the default class");
    }
    let default_report = app.get_json("/attendance/report", &token).await;
    assert_eq!(default_report["dates"], json!([]));

    // Corrections are per class: LeBlanc is present in Science by hand, not in Maths by it.
    let r = app
        .call(
            Method::PUT,
            &format!("/classes/{science}/attendance/{LEBLANC}/{DAY}"),
            &token,
        )
        .await;
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(body["present"], true);
    let csv = app
        .call(
            Method::GET,
            &format!("/classes/{science}/attendance?format=csv"),
            &token,
        )
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            &format!("Name,Roll_no,{DAY},Days_present,Percentage"),
            "Lisa Kudrow,lisa_kudrow,A,0,0.0",
            "matt_leblanc,matt_leblanc,P,1,100.0",
            "matthew_perry,matthew_perry,A,0,0.0",
        ]
    );
    // A student who is not a member has no attendance to correct in the class.
    let r = app
        .call(
            Method::PUT,
            &format!("/classes/{maths}/attendance/{KUDROW}/{DAY}"),
            &token,
        )
        .await;
    expect(r, StatusCode::NOT_FOUND).await;
    let r = app
        .call(Method::PUT, &format!("/attendance/{KUDROW}/{DAY}"), &token)
        .await;
    expect(r, StatusCode::NOT_FOUND).await;
    let body = app
        .get_json(&format!("/get-attendance/{KUDROW}"), &token)
        .await;
    assert_eq!(body, json!({ "data": [] }));

    // The original endpoint marks the default class, with the original sentence; Kudrow,
    // not a member of it, is not in the photo.
    let r = app.mark(&token, group).await;
    let body = expect(r, StatusCode::OK).await;
    assert_faces_accounted(&body);
    let marked_in_default = roll_nos(&body["marked"]);
    assert_eq!(
        body["msg"],
        format!(
            "attendance marked succesfully for {} faces out of total {} detected faces",
            marked_in_default.len(),
            body["faces_detected"]
        )
    );
    assert!(
        marked_in_default.is_superset(&marked_in_maths),
        "a member is newly marked in the default class too: {body}"
    );
    assert!(marked_in_default.contains(PERRY), "{body}");
    assert_eq!(body["not_in_class"], json!([]));
    for person in [COX, ANISTON, LEBLANC, PERRY] {
        let body = app
            .get_json(&format!("/get-attendance/{person}"), &token)
            .await;
        let expected = if marked_in_default.contains(person) {
            json!([DAY])
        } else {
            json!([])
        };
        assert_eq!(body["data"], expected, "{person}");
    }
    // Maths still has one record per student, Science only the manual one.
    let report = app
        .get_json(&format!("/classes/{maths}/attendance"), &token)
        .await;
    let days: u64 = report["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["days_present"].as_u64().unwrap())
        .sum();
    assert_eq!(days, marked_in_maths.len() as u64);
    let science_report = app
        .get_json(&format!("/classes/{science}/attendance"), &token)
        .await;
    assert_eq!(science_report["dates"], json!([DAY]));

    // Correcting back: absent in Science, once.
    for msg in ["Marked absent", "Was not marked present"] {
        let r = app
            .call(
                Method::DELETE,
                &format!("/classes/{science}/attendance/{LEBLANC}/{DAY}"),
                &token,
            )
            .await;
        let body = expect(r, StatusCode::OK).await;
        assert_eq!(
            body,
            json!({"msg": msg, "roll_no": LEBLANC, "date": DAY, "present": false})
        );
    }
    let science_report = app
        .get_json(&format!("/classes/{science}/attendance"), &token)
        .await;
    assert_eq!(science_report["dates"], json!([]));

    // Leaving a class, deleting a class, deleting a student.
    let r = app
        .call(
            Method::DELETE,
            &format!("/classes/{maths}/students/{COX}"),
            &token,
        )
        .await;
    expect(r, StatusCode::OK).await;
    assert_eq!(app.members(&token, maths).await, [ANISTON, LEBLANC]);
    let r = app
        .call(
            Method::DELETE,
            &format!("/classes/{maths}/students/{COX}"),
            &token,
        )
        .await;
    expect(r, StatusCode::NOT_FOUND).await;
    let r = app
        .call(Method::DELETE, &format!("/classes/{science}"), &token)
        .await;
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(body["msg"], "Class deleted successfully");
    let r = app
        .call(Method::GET, &format!("/classes/{science}"), &token)
        .await;
    expect(r, StatusCode::NOT_FOUND).await;
    let all = app.get_json("/get_all_students", &token).await;
    assert_eq!(all["msg"].as_array().unwrap().len(), 5, "students stay");
    let r = app
        .call(
            Method::DELETE,
            &format!("/delete_student/{LEBLANC}"),
            &token,
        )
        .await;
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(body, json!({ "msg": "Student deleted successfully" }));
    assert_eq!(app.members(&token, maths).await, [ANISTON]);
    assert_eq!(
        app.members(&token, default).await,
        [COX, ANISTON, PERRY],
        "removed from every class"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_classes_sharing_students_with_a_group_photo_sqlite() {
    two_classes_sharing_students_with_a_group_photo(Backend::SqliteInProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_classes_sharing_students_with_a_group_photo_postgres() {
    two_classes_sharing_students_with_a_group_photo(Backend::PostgresRedis).await;
}

/// Class management over HTTP, without photos: CRUD, validation, membership errors, the
/// default class, the teacher scope (another teacher's class is a 404 like a missing one),
/// the original endpoints on a new account, and the OpenAPI document.
async fn classes_over_http(backend: Backend) {
    let app = app(backend).await;
    let token = app.signed_in_teacher().await;
    let other = app.signed_in_teacher().await;

    // A new account: its default class, and the original endpoints as before.
    let body = app.get_json("/classes", &token).await;
    let classes = body["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 1);
    assert_eq!(classes[0]["name"], "Default class");
    assert_eq!(classes[0]["default"], true);
    assert_eq!(classes[0]["students"], 0);
    let default = classes[0]["id"].as_i64().unwrap();
    assert_eq!(
        app.get_json("/get_all_students", &token).await,
        json!({ "msg": [] })
    );
    let csv = app
        .call(Method::GET, "/get-all-attendance", &token)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.trim_end(), "Name,Roll_no,Present_dates");
    let r = app.mark(&token, photo("groups/friends_four.jpg")).await;
    let body = expect(r, StatusCode::NOT_FOUND).await;
    assert_eq!(
        body["detail"],
        "No students found for this teacher; add students first"
    );
    let r = app.call(Method::GET, "/get-attendance/1", &token).await;
    let body = expect(r, StatusCode::NOT_FOUND).await;
    assert_eq!(body["detail"], "Student not found");

    // Create, with validation.
    let r = app
        .send_json(
            Method::POST,
            "/classes",
            &token,
            json!({"name": "  7B Maths ", "note": "Room 12"}),
        )
        .await;
    let created = expect(r, StatusCode::CREATED).await;
    assert_eq!(created["name"], "7B Maths");
    assert_eq!(created["note"], "Room 12");
    assert_eq!(created["default"], false);
    assert_eq!(created["students"], 0);
    let maths = created["id"].as_i64().unwrap();
    let r = app
        .send_json(
            Method::POST,
            "/classes",
            &token,
            json!({"name": "7b MATHS"}),
        )
        .await;
    let body = expect(r, StatusCode::CONFLICT).await;
    assert!(
        body["detail"].as_str().unwrap().contains("already exists"),
        "{body}"
    );
    for bad in [
        json!({"name": "   "}),
        json!({}),
        json!({"name": "x".repeat(101)}),
        json!({"name": "7B\nMaths"}),
        json!({"name": 7}),
        json!({"name": "Art", "note": "a\u{7}"}),
    ] {
        let r = app
            .send_json(Method::POST, "/classes", &token, bad.clone())
            .await;
        let body = expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(body["detail"].is_string(), "{bad}: {body}");
    }
    // Another teacher may use the same name.
    app.create_class(&other, "7B Maths").await;

    // Read, rename, change the note.
    let body = app.get_json(&format!("/classes/{maths}"), &token).await;
    assert_eq!(body, created);
    let r = app
        .send_json(
            Method::PATCH,
            &format!("/classes/{maths}"),
            &token,
            json!({"name": "7B Mathematics"}),
        )
        .await;
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(body["name"], "7B Mathematics");
    assert_eq!(body["note"], "Room 12");
    let r = app
        .send_json(
            Method::PATCH,
            &format!("/classes/{maths}"),
            &token,
            json!({"note": null}),
        )
        .await;
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(body["note"], Value::Null);
    assert_eq!(body["name"], "7B Mathematics");
    let r = app
        .send_json(
            Method::PATCH,
            &format!("/classes/{maths}"),
            &token,
            json!({}),
        )
        .await;
    expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let r = app
        .send_json(
            Method::PATCH,
            &format!("/classes/{default}"),
            &token,
            json!({"name": "7b mathematics"}),
        )
        .await;
    expect(r, StatusCode::CONFLICT).await;
    // The default class can be renamed, not deleted.
    let r = app
        .send_json(
            Method::PATCH,
            &format!("/classes/{default}"),
            &token,
            json!({"name": "Homeroom"}),
        )
        .await;
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(body["default"], true);
    let r = app
        .call(Method::DELETE, &format!("/classes/{default}"), &token)
        .await;
    let body = expect(r, StatusCode::CONFLICT).await;
    assert!(body["detail"].as_str().unwrap().contains("default class"));

    // Membership errors.
    let r = app.add_members(&token, maths, &["404"]).await;
    let body = expect(r, StatusCode::NOT_FOUND).await;
    assert_eq!(body["detail"], "No student with roll number 404");
    let r = app.add_members(&token, maths, &[]).await;
    expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let r = app
        .send_json(
            Method::POST,
            &format!("/classes/{maths}/students"),
            &token,
            json!({"roll_nos": "1"}),
        )
        .await;
    expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let r = app
        .client
        .post(app.url(&format!("/classes/{maths}/students")))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("1")
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let r = app
        .client
        .post(app.url(&format!("/classes/{maths}/students")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"roll_nos\": [\"{}\"]}}",
            "1".repeat(app.settings.json_body_limit)
        ))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    let r = app
        .call(
            Method::DELETE,
            &format!("/classes/{maths}/students/1"),
            &token,
        )
        .await;
    let body = expect(r, StatusCode::NOT_FOUND).await;
    assert_eq!(body["detail"], "Student not found");
    // A class without members cannot take attendance (nothing is analysed): 409, since the
    // class exists (Schemathesis flagged the former 404 for a class just created).
    let r = app
        .mark_class(&token, maths, photo("groups/friends_four.jpg"))
        .await;
    let body = expect(r, StatusCode::CONFLICT).await;
    assert_eq!(
        body["detail"],
        "This class has no students; add students first"
    );
    let report = app
        .get_json(
            &format!("/classes/{maths}/attendance?start_date=2024-01-01&end_date=2024-12-31"),
            &token,
        )
        .await;
    assert_eq!(report["students"], json!([]));
    let r = app
        .call(
            Method::GET,
            &format!("/classes/{maths}/attendance?start_date=2024-12-31&end_date=2024-01-01"),
            &token,
        )
        .await;
    expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let r = app
        .call(
            Method::PUT,
            &format!("/classes/{maths}/attendance/1/yesterday"),
            &token,
        )
        .await;
    expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;

    // Another teacher's class is a 404, exactly like a class that does not exist.
    let missing = app.get_json("/classes", &other).await["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .max()
        .unwrap()
        + 1000;
    for class in [
        maths.to_string(),
        default.to_string(),
        missing.to_string(),
        "x".into(),
    ] {
        let mut answers = Vec::new();
        for (method, path) in [
            (Method::GET, format!("/classes/{class}")),
            (Method::PATCH, format!("/classes/{class}")),
            (Method::DELETE, format!("/classes/{class}")),
            (Method::GET, format!("/classes/{class}/students")),
            (Method::POST, format!("/classes/{class}/students")),
            (Method::DELETE, format!("/classes/{class}/students/1")),
            (Method::GET, format!("/classes/{class}/attendance")),
            (Method::PUT, format!("/classes/{class}/attendance/1/{DAY}")),
            (
                Method::DELETE,
                format!("/classes/{class}/attendance/1/{DAY}"),
            ),
        ] {
            let r = app
                .send_json(
                    method.clone(),
                    &path,
                    &other,
                    json!({"name": "mine", "roll_nos": ["1"]}),
                )
                .await;
            answers.push(expect(r, StatusCode::NOT_FOUND).await);
        }
        // Refused before the upload is read (or analysed).
        let r = app
            .mark_class(&other, class.parse().unwrap_or(0), b"not read".to_vec())
            .await;
        answers.push(expect(r, StatusCode::NOT_FOUND).await);
        assert!(
            answers
                .iter()
                .all(|b| *b == json!({"detail": "Class not found"})),
            "{class}: {answers:?}"
        );
    }
    // Nothing changed for the owner.
    let body = app.get_json(&format!("/classes/{maths}"), &token).await;
    assert_eq!(body["name"], "7B Mathematics");
    let r = app.call(Method::GET, "/classes", "not-a-token").await;
    expect_unauthorized(r).await;

    // Deleting.
    let r = app
        .call(Method::DELETE, &format!("/classes/{maths}"), &token)
        .await;
    expect(r, StatusCode::OK).await;
    let r = app
        .call(Method::DELETE, &format!("/classes/{maths}"), &token)
        .await;
    expect(r, StatusCode::NOT_FOUND).await;
    assert_eq!(
        app.get_json("/classes", &token).await["classes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A browser app may rename a class: PATCH passes the CORS preflight.
    let r = app
        .client
        .request(Method::OPTIONS, app.url(&format!("/classes/{default}")))
        .header("origin", APP_ORIGIN)
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["access-control-allow-origin"], APP_ORIGIN);
    let allowed = r.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allowed.contains("PATCH"), "{allowed}");

    // The OpenAPI document has every new operation, with its errors.
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for (path, method, statuses) in [
        ("/classes", "get", &["200", "401"][..]),
        ("/classes", "post", &["201", "409", "422"][..]),
        ("/classes/{class_id}", "get", &["200", "404"][..]),
        (
            "/classes/{class_id}",
            "patch",
            &["200", "404", "409", "422"][..],
        ),
        ("/classes/{class_id}", "delete", &["200", "404", "409"][..]),
        ("/classes/{class_id}/students", "get", &["200", "404"][..]),
        (
            "/classes/{class_id}/students",
            "post",
            &["200", "404", "409", "415", "422", "503"][..],
        ),
        (
            "/classes/{class_id}/students/{roll_no}",
            "delete",
            &["200", "404"][..],
        ),
        (
            "/classes/{class_id}/attendance",
            "post",
            &["200", "400", "404", "413", "503"][..],
        ),
        (
            "/classes/{class_id}/attendance",
            "get",
            &["200", "404", "422"][..],
        ),
        (
            "/classes/{class_id}/attendance/{roll_no}/{date}",
            "put",
            &["200", "404", "422"][..],
        ),
        (
            "/classes/{class_id}/attendance/{roll_no}/{date}",
            "delete",
            &["200", "404", "422"][..],
        ),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        for status in statuses {
            assert!(
                op["responses"][status].is_object(),
                "{method} {path}: no {status}"
            );
        }
    }
    let request = &doc["paths"]["/classes/{class_id}/students"]["post"]["requestBody"]["content"];
    assert!(request["application/json"].is_object(), "{request}");
    assert!(request["multipart/form-data"].is_object(), "{request}");
    let marked = &doc["components"]["schemas"]["MarkAttendanceResponse"]["properties"];
    assert!(marked["not_in_class"].is_object(), "{marked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classes_over_http_sqlite() {
    classes_over_http(Backend::SqliteInProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classes_over_http_postgres() {
    classes_over_http(Backend::PostgresRedis).await;
}
