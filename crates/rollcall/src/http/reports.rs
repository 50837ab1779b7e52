//! Attendance reports of the default class: the original CSV export
//! (`GET /get-all-attendance`) and the students x dates matrix (`GET /attendance/report`,
//! JSON or CSV); [`class_report`] serves the same matrix for any class
//! (`GET /classes/{class_id}/attendance`).
//!
//! The matrix's columns are the dates in the range on which at least one member of the
//! class was present in it (school days as recorded), not every calendar day: weekends and
//! holidays would otherwise count as absences. A student's percentage is their present
//! days over those dates (0 when there are none).

use std::collections::BTreeSet;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::attendance::parse_date;
use super::bearer::AuthTeacher;
use super::error::{ApiError, ErrorBody};
use super::extract::Json;
use crate::store::{ClassId, StudentAttendance, TeacherId};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_all_attendance))
        .routes(routes!(report))
}

/// An inclusive date range; both bounds optional (empty = unbounded).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First day, `YYYY-MM-DD` (a date, or empty for no bound).
    #[param(pattern = r"^([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))?$")]
    pub start_date: Option<String>,
    /// Last day, `YYYY-MM-DD` (a date, or empty for no bound).
    #[param(pattern = r"^([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))?$")]
    pub end_date: Option<String>,
}

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    /// A JSON document.
    #[default]
    Json,
    /// A CSV file.
    Csv,
}

/// `GET /attendance/report` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First day, `YYYY-MM-DD` (a date, or empty for no bound).
    #[param(pattern = r"^([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))?$")]
    pub start_date: Option<String>,
    /// Last day, `YYYY-MM-DD` (a date, or empty for no bound).
    #[param(pattern = r"^([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))?$")]
    pub end_date: Option<String>,
    /// `json` (default) or `csv`.
    #[param(inline)]
    pub format: Option<ReportFormat>,
}

/// One student's row of the report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportRow {
    /// Roll number.
    pub roll_no: String,
    /// Name.
    pub name: String,
    /// Present on each of `dates`, in order.
    pub present: Vec<bool>,
    /// Days present among `dates`.
    pub days_present: usize,
    /// `days_present` / number of `dates`, in percent (0 when there are no dates).
    pub percentage: f64,
}

/// The students x dates matrix.
#[derive(Debug, Serialize, ToSchema)]
pub struct Report {
    /// The requested first day, if any.
    pub start_date: Option<NaiveDate>,
    /// The requested last day, if any.
    pub end_date: Option<NaiveDate>,
    /// The columns: days in the range on which anyone was present, ascending.
    #[schema(value_type = Vec<String>)]
    pub dates: Vec<NaiveDate>,
    /// One row per student, by roll number.
    pub students: Vec<ReportRow>,
}

/// Parses and checks an optional inclusive range (422 on a bad date or start after end).
pub(super) fn parse_range(
    start: Option<&str>,
    end: Option<&str>,
) -> Result<(Option<NaiveDate>, Option<NaiveDate>), ApiError> {
    let parse = |what: &str, value: Option<&str>| {
        value
            .filter(|v| !v.is_empty())
            .map(|v| parse_date(what, v))
            .transpose()
    };
    let start = parse("start_date", start)?;
    let end = parse("end_date", end)?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(ApiError::Unprocessable(format!(
            "start_date ({s}) is after end_date ({e})"
        )));
    }
    Ok((start, end))
}

/// Maps a query-string rejection to a 422 that says what is wrong.
pub(super) fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::Unprocessable(rejection.body_text())
}

fn csv_response(body: Vec<u8>) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=attendance.csv"),
    );
    response
}

fn csv_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("csv: {e}"))
}

/// A cell that a spreadsheet would read as a formula (first character `=`, `+`, `-`, `@`,
/// tab or carriage return) gets a leading `'`, as OWASP advises against CSV injection:
/// the spreadsheet then shows the text as typed instead of evaluating it.
fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Writes records with the `csv` crate (quoting commas, quotes and line breaks), every
/// cell through [`neutralise_formula`].
fn write_csv<I, R>(records: I) -> Result<Vec<u8>, ApiError>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<str>,
{
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        let cells: Vec<_> = record
            .into_iter()
            .map(|cell| neutralise_formula(cell.as_ref()).into_owned())
            .collect();
        writer.write_record(&cells).map_err(csv_error)?;
    }
    writer.into_inner().map_err(csv_error)
}

