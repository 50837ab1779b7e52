//! The OpenAPI document (issue 10, item 10): every `$ref` resolves, every endpoint that
//! takes a body documents 415, the documented constraints (date formats, password, roll
//! number and name lengths) are there, and the 422 of a photo endpoint with a missing part
//! has every property its documented schema requires.

use crate::common;

use common::{Backend, spawn};
use reqwest::multipart::Form;
use serde_json::Value;

fn document() -> Value {
    serde_json::to_value(rollcall::http::openapi()).expect("the document serializes")
}

/// Every `$ref` string anywhere in `value`, with the JSON path where it is.
fn refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(target) = v.as_str()
                {
                    out.push((at.to_owned(), target.to_owned()));
                }
                refs(v, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Follows a local `#/a/b` pointer.
fn resolve<'a>(doc: &'a Value, target: &str) -> Option<&'a Value> {
    doc.pointer(target.strip_prefix('#')?)
}

/// A schema with its `$ref` followed.
fn deref<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(target) => resolve(doc, target).unwrap_or(schema),
        None => schema,
    }
}

/// (path, method, operation) for every operation.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.push((path.clone(), method.clone(), op));
            }
        }
    }
    out
}

fn operation<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    doc["paths"][path]
        .get(method)
        .unwrap_or_else(|| panic!("{method} {path} is not documented"))
}

/// A property of a component schema.
fn property<'a>(doc: &'a Value, schema: &str, name: &str) -> &'a Value {
    doc["components"]["schemas"][schema]["properties"]
        .get(name)
        .unwrap_or_else(|| panic!("{schema}.{name} is not documented"))
}

/// A parameter of an operation.
fn parameter<'a>(doc: &'a Value, op: &'a Value, name: &str) -> &'a Value {
    let p = op["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no parameter {name} in {op}"));
    deref(doc, &p["schema"])
}

#[test]
fn every_ref_resolves() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, "", &mut found);
    assert!(found.len() > 20, "suspiciously few refs: {found:?}");
    let broken: Vec<_> = found
        .iter()
        .filter(|(_, target)| resolve(&doc, target).is_none())
        .collect();
    assert!(broken.is_empty(), "unresolved $ref: {broken:#?}");
}

