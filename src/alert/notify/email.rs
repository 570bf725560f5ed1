//! The `email` integration: one plain-text message per notification over SMTP (lettre),
//! with STARTTLS (required), TLS from the first byte, or none; optional SMTP AUTH.
//! Owns: the SMTP exchange and which SMTP errors are worth a retry (4xx replies,
//! network errors) and which are refusals (5xx replies).
//! Does not: build the subject or text (`payload.rs`).
//! Limits: the integration's `timeout`, for the whole exchange.
//!
//! The transport is made and dropped inside the delivery's task: a pooled lettre
//! transport dropped outside a Tokio runtime panics.

use super::dispatch::Notification;
use super::{Error, bounded_detail, payload, read_secret};
use crate::config::alerting::{EmailConfig, EmailTls};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

pub async fn send(config: &EmailConfig, notification: &Notification) -> Result<(), Error> {
    let message = message(config, notification)?;
    let tls = match config.tls {
        EmailTls::None => Tls::None,
        EmailTls::StartTls | EmailTls::Tls => {
            let parameters = TlsParameters::new(config.host.clone())
                .map_err(|error| Error::Refused(format!("TLS for {}: {error}", config.host)))?;
            if config.tls == EmailTls::Tls {
                Tls::Wrapper(parameters)
            } else {
                Tls::Required(parameters)
            }
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
        .port(config.port)
        .tls(tls)
        .timeout(Some(config.timeout));
    if let Some(hello) = &config.hello {
        builder = builder.hello_name(ClientId::Domain(hello.clone()));
    }
    if let (Some(user), Some(password_file)) = (&config.auth_username, &config.auth_password_file) {
        let password = read_secret(password_file).await?;
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    let transport = builder.build();
    let sent = tokio::time::timeout(config.timeout, transport.send(message)).await;
    drop(transport);
    match sent {
        Ok(Ok(_response)) => Ok(()),
        Ok(Err(error)) if error.is_permanent() => Err(Error::Refused(describe(&error))),
        Ok(Err(error)) => Err(Error::Transient(describe(&error))),
        Err(_) => Err(Error::Transient(format!(
            "SMTP to {}:{} took longer than {:?}",
            config.host, config.port, config.timeout
        ))),
    }
}

fn message(config: &EmailConfig, notification: &Notification) -> Result<Message, Error> {
    let mailbox = |text: &str| {
        text.parse::<Mailbox>()
            .map_err(|error| Error::Refused(format!("address {text:?}: {error}")))
    };
    let subject =
        payload::email_subject(notification, config.subject.as_deref()).map_err(Error::Refused)?;
    let mut builder = Message::builder()
        .from(mailbox(&config.from)?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &config.to {
        builder = builder.to(mailbox(to)?);
    }
    builder
        .body(payload::email_text(notification))
        .map_err(|error| Error::Refused(format!("building the message: {error}")))
}

fn describe(error: &lettre::transport::smtp::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    bounded_detail(&text)
}