/// The original export: one row per student with their present dates.
#[utoipa::path(get, path = "/get-all-attendance", tag = "attendance",
    security(("bearer" = []), ("oauth2" = [])),
    params(RangeQuery),
    responses(
        (status = 200, description = "CSV: `Name,Roll_no,Present_dates`, dates joined by \
                                      \", \"", content_type = "text/csv", body = String,
            headers(("Content-Disposition" = String,
                     description = "attachment; filename=attendance.csv"))),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 422, description = "A bad date, or start after end", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn get_all_attendance(
    State(state): State<AppState>,
    auth: AuthTeacher,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(query_rejection)?;
    let (start, end) = parse_range(query.start_date.as_deref(), query.end_date.as_deref())?;
    let teacher = auth.teacher_id;
    let class = state.store.default_class(teacher).await?;
    let rows = state
        .store
        .attendance_range(teacher, class, start, end)
        .await?;
    let header = vec![
        "Name".to_owned(),
        "Roll_no".to_owned(),
        "Present_dates".to_owned(),
    ];
    let records = std::iter::once(header).chain(rows.into_iter().map(|row| {
        let dates: Vec<String> = row.dates.iter().map(ToString::to_string).collect();
        vec![row.student.name, row.student.roll_no, dates.join(", ")]
    }));
    Ok(csv_response(write_csv(records)?))
}

/// Builds the matrix from the store's rows.
fn build_report(
    rows: Vec<StudentAttendance>,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
) -> Report {
    let dates: Vec<NaiveDate> = rows
        .iter()
        .flat_map(|r| r.dates.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let students = rows
        .into_iter()
        .map(|row| {
            let present: Vec<bool> = dates
                .iter()
                .map(|d| row.dates.binary_search(d).is_ok())
                .collect();
            let days_present = present.iter().filter(|&&p| p).count();
            let percentage = if dates.is_empty() {
                0.0
            } else {
                // Counts are far below 2^52: exact in f64.
                (days_present as f64) * 100.0 / (dates.len() as f64)
            };
            ReportRow {
                roll_no: row.student.roll_no,
                name: row.student.name,
                present,
                days_present,
                percentage,
            }
        })
        .collect();
    Report {
        start_date: start,
        end_date: end,
        dates,
        students,
    }
}

/// The students x dates matrix with each student's attendance percentage.
#[utoipa::path(get, path = "/attendance/report", tag = "attendance",
    security(("bearer" = []), ("oauth2" = [])),
    params(ReportQuery),
    responses(
        (status = 200, description = "The report (JSON), or with `format=csv` a CSV \
                                      `Name,Roll_no,<date>...,Days_present,Percentage` \
                                      with P/A cells", content(
            (Report = "application/json"),
            (String = "text/csv"),
        )),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 422, description = "A bad date or format, or start after end",
            body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn report(
    State(state): State<AppState>,
    auth: AuthTeacher,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(query_rejection)?;
    let teacher = auth.teacher_id;
    let class = state.store.default_class(teacher).await?;
    class_report(&state, teacher, class, &query).await
}

/// The report of one of the teacher's classes, as `query` asks (JSON or CSV).
pub(super) async fn class_report(
    state: &AppState,
    teacher: TeacherId,
    class: ClassId,
    query: &ReportQuery,
) -> Result<Response, ApiError> {
    let (start, end) = parse_range(query.start_date.as_deref(), query.end_date.as_deref())?;
    let rows = state
        .store
        .attendance_range(teacher, class, start, end)
        .await?;
    let report = build_report(rows, start, end);
    match query.format.unwrap_or_default() {
        ReportFormat::Json => Ok(Json(report).into_response()),
        ReportFormat::Csv => {
            let mut header = vec!["Name".to_owned(), "Roll_no".to_owned()];
            header.extend(report.dates.iter().map(ToString::to_string));
            header.extend(["Days_present".to_owned(), "Percentage".to_owned()]);
            let records = std::iter::once(header).chain(report.students.into_iter().map(|r| {
                let mut record = vec![r.name, r.roll_no];
                record.extend(
                    r.present
                        .iter()
                        .map(|&p| if p { "P" } else { "A" }.to_owned()),
                );
                record.push(r.days_present.to_string());
                record.push(format!("{:.1}", r.percentage));
                record
            }));
            Ok(csv_response(write_csv(records)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        assert_eq!(parse_range(None, Some("")).unwrap(), (None, None));
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            parse_range(Some("2024-01-01"), Some("2024-01-01")).unwrap(),
            (Some(d("2024-01-01")), Some(d("2024-01-01")))
        );
        assert!(parse_range(Some("2024-01-02"), Some("2024-01-01")).is_err());
        assert!(parse_range(Some("2024-13-01"), None).is_err());
        assert!(parse_range(None, Some("yesterday")).is_err());
    }

    #[test]
    fn formula_cells_are_neutralised() {
        let csv = write_csv([vec![
            "=1+2", "+3", "-4", "@SUM(A1)", "\tx", "\ry", "a=b", "-",
        ]])
        .unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "'=1+2,'+3,'-4,'@SUM(A1),'\tx,\"'\ry\",a=b,'-\n"
        );
    }
}