#[test]
fn every_endpoint_with_a_body_documents_415() {
    let doc = document();
    let mut missing = Vec::new();
    for (path, method, op) in operations(&doc) {
        if op.get("requestBody").is_some() && op["responses"].get("415").is_none() {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(missing.is_empty(), "415 undocumented on {missing:?}");
}

#[test]
fn constraints_are_documented() {
    let doc = document();
    // Passwords: 8 to 128 characters where one is chosen.
    for (schema, field) in [
        ("CreateUserRequest", "password"),
        ("ResetPasswordRequest", "new_password"),
    ] {
        let p = property(&doc, schema, field);
        assert_eq!(p["minLength"], 8, "{schema}.{field}: {p}");
        assert_eq!(p["maxLength"], 128, "{schema}.{field}: {p}");
        assert_eq!(p["format"], "password", "{schema}.{field}: {p}");
    }
    let user_id = property(&doc, "CreateUserRequest", "user_id");
    assert_eq!(user_id["minLength"], 1, "{user_id}");
    assert!(user_id["maxLength"].is_u64(), "{user_id}");
    // Roll numbers and names of new students.
    let roll_no = property(&doc, "StudentData", "roll_no");
    assert_eq!(roll_no["minLength"], 1, "{roll_no}");
    assert_eq!(roll_no["maxLength"], 32, "{roll_no}");
    let name = property(&doc, "StudentData", "name");
    assert_eq!(name["maxLength"], 100, "{name}");
    let roll_nos = property(&doc, "AddMembersBody", "roll_nos");
    assert_eq!(roll_nos["maxItems"], 1000, "{roll_nos}");
    assert_eq!(roll_nos["minItems"], 1, "{roll_nos}");
    // Dates: `{date}` path parameters are dates; range bounds are dates or empty.
    let mut dates = 0;
    for (path, method, op) in operations(&doc) {
        if path.contains("{date}") {
            let date = parameter(&doc, op, "date");
            assert_eq!(date["format"], "date", "{method} {path}: {date}");
            dates += 1;
        }
        for bound in ["start_date", "end_date"] {
            let Some(params) = op["parameters"].as_array() else {
                continue;
            };
            if params.iter().any(|p| p["name"] == bound) {
                let schema = parameter(&doc, op, bound);
                let text = schema.to_string();
                assert!(
                    text.contains("\"date\"") || text.contains("[0-9]{4}-(0[1-9]|1[0-2])-"),
                    "{method} {path} {bound}: {schema}"
                );
                dates += 1;
            }
        }
    }
    assert!(dates >= 8, "only {dates} date parameters found");
    // Both reports document their CSV form.
    for path in ["/attendance/report", "/classes/{class_id}/attendance"] {
        let ok = &operation(&doc, path, "get")["responses"]["200"]["content"];
        assert!(
            ok.get("text/csv").is_some() && ok.get("application/json").is_some(),
            "{path}: {ok}"
        );
    }
    // The report format is an enum that resolves.
    let report = operation(&doc, "/attendance/report", "get");
    let format = parameter(&doc, report, "format");
    let text = format.to_string();
    assert!(
        text.contains("\"json\"") && text.contains("\"csv\""),
        "{format}"
    );
}

/// The 422 of a photo endpoint whose multipart body lacks a part has every property that
/// the documented 422 schema requires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_part_matches_the_documented_422() {
    let doc = document();
    let app = spawn(Backend::SqliteInProcess, |_| {}).await;
    let token = app.signed_in_teacher().await;
    let cases = [
        (
            "/addStudent",
            Form::new().text("data", r#"{"name":"A","roll_no":"1"}"#),
        ),
        ("/addStudent", Form::new().text("other", "x")),
        ("/mark_attendance", Form::new().text("other", "x")),
    ];
    for (path, form) in cases {
        let schema = deref(
            &doc,
            &operation(&doc, path, "post")["responses"]["422"]["content"]["application/json"]["schema"],
        );
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(required.contains(&"detail"), "{path}: {schema}");
        let r = app
            .client
            .post(app.url(path))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{path}");
        let body: Value = r.json().await.unwrap();
        for field in &required {
            assert!(
                body.get(field).is_some(),
                "{path}: the 422 lacks required `{field}`: {body}"
            );
        }
        assert!(
            body["detail"].as_str().unwrap_or("").contains("is missing"),
            "{path}: {body}"
        );
    }
}

/// Found by Schemathesis: serde fills a struct from a JSON array too, so `[null, null]`
/// cleared a class's note (200). Every JSON body must be an object (422 otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_must_be_objects() {
    let app = spawn(Backend::SqliteInProcess, |_| {}).await;
    let token = app.signed_in_teacher().await;
    let r = app
        .client
        .post(app.url("/classes"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "7B", "note": "Room 12"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let class: Value = r.json().await.unwrap();
    let path = format!("/classes/{}", class["id"]);
    for body in ["[null, null]", "[\"8C\"]", "null", "\"x\"", "42", ""] {
        let r = app
            .client
            .patch(app.url(&path))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{body:?}");
        let detail: Value = r.json().await.unwrap();
        assert!(detail["detail"].is_string(), "{body:?}: {detail}");
    }
    let r = app
        .client
        .get(app.url(&path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let now: Value = r.json().await.unwrap();
    assert_eq!(
        (&now["name"], &now["note"]),
        (&class["name"], &class["note"])
    );
    // Still 415 without the JSON content type, and objects still work.
    let r = app
        .client
        .post(app.url("/login"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&token)
        .json(&serde_json::json!({"note": "Room 14"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
