//! Request parsing of our own code: a `multipart/form-data` body read as the photo
//! endpoints read it (`read_parts`), the `data` part of an enrolment (JSON with `name` and
//! `roll_no`), roll numbers, mail addresses and dates. Every input must give a value or a
//! client error (`rollcall_input::InputError`, which the service answers with a 4xx), never a panic.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, header};
use libfuzzer_sys::fuzz_target;
use rollcall_input::{Email, parse_date, parse_student_data, read_parts, roll_no};

const BOUNDARY: &str = "fuzzboundary";
/// The service's upload limit plus multipart overhead, scaled down: bodies are small here.
const LIMIT: usize = 1 << 20;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the content type, so that both the multipart parser and its
    // rejection are reached.
    let (kind, body) = data.split_first().unwrap_or((&0, &[]));
    let content_type = match kind % 4 {
        0 | 1 => format!("multipart/form-data; boundary={BOUNDARY}"),
        2 => "multipart/form-data".to_owned(),
        _ => String::from_utf8_lossy(body.get(..body.len().min(40)).unwrap_or_default())
            .into_owned(),
    };
    if let Ok(request) = Request::builder()
        .method("POST")
        .uri("/addStudent")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_vec()))
    {
        match runtime().block_on(read_parts(request, LIMIT)) {
            Ok(parts) => {
                for (name, bytes) in parts {
                    if name == "data" {
                        let _ = parse_student_data(&bytes);
                    }
                }
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }

    // The whole input as the JSON `data` part, and as text.
    if let Ok((name, roll)) = parse_student_data(data) {
        assert!(!name.as_str().is_empty() && !roll.as_str().is_empty());
        assert_eq!(roll_no::parse(roll.as_str()).as_deref(), Ok(roll.as_str()));
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(roll) = roll_no::parse(&text) {
        // Normalised once is normalised: parsing again changes nothing.
        assert_eq!(roll_no::parse(&roll).as_deref(), Ok(roll.as_str()));
        assert_eq!(roll_no::lookup_key(&text), roll);
    }
    if let Ok(email) = Email::try_from(text.clone().into_owned()) {
        assert_eq!(Email::try_from(email.as_str().to_owned()).ok(), Some(email));
    }
    if let Ok(date) = parse_date("date", &text) {
        assert_eq!(date.format("%Y-%m-%d").to_string(), text);
    }
});
