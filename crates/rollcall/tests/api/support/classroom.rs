//! Helpers of the student and attendance tests: signed-in teachers, photo uploads, the
//! labelled photos of `../shared/faces`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, expect, unique_email};

/// A password accepted by the account rules.
pub const PASSWORD: &str = "Corr3ct horse battery";

/// `ROLLCALL_FACES_DIR` (fails with instructions when missing).
pub fn faces_dir() -> PathBuf {
    testkit::paths::faces_dir()
}

/// Reads a file of the faces folder, e.g. `hard/no_face/dogs.jpg`.
pub fn photo(relative: &str) -> Vec<u8> {
    let path = faces_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The photos of one person in `identities/`, sorted by file name (`1.jpg`, `10.png`,
/// `11.png`, `2.jpg`, ...: the order the face engine's own tests enrol in).
pub fn identity_photos(person: &str) -> Vec<PathBuf> {
    let dir = faces_dir().join("identities").join(person);
    let mut photos: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    photos.sort();
    photos
}

/// Every person of `identities/` (51), sorted by name.
pub fn all_people() -> Vec<String> {
    let dir = faces_dir().join("identities");
    let mut people: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    people.sort();
    people
}

/// One row of `groups/labels.tsv`.
#[derive(Debug, Clone)]
pub struct GroupPhoto {
    /// File name in `groups/`.
    pub file: String,
    /// Enrolled identities present.
    pub people: BTreeSet<String>,
}

/// The group photos whose labels list at least one identity.
pub fn labelled_groups() -> Vec<GroupPhoto> {
    all_groups()
        .into_iter()
        .filter(|g| !g.people.is_empty())
        .collect()
}

/// Every row of `groups/labels.tsv` (photos of strangers have no people).
pub fn all_groups() -> Vec<GroupPhoto> {
    let path = faces_dir().join("groups").join("labels.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let file = cols.next()?.to_owned();
            let people: BTreeSet<String> = cols
                .next()?
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            Some(GroupPhoto { file, people })
        })
        .collect()
}

/// A multipart part holding `bytes`, claiming `file_name` and `mime`.
pub fn part(bytes: Vec<u8>, file_name: &str, mime: &str) -> Part {
    Part::bytes(bytes)
        .file_name(file_name.to_owned())
        .mime_str(mime)
        .unwrap()
}

impl TestApp {
    /// Creates an account and returns a token for it.
    pub async fn signed_in_teacher(&self) -> String {
        let email = unique_email();
        let user_id = format!("teacher-{}", &email[2..14]);
        self.create_account(&email, &user_id, PASSWORD).await;
        self.login(&email, PASSWORD).await
    }

    /// `POST /addStudent` with the given photo part.
    pub async fn add_student_part(
        &self,
        token: &str,
        name: &str,
        roll_no: &str,
        image: Part,
    ) -> Response {
        let form = Form::new()
            .text(
                "data",
                json!({ "name": name, "roll_no": roll_no }).to_string(),
            )
            .part("image", image);
        self.client
            .post(self.url("/addStudent"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /addStudent ({roll_no}): {}", no_answer(&e)))
    }

    /// `POST /addStudent` with a photo file of the faces folder (claimed as JPEG).
    pub async fn add_student(
        &self,
        token: &str,
        name: &str,
        roll_no: &str,
        file: &Path,
    ) -> Response {
        let bytes = std::fs::read(file).unwrap();
        self.add_student_part(token, name, roll_no, part(bytes, "photo.jpg", "image/jpeg"))
            .await
    }

    /// Enrols `person` under `roll_no` from the first of their photos (in file-name order)
    /// that the quality gate accepts, as a teacher would: the rule looks at no group photo.
    /// Returns that photo.
    pub async fn enrol_person(&self, token: &str, person: &str, roll_no: &str) -> PathBuf {
        let mut refused = Vec::new();
        for path in identity_photos(person) {
            let r = self.add_student(token, person, roll_no, &path).await;
            let status = r.status();
            let body = r.text().await.unwrap();
            if status == StatusCode::OK {
                return path;
            }
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}: {body}",
                path.display()
            );
            refused.push(format!("{}: {body}", path.display()));
        }
        panic!(
            "no photo of {person} passes the quality gate:\n{}",
            refused.join("\n")
        );
    }

    /// `POST /mark_attendance` with `bytes` (claimed as JPEG).
    pub async fn mark(&self, token: &str, bytes: Vec<u8>) -> Response {
        let form = Form::new().part("file", part(bytes, "class.jpg", "image/jpeg"));
        self.client
            .post(self.url("/mark_attendance"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /mark_attendance: {}", no_answer(&e)))
    }

    /// An authenticated request without a body.
    pub async fn call(&self, method: reqwest::Method, path: &str, token: &str) -> Response {
        self.with_token(method, path, token).await
    }

    /// `GET` with a token, expecting 200 and JSON.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        expect(
            self.call(reqwest::Method::GET, path, token).await,
            StatusCode::OK,
        )
        .await
    }
}

/// Why a request got no answer, in words: a timeout says how long the client waited and
/// that one enrolment or analysis takes about a second on two idle cores.
fn no_answer(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!(
            "no answer within the client's 30 s ({e}): one photo takes about 1 s on two idle \
             cores; the machine is overloaded or the engine far slower than measured"
        )
    } else {
        format!("request failed: {e}")
    }
}

/// The roll numbers in a list of `{roll_no, ...}` objects.
pub fn roll_nos(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|s| s["roll_no"].as_str().unwrap().to_owned())
        .collect()
}
