//! End-to-end attendance tests: the real server on 127.0.0.1:0 with the real face models,
//! real photos from `../shared/faces`, on SQLite and on PostgreSQL (+ Redis).

use crate::common;
use crate::support::classroom;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::NaiveDate;
use classroom::{all_groups, all_people, part, photo, roll_nos};
use common::{Backend, TestApp, expect, spawn};
use reqwest::multipart::Form;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const DAY: &str = "2024-09-02";
/// How long a photo may wait for an inference worker in these tests.
const QUEUE_TIMEOUT_S: u64 = 60;

fn day() -> NaiveDate {
    DAY.parse().unwrap()
}

async fn class_app(backend: Backend) -> TestApp {
    spawn(backend, |s| {
        s.attendance_date = Some(day());
        // Ten simultaneous photos must all wait their turn: about 1 s each on 2 cores, so
        // the last waits ~5 s; a queue timeout of 60 s turns a far slower engine into a
        // 503 that says so, not a hang.
        s.vision.workers = 2;
        s.vision.queue = 16;
        s.vision.queue_timeout = Duration::from_secs(QUEUE_TIMEOUT_S);
        // ... from one account: lift the per-teacher upload cap (2 by default, issue 10).
        s.hardening.uploads_per_teacher = 16;
    })
    .await
}

/// The students a response recognised (newly marked or already present).
fn recognised(body: &Value) -> BTreeSet<String> {
    let mut all = roll_nos(&body["marked"]);
    all.extend(roll_nos(&body["already_present"]));
    all
}

