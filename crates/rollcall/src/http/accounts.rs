//! Accounts: email verification, sign-up, sign-in (JSON or OAuth2 password form),
//! sign-out, password reset, account deletion. Paths and messages follow the original
//! service's contract.

use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::bearer::{AuthTeacher, Via};
use super::client_ip::ClientIp;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, form_rejection};
use super::session::{self, Https};
use crate::auth::otp::Purpose;
use crate::auth::token::IssuedToken;
use crate::auth::{AuthError, password, revocation};
use crate::domain::Email;
use crate::mail::Mail;
use crate::store::{NewTeacher, Teacher};

/// Longest accepted user id, in characters.
const MAX_USER_ID_LEN: usize = 64;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_email_verification_otp))
        .routes(routes!(verify_email_confirm_otp))
        .routes(routes!(create_user))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(forgot_password_send_otp))
        .routes(routes!(forgot_password_verify_otp))
        .routes(routes!(delete_account))
        .routes(routes!(me))
}

/// The signed-in account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Public user name.
    pub user_id: String,
    /// Address.
    pub email: String,
}

/// A success message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Msg {
    /// What was done.
    pub msg: &'static str,
}

/// A code sent (or, for sign-up, a notice to an address that has an account).
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeSent {
    /// What was done.
    pub msg: &'static str,
    /// Seconds before another code can be sent to this address (an addition to the
    /// original contract: the web app counts it down on its "send again" button).
    #[schema(example = 60)]
    pub cooldown_seconds: u64,
}

/// An address to send a code to.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailRequest {
    /// The address.
    #[schema(value_type = String, format = Email, example = "teacher@example.org")]
    pub email: Email,
}

/// A code received by mail.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyOtpRequest {
    /// The address the code was sent to.
    #[schema(value_type = String, format = Email, example = "teacher@example.org")]
    pub email: Email,
    /// The 6-digit code.
    #[schema(example = "042917")]
    pub otp: String,
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    /// Public user name, unique: 1 to 64 characters (trimmed), no control characters.
    #[schema(example = "ms-rivera", min_length = 1, max_length = 64)]
    pub user_id: String,
    /// A verified address, unique.
    #[schema(value_type = String, format = Email, example = "teacher@example.org")]
    pub email: Email,
    /// 8 to 128 characters, at least two kinds (lower case, upper case, digits, symbols).
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: String,
}

/// JSON sign-in.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The account's address.
    #[schema(example = "teacher@example.org")]
    pub email: String,
    /// The password.
    #[schema(format = Password)]
    pub password: String,
}

/// OAuth2 password-flow sign-in (form-encoded); other OAuth2 fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginForm {
    /// The account's address.
    pub username: String,
    /// The password.
    #[schema(format = Password)]
    pub password: String,
}

/// An access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// A password reset.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    /// The account's address.
    #[schema(value_type = String, format = Email, example = "teacher@example.org")]
    pub email: Email,
    /// The 6-digit code sent by `/forgot-password-send-otp`.
    pub otp: String,
    /// The new password (same policy as sign-up: 8 to 128 characters, at least two kinds).
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Sign-in credentials from either a JSON body or an OAuth2 password form, chosen by
/// `Content-Type`.
#[derive(Debug)]
pub struct Credentials {
    /// Normalized (trimmed, lower-cased) address.
    pub email: String,
    /// The password.
    pub password: String,
}

impl<S: Send + Sync> FromRequest<S> for Credentials {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let (email, password) = if is_form {
            let axum::Form(form) = axum::Form::<LoginForm>::from_request(req, state)
                .await
                .map_err(form_rejection)?;
            (form.username, form.password)
        } else {
            let Json(body) = Json::<LoginRequest>::from_request(req, state).await?;
            (body.email, body.password)
        };
        Ok(Self {
            email: Email::normalize(&email),
            password,
        })
    }
}

fn code_mail(to: &str, code: &str, purpose: Purpose, ttl_minutes: u64) -> Mail {
    let (subject, action) = match purpose {
        Purpose::VerifyEmail => (
            "Your Rollcall verification code",
            "confirm your email address",
        ),
        Purpose::ResetPassword => ("Your Rollcall password reset code", "reset your password"),
    };
    Mail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        body: format!(
            "Your code to {action} is: {code}\n\nIt is valid for {ttl_minutes} minutes and can be \
             used once. If you did not ask for it, ignore this mail."
        ),
    }
}

