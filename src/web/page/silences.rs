//! `/silences`: list silences, create one, expire one, from a browser.
//! Owns: the page, its forms, and their CSRF token.
//! Does not: store or match silences (`alert::notify`).
//!
//! CSRF: besides `auth::refuse_cross_site` (Fetch Metadata and Origin), each form
//! carries a token that must equal the `tandem_csrf` cookie the page set (double
//! submit). A page elsewhere can make a browser post, but cannot read the cookie to
//! put it in the form. The cookie is `SameSite=Strict` and `HttpOnly`.

use super::{Nav, format_time, render_with_status};
use crate::web::WebState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

const CSRF_COOKIE: &str = "tandem_csrf";
/// Bytes of a form body; a silence is a few lines.
const FORM_BYTES_MAX: usize = 16 << 10;

/// One silence as both the silences and the alerts page show it.
pub(super) struct SilenceRow {
    pub(super) id: String,
    pub(super) matchers: String,
    pub(super) status: &'static str,
    pub(super) starts: String,
    pub(super) ends: String,
    pub(super) created_by: String,
    pub(super) comment: String,
    pub(super) source: String,
    pub(super) expirable: bool,
}

#[derive(Template)]
#[template(path = "silences.html")]
struct SilencesPage {
    nav: Nav,
    silences: Vec<SilenceRow>,
    csrf: String,
    error: Option<String>,
    message: Option<String>,
    /// Form values to show again after an error.
    matchers: String,
    duration: String,
    comment: String,
    author: String,
}

fn new_token() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn token_of(request: &HttpRequest) -> Option<String> {
    request
        .cookie(CSRF_COOKIE)
        .map(|cookie| cookie.value().to_string())
        .filter(|value| value.len() == 32 && value.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

async fn page(
    state: &WebState,
    request: &HttpRequest,
    status: StatusCode,
    error: Option<String>,
    message: Option<String>,
    form: (String, String, String, String),
) -> HttpResponse {
    let now_ms = crate::alert::rules::now_ms();
    let notifier = state.notifier.clone();
    let listed = web::block(move || notifier.silences(now_ms)).await;
    let (silences, list_error) = match listed {
        Ok(Ok(silences)) => (silences, None),
        Ok(Err(error)) => (Vec::new(), Some(format!("cannot list silences: {error}"))),
        Err(_) => (
            Vec::new(),
            Some("BUG: listing silences panicked".to_string()),
        ),
    };
    let rows = silence_rows(&silences, now_ms);
    let (token, fresh) = match token_of(request) {
        Some(token) => (token, false),
        None => (new_token(), true),
    };
    let (matchers, duration, comment, author) = form;
    let body = SilencesPage {
        nav: Nav::new("silences"),
        silences: rows,
        csrf: token.clone(),
        error: error.or(list_error),
        message,
        matchers,
        duration,
        comment,
        author,
    };
    let mut response = render_with_status(status, &body);
    if fresh {
        let cookie = Cookie::build(CSRF_COOKIE, token)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .finish();
        let _ = response.add_cookie(&cookie);
    }
    response
}

/// The rows of a silence table.
pub(super) fn silence_rows(
    silences: &[crate::alert::notify::silence::Silence],
    now_ms: i64,
) -> Vec<SilenceRow> {
    silences
        .iter()
        .map(|silence| {
            let status = silence.status(now_ms);
            SilenceRow {
                id: silence.id.clone(),
                matchers: silence
                    .matchers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                status: status.as_str(),
                starts: if silence.starts_at_ms == i64::MIN {
                    String::new()
                } else {
                    format_time(silence.starts_at_ms)
                },
                ends: silence
                    .ends_at_ms
                    .map_or_else(|| "until removed from its file".into(), format_time),
                created_by: silence.created_by.clone(),
                comment: silence.comment.clone(),
                source: silence.source.as_str().to_string(),
                expirable: silence.source.as_str() == "api" && status.as_str() != "expired",
            }
        })
        .collect()
}

fn empty_form() -> (String, String, String, String) {
    (String::new(), "2h".into(), String::new(), String::new())
}

pub async fn show(request: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let mut message = None;
    for (name, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        match name.as_ref() {
            "created" => message = Some(format!("Silence {value} created.")),
            "expired" => message = Some(format!("Silence {value} expired.")),
            _ => {}
        }
    }
    page(
        &state,
        &request,
        StatusCode::OK,
        None,
        message,
        empty_form(),
    )
    .await
}

/// The form's fields, with the token checked; `Err` is the response to give.
fn read_form(
    request: &HttpRequest,
    body: &[u8],
) -> Result<Vec<(String, String)>, Box<HttpResponse>> {
    if body.len() > FORM_BYTES_MAX {
        return Err(Box::new(HttpResponse::PayloadTooLarge().body(format!(
            "form is {} bytes, limit is {FORM_BYTES_MAX}\n",
            body.len()
        ))));
    }
    let fields: Vec<(String, String)> = form_urlencoded::parse(body)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let sent = fields
        .iter()
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value.as_str());
    let expected = token_of(request);
    let valid = match (sent, expected.as_deref()) {
        (Some(sent), Some(expected)) => {
            use subtle::ConstantTimeEq;
            bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
        }
        _ => false,
    };
    if !valid {
        return Err(Box::new(super::error_page(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or does not match: reload the silences page and submit again",
        )));
    }
    Ok(fields)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(field, _)| field == name)
        .map_or("", |(_, value)| value.trim())
}