/// The students a response suggests for the teacher to confirm (not marked).
fn suggested(body: &Value) -> BTreeSet<String> {
    body["unknown_faces"]
        .as_array()
        .map(|faces| {
            faces
                .iter()
                .filter_map(|f| f["suggestion"]["roll_no"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Measured on the pinned photo set with the default models (as the engine's own group test,
/// `crates/face/tests/groups.rs`, whose roster is enrolled by the same rule): labelled people
/// marked present without asking, over the labelled photos but the 300x168 one.
const MARKED_MEASURED: usize = 30;
/// ... and suggested as themselves for the teacher to confirm (not marked, not counted found).
const SUGGESTED_MEASURED: usize = 3;
/// Suggestions naming someone who is not in the photo (the teacher declines them).
const WRONG_SUGGESTIONS_MEASURED: usize = 1;

/// Enrol every person of `identities/` (51) from the first photo the quality gate accepts,
/// mark attendance from every group photo (labelled people and strangers), and compare what
/// was recognised with the labels: nobody marked who is not in the photo, and as many marked
/// as measured. A suggestion is not a recognition: it only counts once a teacher confirms it.
async fn group_photos_mark_the_labelled_people(backend: Backend) {
    let app = class_app(backend).await;
    let token = app.signed_in_teacher().await;

    // No students yet: 404.
    let r = app.mark(&token, photo("groups/friends_four.jpg")).await;
    expect(r, StatusCode::NOT_FOUND).await;

    let people = all_people();
    assert_eq!(people.len(), 51, "people in identities/");
    for person in &people {
        app.enrol_person(&token, person, person).await;
    }
    let everyone: BTreeSet<String> = people.iter().cloned().collect();
    let roster = app.get_json("/get_all_students", &token).await;
    assert_eq!(roll_nos(&roster["msg"]), everyone);

    let (mut strangers_marked, mut marked_right, mut suggested_right) = (Vec::new(), 0, 0);
    let mut wrong_suggestions = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut suggested_people: BTreeSet<String> = BTreeSet::new();
    for group in all_groups() {
        let r = app
            .mark(&token, photo(&format!("groups/{}", group.file)))
            .await;
        let body = expect(r, StatusCode::OK).await;
        let got = recognised(&body);
        let to_confirm = suggested(&body);
        let absent = roll_nos(&body["absent"]);
        assert_eq!(
            absent,
            everyone.difference(&got).cloned().collect::<BTreeSet<_>>(),
            "{}: absent must be everyone not recognised: {body}",
            group.file
        );
        let faces = body["faces_detected"].as_u64().unwrap() as usize;
        assert_eq!(
            faces,
            body["marked"].as_array().unwrap().len()
                + body["already_present"].as_array().unwrap().len()
                + body["unknown_faces"].as_array().unwrap().len(),
            "{body}"
        );
        assert!(
            got.is_disjoint(&to_confirm),
            "{}: a student both recognised and suggested: {body}",
            group.file
        );
        // Newly marked are those not recognised by an earlier photo of the day.
        let newly = roll_nos(&body["marked"]);
        let again = roll_nos(&body["already_present"]);
        assert!(
            newly.is_disjoint(&seen),
            "{}: marked twice: {body}",
            group.file
        );
        assert!(again.is_subset(&seen), "{}: {body}", group.file);
        seen.extend(got.iter().cloned());
        for name in got.difference(&group.people) {
            strangers_marked.push(format!("{}: {name}", group.file));
        }
        for name in to_confirm.difference(&group.people) {
            wrong_suggestions.push(format!("{}: {name}", group.file));
        }
        eprintln!(
            "{:<28} faces {faces:>2}: recognised {got:?}, suggested {to_confirm:?}, labels {:?}",
            group.file, group.people
        );
        // The 300x168 photo's ~20 px faces are beyond what the recognizer can identify
        // (the engine's own group test makes the same exception): only "nobody wrong".
        if group.file == "friends_cast_tiny.jpg" {
            continue;
        }
        marked_right += got.intersection(&group.people).count();
        suggested_right += to_confirm.intersection(&group.people).count();
        suggested_people.extend(to_confirm.intersection(&group.people).cloned());
    }
    eprintln!(
        "marked right {marked_right}, suggested right {suggested_right}, wrong suggestions \
         {wrong_suggestions:?}, strangers marked {strangers_marked:?}"
    );
    assert!(
        strangers_marked.is_empty(),
        "people marked present who are not in the photo:\n{}",
        strangers_marked.join("\n")
    );
    assert!(
        marked_right >= MARKED_MEASURED,
        "{marked_right} labelled people marked present, measured {MARKED_MEASURED}"
    );
    assert!(
        suggested_right + marked_right >= MARKED_MEASURED + SUGGESTED_MEASURED,
        "{marked_right} marked and {suggested_right} suggested as themselves, measured \
         {MARKED_MEASURED} and {SUGGESTED_MEASURED}"
    );
    assert!(
        wrong_suggestions.len() <= WRONG_SUGGESTIONS_MEASURED,
        "suggestions naming someone not in the photo: {wrong_suggestions:?}, measured \
         {WRONG_SUGGESTIONS_MEASURED}"
    );

    // Re-posting a photo marks nobody twice.
    let r = app
        .mark(&token, photo("groups/friends_cast_steps.jpg"))
        .await;
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(body["marked"], Value::Array(vec![]));
    assert_eq!(body["date"], DAY);

    // Exactly the recognised have the date; nobody else has any.
    for person in &people {
        let body = app
            .get_json(&format!("/get-attendance/{person}"), &token)
            .await;
        let expected = if seen.contains(person) {
            serde_json::json!([DAY])
        } else {
            serde_json::json!([])
        };
        assert_eq!(body["data"], expected, "{person}");
    }
    // A suggestion is confirmed by a manual mark, and only then recorded.
    if let Some(person) = suggested_people.difference(&seen).next() {
        let r = app
            .call(Method::PUT, &format!("/attendance/{person}/{DAY}"), &token)
            .await;
        expect(r, StatusCode::OK).await;
        let body = app
            .get_json(&format!("/get-attendance/{person}"), &token)
            .await;
        assert_eq!(body["data"], serde_json::json!([DAY]), "{person}");
    }

    // No face at all: 400.
    let r = app.mark(&token, photo("hard/no_face/landscape.jpg")).await;
    expect(r, StatusCode::BAD_REQUEST).await;
    // Not an image: 400.
    let r = app
        .mark(&token, photo("hard/broken_files/corrupted.png"))
        .await;
    expect(r, StatusCode::BAD_REQUEST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_photos_mark_the_labelled_people_sqlite() {
    group_photos_mark_the_labelled_people(Backend::SqliteInProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_photos_mark_the_labelled_people_postgres() {
    group_photos_mark_the_labelled_people(Backend::PostgresRedis).await;
}

/// Ten simultaneous posts of the same class photo: the same verdicts in every answer, one
/// row per student recognised (whoever the recognizer finds: that everyone is found is
/// `friends_four_marks_all_four`).
async fn concurrent_marking_is_idempotent(backend: Backend) {
    let app = class_app(backend).await;
    let token = app.signed_in_teacher().await;
    let people = [
        "courteney_cox",
        "jennifer_aniston",
        "matt_leblanc",
        "matthew_perry",
    ];
    for person in people {
        app.enrol_person(&token, person, person).await;
    }
    let bytes = photo("groups/friends_four.jpg");
    let mut posts = tokio::task::JoinSet::new();
    // The queue timeout plus one analysis: an answer always comes before this.
    let deadline = Duration::from_secs(QUEUE_TIMEOUT_S + 30);
    let client = reqwest::Client::builder()
        .timeout(deadline)
        .build()
        .unwrap();
    for _ in 0..10 {
        let (client, url) = (client.clone(), app.url("/mark_attendance"));
        let (token, bytes) = (token.clone(), bytes.clone());
        posts.spawn(async move {
            let form = Form::new().part("file", part(bytes, "class.jpg", "image/jpeg"));
            client
                .post(url)
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "no answer to POST /mark_attendance within {deadline:?} ({e}): the \
                         server should answer 200 or a queue-timeout 503 well before"
                    )
                })
        });
    }
    let responses = posts.join_all().await;
    let mut marked_total = 0;
    let mut recognised_sets = BTreeSet::new();
    for r in responses {
        let body = expect(r, StatusCode::OK).await;
        marked_total += body["marked"].as_array().unwrap().len();
        recognised_sets.insert(recognised(&body));
    }
    // Idempotence, whatever the recognizer finds: the same verdicts in every answer, each
    // student recognised newly marked exactly once, one row each.
    assert_eq!(
        recognised_sets.len(),
        1,
        "the same photo, the same verdicts: {recognised_sets:?}"
    );
    let recognised_people = recognised_sets.into_iter().next().unwrap_or_default();
    assert!(!recognised_people.is_empty());
    assert_eq!(
        marked_total,
        recognised_people.len(),
        "each student is newly marked exactly once"
    );
    for person in people {
        let body = app
            .get_json(&format!("/get-attendance/{person}"), &token)
            .await;
        let expected = if recognised_people.contains(person) {
            serde_json::json!([DAY])
        } else {
            serde_json::json!([])
        };
        assert_eq!(body["data"], expected, "{person}");
    }
    let report = app.get_json("/attendance/report", &token).await;
    assert_eq!(report["dates"], serde_json::json!([DAY]));
    for row in report["students"].as_array().unwrap() {
        let present = recognised_people.contains(row["roll_no"].as_str().unwrap_or_default());
        assert_eq!(row["days_present"], u64::from(present), "{row}");
    }
}

/// The four people of `friends_four.jpg`, each enrolled from their first photo the gate
/// accepts, are all marked present (the recognition half of the concurrency test above).
/// Fails today: Jennifer Aniston, enrolled from `identities/jennifer_aniston/1.jpg`, reaches
/// only 0.374 there (suggested, below the 0.42 marking threshold); the old test passed only
/// by enrolling `19.jpg`, chosen by measuring similarity on this very photo.
async fn friends_four_marks_all_four(backend: Backend) {
    let app = class_app(backend).await;
    let token = app.signed_in_teacher().await;
    let people = [
        "courteney_cox",
        "jennifer_aniston",
        "matt_leblanc",
        "matthew_perry",
    ];
    for person in people {
        app.enrol_person(&token, person, person).await;
    }
    let r = app.mark(&token, photo("groups/friends_four.jpg")).await;
    let body = expect(r, StatusCode::OK).await;
    let everyone: BTreeSet<String> = people.iter().map(|p| p.to_string()).collect();
    assert_eq!(recognised(&body), everyone, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reason: jennifer_aniston enrolled from her first accepted photo reaches 0.374 in \
            friends_four.jpg (marking threshold 0.42), see issue 13"]
async fn friends_four_marks_all_four_sqlite() {
    friends_four_marks_all_four(Backend::SqliteInProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reason: jennifer_aniston enrolled from her first accepted photo reaches 0.374 in \
            friends_four.jpg (marking threshold 0.42), see issue 13"]
async fn friends_four_marks_all_four_postgres() {
    friends_four_marks_all_four(Backend::PostgresRedis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_marking_is_idempotent_sqlite() {
    concurrent_marking_is_idempotent(Backend::SqliteInProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_marking_is_idempotent_postgres() {
    concurrent_marking_is_idempotent(Backend::PostgresRedis).await;
}

/// CSV export and report: quoting, date filters, manual corrections.
async fn csv_and_report(backend: Backend) {
    let app = class_app(backend).await;
    let token = app.signed_in_teacher().await;
    let tricky = r#"O'Neil, "Ace" Jr"#;
    let leblanc = classroom::identity_photos("matt_leblanc");
    let kudrow = classroom::identity_photos("lisa_kudrow");
    let add = |name: &'static str, roll: &'static str, photos: Vec<std::path::PathBuf>| {
        let app = &app;
        let token = &token;
        async move {
            for p in photos {
                if app.add_student(token, name, roll, &p).await.status() == StatusCode::OK {
                    return;
                }
            }
            panic!("no photo accepted for {name}");
        }
    };
    add(tricky, "2", leblanc).await;
    add("Zoë Ångström-Łukasz", "10", kudrow).await;

    for (roll, date) in [
        ("2", "2024-09-02"),
        ("2", "2024-09-04"),
        ("10", "2024-09-03"),
    ] {
        let body = expect(
            app.call(Method::PUT, &format!("/attendance/{roll}/{date}"), &token)
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(body["present"], true);
    }

    let csv = |query: &'static str| {
        let app = &app;
        let token = &token;
        async move {
            let r = app
                .call(Method::GET, &format!("/get-all-attendance{query}"), token)
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
            assert_eq!(
                r.headers()["content-disposition"],
                "attachment; filename=attendance.csv"
            );
            r.text().await.unwrap()
        }
    };
    assert_eq!(
        csv("").await,
        "Name,Roll_no,Present_dates\n\
         \"O'Neil, \"\"Ace\"\" Jr\",2,\"2024-09-02, 2024-09-04\"\n\
         Zoë Ångström-Łukasz,10,2024-09-03\n"
    );
    assert_eq!(
        csv("?start_date=2024-09-03&end_date=2024-09-03").await,
        "Name,Roll_no,Present_dates\n\"O'Neil, \"\"Ace\"\" Jr\",2,\nZoë Ångström-Łukasz,10,2024-09-03\n"
    );
    assert_eq!(
        csv("?start_date=2024-09-04").await,
        "Name,Roll_no,Present_dates\n\"O'Neil, \"\"Ace\"\" Jr\",2,2024-09-04\nZoë Ångström-Łukasz,10,\n"
    );
    assert_eq!(
        csv("?start_date=2025-01-01&end_date=").await,
        "Name,Roll_no,Present_dates\n\"O'Neil, \"\"Ace\"\" Jr\",2,\nZoë Ångström-Łukasz,10,\n"
    );
    for bad in [
        "?start_date=2024-02-30",
        "?end_date=yesterday",
        "?start_date=2024-09-05&end_date=2024-09-01",
    ] {
        let r = app
            .call(Method::GET, &format!("/get-all-attendance{bad}"), &token)
            .await;
        expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    }

    // Report: dates on which anyone was present; percentages.
    let report = app.get_json("/attendance/report", &token).await;
    assert_eq!(
        report["dates"],
        serde_json::json!(["2024-09-02", "2024-09-03", "2024-09-04"])
    );
    let rows = report["students"].as_array().unwrap();
    assert_eq!(rows[0]["roll_no"], "2");
    assert_eq!(rows[0]["present"], serde_json::json!([true, false, true]));
    assert_eq!(rows[1]["roll_no"], "10");
    assert_eq!(rows[1]["days_present"], 1);

    // Manual corrections are reflected.
    let body = expect(
        app.call(Method::DELETE, "/attendance/2/2024-09-04", &token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["present"], false);
    expect(
        app.call(Method::PUT, "/attendance/10/2024-09-02", &token)
            .await,
        StatusCode::OK,
    )
    .await;
    let report = app
        .get_json(
            "/attendance/report?start_date=2024-09-01&end_date=2024-09-30",
            &token,
        )
        .await;
    assert_eq!(
        report["dates"],
        serde_json::json!(["2024-09-02", "2024-09-03"])
    );
    assert_eq!(
        report["students"][0]["present"],
        serde_json::json!([true, false])
    );
    assert_eq!(report["students"][0]["percentage"], 50.0);
    assert_eq!(
        report["students"][1]["present"],
        serde_json::json!([true, true])
    );
    assert_eq!(report["students"][1]["percentage"], 100.0);
    let r = app
        .call(Method::GET, "/attendance/report?format=csv", &token)
        .await;
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        r.text().await.unwrap(),
        "Name,Roll_no,2024-09-02,2024-09-03,Days_present,Percentage\n\
         \"O'Neil, \"\"Ace\"\" Jr\",2,P,A,1,50.0\n\
         Zoë Ångström-Łukasz,10,P,P,2,100.0\n"
    );
    let empty = app
        .get_json("/attendance/report?start_date=2030-01-01", &token)
        .await;
    assert_eq!(empty["dates"], serde_json::json!([]));
    assert_eq!(empty["students"][0]["percentage"], 0.0);

    // Corrections: unknown student 404, bad date 422, bad format 422.
    for (method, path, status) in [
        (
            Method::PUT,
            "/attendance/99/2024-09-02",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/attendance/99/2024-09-02",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PUT,
            "/attendance/2/2024-9-31",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::DELETE,
            "/attendance/2/not-a-date",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/attendance/report?format=xml",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (Method::GET, "/get-attendance/99", StatusCode::NOT_FOUND),
    ] {
        let r = app.call(method.clone(), path, &token).await;
        let body = expect(r, status).await;
        assert!(body["detail"].is_string(), "{method} {path}: {body}");
    }
    let body = app.get_json("/get-attendance/10", &token).await;
    assert_eq!(
        body["data"],
        serde_json::json!(["2024-09-02", "2024-09-03"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_report_sqlite() {
    csv_and_report(Backend::SqliteInProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_report_postgres() {
    csv_and_report(Backend::PostgresRedis).await;
}

/// With no pinned date, a photo is marked on "today" in `ROLLCALL_TIMEZONE`: two servers
/// 26 hours apart (UTC+14 and UTC-12) mark the same photo on different dates, each the local
/// date of its zone.
#[tokio::test]
async fn today_is_the_date_in_the_configured_timezone() {
    let mut dates = Vec::new();
    for zone in ["Pacific/Kiritimati", "Etc/GMT+12"] {
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        let app = spawn(Backend::SqliteInProcess, |s| {
            s.timezone = tz;
            s.attendance_date = None;
        })
        .await;
        let token = app.signed_in_teacher().await;
        app.enrol_person(&token, "matt_leblanc", "1").await;
        let local_today = || {
            chrono::Utc::now()
                .with_timezone(&tz)
                .date_naive()
                .to_string()
        };
        let before = local_today();
        let r = app.mark(&token, photo("groups/friends_four.jpg")).await;
        let after = local_today();
        let body = expect(r, StatusCode::OK).await;
        let date = body["date"].as_str().unwrap().to_owned();
        // (The local date may turn over during the request.)
        assert!(
            date == before || date == after,
            "{zone}: {date}, local today {before}"
        );
        dates.push(date);
    }
    assert_ne!(dates[0], dates[1], "UTC+14 and UTC-12 never share a date");
}

/// A photo that waits for an inference worker longer than the queue timeout is answered 503
/// with `Retry-After`, not left waiting: one worker, a 50 ms queue timeout, three photos at
/// once (an analysis takes far longer than 50 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_timeout_is_503_with_retry_after() {
    let app = spawn(Backend::SqliteInProcess, |s| {
        s.attendance_date = Some(day());
        s.vision.workers = 1;
        s.vision.queue = 8;
        s.vision.queue_timeout = Duration::from_millis(50);
        s.hardening.uploads_per_teacher = 8;
    })
    .await;
    let token = app.signed_in_teacher().await;
    app.enrol_person(&token, "matt_leblanc", "1").await;
    let bytes = photo("groups/friends_cast_banner.jpg");
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (client, url) = (app.client.clone(), app.url("/mark_attendance"));
        let (token, bytes) = (token.clone(), bytes.clone());
        posts.spawn(async move {
            let form = Form::new().part("file", part(bytes, "class.jpg", "image/jpeg"));
            let r = client
                .post(url)
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body: Value = r.json().await.unwrap();
            (status, retry, body)
        });
    }
    let answers = posts.join_all().await;
    let ok = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::OK)
        .count();
    let busy: Vec<_> = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(ok + busy.len(), 3, "{answers:?}");
    assert!(ok >= 1, "{answers:?}");
    assert!(!busy.is_empty(), "nobody waited past 50 ms: {answers:?}");
    for (_, retry, body) in busy {
        assert!(
            retry.is_some_and(|s| s >= 1),
            "Retry-After {retry:?}: {body}"
        );
        assert!(body["detail"].is_string(), "{body}");
    }
}

/// A class photo over the upload limit: 413 with a reason, the connection closed (the rest
/// of the body is never read), nobody marked.
#[tokio::test]
async fn oversized_class_photo_is_413() {
    let app = spawn(Backend::SqliteInProcess, |s| {
        s.attendance_date = Some(day());
        s.max_upload_bytes = 1024 * 1024;
    })
    .await;
    let token = app.signed_in_teacher().await;
    app.enrol_person(&token, "matt_leblanc", "1").await;
    let r = app.mark(&token, vec![0xFF; 2 * 1024 * 1024]).await;
    assert_eq!(r.headers()["connection"], "close");
    let body = expect(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(body["detail"].is_string(), "{body}");
    let body = app.get_json("/get-attendance/1", &token).await;
    assert_eq!(body["data"], serde_json::json!([]));
}

/// The inference pool refuses photos beyond `workers + queue` at once (503 upstream).
#[tokio::test]
async fn saturated_pool_refuses_at_once() {
    let mut settings = rollcall::config::Settings::with_data_dir(std::env::temp_dir());
    settings.vision.model_dir = testkit::paths::model_dir();
    settings.vision.workers = 1;
    settings.vision.queue = 1;
    let vision = rollcall::app::load_vision(&settings).await.unwrap();
    let first = vision.admit().unwrap();
    let second = vision.admit().unwrap();
    let refused = vision.admit().unwrap_err();
    assert!(
        matches!(refused, rollcall::vision::VisionError::Busy { retry_after } if retry_after.as_secs() >= 1),
        "{refused:?}"
    );
    drop(first);
    let third = vision.admit().unwrap();
    // A ticket still runs its photo: the empty file is refused by the decoder, not the pool.
    let err = vision.enrol(third, Vec::new()).await.unwrap_err();
    assert!(
        matches!(
            err,
            rollcall::vision::VisionError::Face(rollcall_face::FaceError::InvalidImage { .. })
        ),
        "{err:?}"
    );
    drop(second);
}

/// A missing model file stops the start with a message that says how to get it.
#[tokio::test]
async fn missing_models_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = rollcall::config::Settings::with_data_dir(dir.path());
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.jwt_secret = Some(rollcall::config::Secret::new(common::JWT_SECRET));
    settings.vision.model_dir = dir.path().join("no-models-here");
    let err = rollcall::app::Application::build(settings)
        .await
        .err()
        .expect("the server must not start without models")
        .to_string();
    assert!(
        err.contains("face engine") && err.contains("no-models-here"),
        "unclear start-up error: {err}"
    );
}

/// Issue 10, item 11: in both CSV exports a cell that a spreadsheet would evaluate as a
/// formula (`=`, `+`, `-`, `@` first) is prefixed with `'`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_exports_neutralise_formulas() {
    let app = class_app(Backend::SqliteInProcess).await;
    let token = app.signed_in_teacher().await;
    let people = [
        (
            "=HYPERLINK(\"http://x.example\",\"a\")",
            "-1",
            "matt_leblanc",
        ),
        ("@SUM(A1:A2)", "+2", "lisa_kudrow"),
    ];
    for (name, roll, person) in people {
        let mut accepted = false;
        for p in classroom::identity_photos(person) {
            if app.add_student(&token, name, roll, &p).await.status() == StatusCode::OK {
                accepted = true;
                break;
            }
        }
        assert!(accepted, "no photo accepted for {person}");
        let body = expect(
            app.call(Method::PUT, &format!("/attendance/{roll}/{DAY}"), &token)
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(body["present"], true);
    }
    // Header, then the rows in any order.
    let lines = |path: &'static str| {
        let app = &app;
        let token = &token;
        async move {
            let r = app.call(Method::GET, path, token).await;
            assert_eq!(r.status(), StatusCode::OK);
            let text = r.text().await.unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            lines[1..].sort();
            lines
        }
    };
    assert_eq!(
        lines("/get-all-attendance").await,
        [
            "Name,Roll_no,Present_dates",
            "\"'=HYPERLINK(\"\"http://x.example\"\",\"\"a\"\")\",'-1,2024-09-02",
            "'@SUM(A1:A2),'+2,2024-09-02",
        ]
    );
    assert_eq!(
        lines("/attendance/report?format=csv").await,
        [
            "Name,Roll_no,2024-09-02,Days_present,Percentage",
            "\"'=HYPERLINK(\"\"http://x.example\"\",\"\"a\"\")\",'-1,P,1,100.0",
            "'@SUM(A1:A2),'+2,P,1,100.0",
        ]
    );
    // The JSON report keeps the values as they are.
    let report = app.get_json("/attendance/report", &token).await;
    let mut names: Vec<String> = report["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["roll_no"].as_str().unwrap(),
                s["name"].as_str().unwrap()
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "+2 @SUM(A1:A2)",
            "-1 =HYPERLINK(\"http://x.example\",\"a\")"
        ]
    );
}

/// Confirmations can teach (issue 13): in `friends_four.jpg`, Jennifer Aniston (enrolled
/// from her first accepted photo) is only suggested (0.374). Confirming the suggestion with
/// `teach=true` adds that face to her photos; confirming it as the wrong student is refused
/// and changes nothing; evidence is used once.
async fn confirmations_teach(backend: Backend) {
    let app = class_app(backend).await;
    let token = app.signed_in_teacher().await;
    for person in [
        "courteney_cox",
        "jennifer_aniston",
        "matt_leblanc",
        "matthew_perry",
    ] {
        app.enrol_person(&token, person, person).await;
    }
    let body = expect(
        app.mark(&token, photo("groups/friends_four.jpg")).await,
        StatusCode::OK,
    )
    .await;
    assert!(!recognised(&body).contains("jennifer_aniston"), "{body}");
    let face = body["unknown_faces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["suggestion"]["roll_no"] == "jennifer_aniston")
        .unwrap_or_else(|| panic!("no suggestion of jennifer_aniston: {body}"))
        .clone();
    let evidence = face["evidence_id"].as_str().unwrap();
    let put = |roll: &str, query: String| {
        let path = format!("/attendance/{roll}/{DAY}{query}");
        let app = &app;
        let token = token.clone();
        async move { app.call(Method::PUT, &path, &token).await }
    };

    // As the wrong student: refused, nothing marked, nothing learned.
    let r = put(
        "matt_leblanc",
        format!("?evidence_id={evidence}&teach=true"),
    )
    .await;
    let refused = expect(r, StatusCode::CONFLICT).await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("does not look like matt_leblanc"),
        "{refused}"
    );
    let leblanc = app.get_json("/students/matt_leblanc/photos", &token).await;
    assert_eq!(leblanc["photos"].as_array().unwrap().len(), 1);
    // teach=true needs the evidence; an unknown one is 404.
    let r = put("jennifer_aniston", "?teach=true".to_owned()).await;
    expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let r = put(
        "jennifer_aniston",
        "?evidence_id=nope&teach=true".to_owned(),
    )
    .await;
    expect(r, StatusCode::NOT_FOUND).await;
    assert!(
        app.get_json("/get-attendance/jennifer_aniston", &token)
            .await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // As her: she is marked present and the face joins her photos.
    let r = put(
        "jennifer_aniston",
        format!("?evidence_id={evidence}&teach=true"),
    )
    .await;
    let taught = expect(r, StatusCode::OK).await;
    assert_eq!(taught["present"], true);
    let learned = taught["learned"]["photo_id"].as_i64().unwrap();
    assert!(taught["learned"]["replaced_photo_id"].is_null(), "{taught}");
    let photos = app
        .get_json("/students/jennifer_aniston/photos", &token)
        .await;
    let photos = photos["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 2);
    assert_eq!(photos[1]["id"], learned);
    assert_eq!(photos[1]["source"], "confirmation");
    assert_eq!(photos[1]["thumbnail"], true);
    assert_eq!(
        app.get_json("/get-attendance/jennifer_aniston", &token)
            .await["data"],
        serde_json::json!([DAY])
    );
    // Used once.
    let r = put(
        "jennifer_aniston",
        format!("?evidence_id={evidence}&teach=true"),
    )
    .await;
    expect(r, StatusCode::NOT_FOUND).await;
    // A plain confirmation is unchanged.
    let r = put("matt_leblanc", String::new()).await;
    let plain = expect(r, StatusCode::OK).await;
    assert!(plain.get("learned").is_none(), "{plain}");

    // The next photo of the class recognises her by the learned face.
    let again = expect(
        app.mark(&token, photo("groups/friends_four.jpg")).await,
        StatusCode::OK,
    )
    .await;
    assert!(recognised(&again).contains("jennifer_aniston"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmations_teach_sqlite() {
    confirmations_teach(Backend::SqliteInProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmations_teach_postgres() {
    confirmations_teach(Backend::PostgresRedis).await;
}

/// A confirmation refused by the quality gate: in `friends_kudrow_cox.png` Courteney Cox's
/// face is suggested but looks down and is blurry (measured by the engine's
/// `groups::templates_per_person`): teaching from it is 422 with those reasons, and nothing
/// changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_of_a_poor_face_does_not_teach() {
    let app = class_app(Backend::SqliteInProcess).await;
    let token = app.signed_in_teacher().await;
    for person in ["courteney_cox", "lisa_kudrow"] {
        app.enrol_person(&token, person, person).await;
    }
    let body = expect(
        app.mark(&token, photo("groups/friends_kudrow_cox.png"))
            .await,
        StatusCode::OK,
    )
    .await;
    let face = body["unknown_faces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["suggestion"]["roll_no"] == "courteney_cox")
        .unwrap_or_else(|| panic!("no suggestion of courteney_cox: {body}"))
        .clone();
    let path = format!(
        "/attendance/courteney_cox/{DAY}?evidence_id={}&teach=true",
        face["evidence_id"].as_str().unwrap()
    );
    let r = app.call(Method::PUT, &path, &token).await;
    let refused = expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let codes: BTreeSet<&str> = refused["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["code"].as_str())
        .collect();
    assert!(codes.contains("TOO_BLURRY"), "{refused}");
    assert!(!codes.contains("MULTIPLE_FACES"), "{refused}");
    let photos = app.get_json("/students/courteney_cox/photos", &token).await;
    assert_eq!(photos["photos"].as_array().unwrap().len(), 1);
    assert!(
        app.get_json("/get-attendance/courteney_cox", &token).await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