/// What an address that already has an account gets instead of a verification code: the
/// HTTP answer is the same, so only the mailbox's owner learns that the account exists.
fn already_registered_mail(to: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "You already have a Rollcall account".to_owned(),
        body: "Someone (probably you) asked to sign up to Rollcall with this address, but it \
               already has an account. Sign in with it, or use \"forgot password\" to set a \
               new password. If you did not ask, ignore this mail."
            .to_owned(),
    }
}

fn ttl_minutes(state: &AppState) -> u64 {
    state.otp.ttl().as_secs().div_ceil(60)
}

/// Send a verification code to an address that has no account yet. The answer is the same
/// for an address that has one: its mail then says so instead of holding a code.
#[utoipa::path(post, path = "/send-email-verification-otp", tag = "accounts",
    request_body = EmailRequest,
    responses(
        (status = 200, description = "Code sent (or, to an address with an account, a mail saying so)", body = CodeSent,
            example = json!({"msg": "otp sent successfully to your email", "cooldown_seconds": 60})),
        (status = 415, description = "Not a JSON body (`Content-Type: application/json`)", body = ErrorBody),
        (status = 422, description = "Invalid body or address", body = ErrorBody),
        (status = 429, description = "A code was sent recently", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "The mail server refused the mail", body = ErrorBody),
        (status = 503, description = "Mail server or a backend unavailable", body = ErrorBody),
    ))]
async fn send_email_verification_otp(
    State(state): State<AppState>,
    Json(body): Json<EmailRequest>,
) -> Result<Json<CodeSent>, ApiError> {
    let email = body.email.as_str();
    if state.store.teacher_by_email(email).await?.is_some() {
        state
            .otp
            .send_notice(
                Purpose::VerifyEmail,
                email,
                state.mailer.as_ref(),
                &already_registered_mail(email),
            )
            .await?;
    } else {
        let ttl = ttl_minutes(&state);
        state
            .otp
            .send(Purpose::VerifyEmail, email, state.mailer.as_ref(), |code| {
                code_mail(email, code, Purpose::VerifyEmail, ttl)
            })
            .await?;
    }
    Ok(Json(CodeSent {
        msg: "otp sent successfully to your email",
        cooldown_seconds: state.settings.otp.cooldown.as_secs(),
    }))
}