/// `POST /silences`: create from the form, then back to the list (303).
pub async fn create(
    request: HttpRequest,
    state: web::Data<WebState>,
    body: web::Bytes,
) -> HttpResponse {
    let fields = match read_form(&request, &body) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    let form = (
        field(&fields, "matchers").to_string(),
        field(&fields, "duration").to_string(),
        field(&fields, "comment").to_string(),
        field(&fields, "author").to_string(),
    );
    let matchers: Vec<String> = form
        .0
        .split(['\n', ','])
        .map(str::trim)
        .filter(|matcher| !matcher.is_empty())
        .map(str::to_string)
        .collect();
    let duration = match crate::config::units::parse_duration(&form.1) {
        Ok(duration) if !duration.is_zero() => duration,
        _ => {
            let error = format!("duration {:?}: write it like 30m, 2h or 1d", form.1);
            return page(
                &state,
                &request,
                StatusCode::BAD_REQUEST,
                Some(error),
                None,
                form,
            )
            .await;
        }
    };
    let new = crate::alert::notify::silence::NewSilence {
        matchers,
        starts_at_ms: None,
        ends_at_ms: None,
        duration_ms: Some(duration.as_millis() as i64),
        created_by: if form.3.is_empty() {
            "web".into()
        } else {
            form.3.clone()
        },
        comment: form.2.clone(),
    };
    let notifier = state.notifier.clone();
    let now_ms = crate::alert::rules::now_ms();
    match web::block(move || notifier.add_silence(&new, now_ms)).await {
        Ok(Ok(silence)) => HttpResponse::SeeOther()
            .insert_header(("Location", format!("/silences?created={}", silence.id)))
            .finish(),
        Ok(Err(error)) => {
            page(
                &state,
                &request,
                StatusCode::BAD_REQUEST,
                Some(error.to_string()),
                None,
                form,
            )
            .await
        }
        Err(_) => super::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "BUG: adding a silence panicked",
        ),
    }
}

/// `POST /silences/{id}/expire`.
pub async fn expire(
    request: HttpRequest,
    state: web::Data<WebState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(response) = read_form(&request, &body) {
        return *response;
    }
    let id = id.into_inner();
    let notifier = state.notifier.clone();
    let now_ms = crate::alert::rules::now_ms();
    let target = id.clone();
    match web::block(move || notifier.expire_silence(&target, now_ms)).await {
        Ok(Ok(())) => HttpResponse::SeeOther()
            .insert_header(("Location", format!("/silences?expired={id}")))
            .finish(),
        Ok(Err(error)) => {
            page(
                &state,
                &request,
                StatusCode::BAD_REQUEST,
                Some(error.to_string()),
                None,
                empty_form(),
            )
            .await
        }
        Err(_) => super::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "BUG: expiring a silence panicked",
        ),
    }
}