/// Confirm an address with the code sent to it.
#[utoipa::path(post, path = "/verify-email-confirm-otp", tag = "accounts",
    request_body = VerifyOtpRequest,
    responses(
        (status = 200, description = "Address confirmed", body = Msg,
            example = json!({"msg": "Email is valid and confirmed successfully"})),
        (status = 400, description = "Wrong, expired, used or void code (void after 5 wrong tries)", body = ErrorBody),
        (status = 415, description = "Not a JSON body (`Content-Type: application/json`)", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
        (status = 429, description = "Too many code attempts today for this address or client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn verify_email_confirm_otp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<VerifyOtpRequest>,
) -> Result<Json<Msg>, ApiError> {
    let email = body.email.as_str();
    state
        .otp
        .verify(Purpose::VerifyEmail, email, &body.otp, ip)
        .await?;
    state.store.mark_email_verified(email).await?;
    Ok(Json(Msg {
        msg: "Email is valid and confirmed successfully",
    }))
}

/// Create an account for a verified address. The confirmation mail never contains the
/// password.
#[utoipa::path(post, path = "/create_user", tag = "accounts",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Account created", body = Msg,
            example = json!({"msg": "The new user is created successfully"})),
        (status = 403, description = "The address is not verified (the same answer when it already has an account)", body = ErrorBody,
            example = json!({"detail": "First verify your mail id"})),
        (status = 409, description = "user_id already taken", body = ErrorBody),
        (status = 415, description = "Not a JSON body (`Content-Type: application/json`)", body = ErrorBody),
        (status = 422, description = "Invalid body or weak password", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn create_user(
    State(state): State<AppState>,
    Json(body): Json<CreateUserRequest>,
) -> Result<(StatusCode, Json<Msg>), ApiError> {
    let user_id = body.user_id.trim();
    if user_id.is_empty()
        || user_id.chars().count() > MAX_USER_ID_LEN
        || user_id.chars().any(char::is_control)
    {
        return Err(ApiError::Unprocessable(format!(
            "user_id must be 1 to {MAX_USER_ID_LEN} printable characters"
        )));
    }
    password::check_policy(&body.password)?;
    let email = body.email.as_str();
    // Both lookups always, and one answer for "not verified" and "has an account": the
    // response must not tell whether an address is registered.
    let verified = state.store.is_email_verified(email).await?;
    let registered = state.store.teacher_by_email(email).await?.is_some();
    if !verified || registered {
        return Err(ApiError::Forbidden("First verify your mail id".to_owned()));
    }
    let password_hash = state.passwords.hash(body.password).await?;
    state
        .store
        .create_teacher(NewTeacher {
            user_id,
            email,
            password_hash: &password_hash,
        })
        .await?;
    let welcome = Mail {
        to: email.to_owned(),
        subject: "Welcome to Rollcall".to_owned(),
        body: format!(
            "Your Rollcall account \"{user_id}\" was created for this address.\n\nSign in with \
             this address and the password you chose. If you did not create it, reset the \
             password with \"forgot password\"."
        ),
    };
    // The account exists; a failed welcome mail must not turn that into an error.
    if let Err(e) = state.mailer.send(&welcome).await {
        tracing::warn!(error = %e, "could not send the account confirmation mail");
    }
    Ok((
        StatusCode::CREATED,
        Json(Msg {
            msg: "The new user is created successfully",
        }),
    ))
}

/// Sign in with a JSON body `{email, password}` or an OAuth2 password form
/// (`username`, `password`).
#[utoipa::path(post, path = "/login", tag = "accounts",
    request_body(content(
        (LoginRequest = "application/json"),
        (LoginForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 403, description = "Wrong email or password", body = ErrorBody,
            example = json!({"detail": "Invalid Credentials"})),
        (status = 415, description = "Neither a JSON body nor an OAuth2 password form", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
        (status = 429, description = "Too many failed logins for this account or client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "A backend is unavailable, or too many sign-ins at once (with Retry-After)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait, when busy"))),
    ))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    credentials: Credentials,
) -> Result<Json<TokenResponse>, ApiError> {
    let (issued, _) = sign_in(&state, ip, credentials).await?;
    Ok(Json(TokenResponse {
        access_token: issued.token,
        token_type: "bearer",
        expires_in: state.tokens.ttl().as_secs(),
    }))
}

/// Checks an address and password (throttled, bounded hashing) and issues a token: the
/// sign-in of `POST /login` and of the web app's `POST /session`.
pub(super) async fn sign_in(
    state: &AppState,
    ip: std::net::IpAddr,
    credentials: Credentials,
) -> Result<(IssuedToken, Teacher), ApiError> {
    let email = credentials.email.as_str();
    // The attempt is counted before the password is checked (atomically, so a burst of
    // guesses cannot pass together), and before any hashing work is queued.
    state.login_throttle.reserve(email, ip).await?;
    let teacher = state.store.teacher_by_email(email).await?;
    let hash = teacher.as_ref().map(|t| t.password_hash.clone());
    let valid = state.passwords.verify(credentials.password, hash).await?;
    let Some(teacher) = teacher.filter(|_| valid) else {
        return Err(ApiError::Forbidden("Invalid Credentials".to_owned()));
    };
    state.login_throttle.record_success(email, ip).await?;
    let issued = state.tokens.issue(teacher.id)?;
    Ok((issued, teacher))
}

/// Sign out: the token is revoked.
#[utoipa::path(post, path = "/logout", tag = "accounts",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "Signed out", body = Msg,
            example = json!({"msg": "User logged out successfully"})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn logout(
    State(state): State<AppState>,
    Https(https): Https,
    auth: AuthTeacher,
) -> Result<Response, ApiError> {
    revocation::revoke(state.store.as_ref(), &auth.claims).await?;
    let response = Json(Msg {
        msg: "User logged out successfully",
    });
    Ok(clearing_cookie(response, auth.via, https))
}

/// `response`, clearing the session cookie when the request was authenticated by it.
fn clearing_cookie(response: impl IntoResponse, via: Via, https: bool) -> Response {
    let mut response = response.into_response();
    if via == Via::Cookie {
        response
            .headers_mut()
            .append(header::SET_COOKIE, session::clear_cookie(https));
    }
    response
}

/// Send a password reset code. The answer is the same whether or not the address has an
/// account (nothing is sent when it has none), and whether or not the mail server is up:
/// the mail is sent in the background.
#[utoipa::path(post, path = "/forgot-password-send-otp", tag = "accounts",
    request_body = EmailRequest,
    responses(
        (status = 200, description = "Code sent if the account exists", body = CodeSent,
            example = json!({"msg": "Otp sent successfully to your email", "cooldown_seconds": 60})),
        (status = 415, description = "Not a JSON body (`Content-Type: application/json`)", body = ErrorBody),
        (status = 422, description = "Invalid body or address", body = ErrorBody),
        (status = 429, description = "A code was requested recently", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn forgot_password_send_otp(
    State(state): State<AppState>,
    Json(body): Json<EmailRequest>,
) -> Result<Json<CodeSent>, ApiError> {
    let email = body.email.as_str();
    let registered = state.store.teacher_by_email(email).await?.is_some();
    // The same work either way (cooldown, daily cap, a stored code nobody will see for an
    // unknown address); only the mail differs, and it goes out in the background, so
    // neither the answer nor its timing nor a mail outage tells who has an account.
    let code = state.otp.issue(Purpose::ResetPassword, email).await?;
    if registered {
        let mail = code_mail(email, &code, Purpose::ResetPassword, ttl_minutes(&state));
        let mailer = state.mailer.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&mail).await {
                tracing::warn!(error = %e, "could not send a password reset code");
            }
        });
    }
    Ok(Json(CodeSent {
        msg: "Otp sent successfully to your email",
        cooldown_seconds: state.settings.otp.cooldown.as_secs(),
    }))
}

/// Set a new password with a reset code; every token issued before stops working.
#[utoipa::path(put, path = "/forgot-password-verify-otp", tag = "accounts",
    request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Password changed", body = Msg,
            example = json!({"msg": "Password changed successfully"})),
        (status = 400, description = "Wrong, expired, used or void code", body = ErrorBody),
        (status = 415, description = "Not a JSON body (`Content-Type: application/json`)", body = ErrorBody),
        (status = 422, description = "Invalid body or weak password", body = ErrorBody),
        (status = 429, description = "Too many code attempts today for this address or client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn forgot_password_verify_otp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<ResetPasswordRequest>,
) -> Result<Json<Msg>, ApiError> {
    password::check_policy(&body.new_password)?;
    let email = body.email.as_str();
    state
        .otp
        .verify(Purpose::ResetPassword, email, &body.otp, ip)
        .await?;
    let teacher = state
        .store
        .teacher_by_email(email)
        .await?
        .ok_or(AuthError::InvalidCode)?;
    let password_hash = state.passwords.hash(body.new_password).await?;
    if !state
        .store
        .update_password(teacher.id, &password_hash, Utc::now())
        .await?
    {
        return Err(AuthError::InvalidCode.into());
    }
    state.login_throttle.reset_account(email).await?;
    Ok(Json(Msg {
        msg: "Password changed successfully",
    }))
}

/// Delete the signed-in account with all its students and attendance.
#[utoipa::path(delete, path = "/delete_account", tag = "accounts",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "Account deleted", body = Msg,
            example = json!({"msg": "Account deleted successfully"})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn delete_account(
    State(state): State<AppState>,
    Https(https): Https,
    auth: AuthTeacher,
) -> Result<Response, ApiError> {
    if !state.store.delete_teacher(auth.teacher_id).await? {
        return Err(ApiError::Unauthorized);
    }
    // Other tokens of the account fail anyway (no such teacher); this one is revoked too.
    if let Err(e) = revocation::revoke(state.store.as_ref(), &auth.claims).await {
        tracing::warn!(error = %e, "could not revoke the token of a deleted account");
    }
    let response = Json(Msg {
        msg: "Account deleted successfully",
    });
    Ok(clearing_cookie(response, auth.via, https))
}

/// The signed-in account (an addition to the original contract).
#[utoipa::path(get, path = "/me", tag = "accounts",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The account", body = Me),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn me(auth: AuthTeacher) -> Json<Me> {
    Json(Me {
        user_id: auth.teacher.user_id,
        email: auth.teacher.email,
    })
}
