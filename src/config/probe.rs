//! `[[probe]]`: blackbox probes as written and as validated.
//! Owns: their keys, defaults and checks (targets parse, keys belong to the probe's
//! kind, names are unique, regexes compile).
//! Does not: probe (`collect::probe` does), or read `ca_file` (checked to exist here; the prober reads it at
//! every run, relative to the config directory, so a renewed CA needs no reload).
//!
//! ```toml
//! [[probe]]
//! name = "homepage"          # unique; the `probe` label
//! kind = "http"              # http, tcp or dns
//! target = "https://example.org/"
//! interval = "30s"
//! ```

use super::units::{ByteSize, ConfigDuration, format_duration};
use super::validate::Checker;
use crate::limits;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// Probes one config may define.
pub const PROBES_MAX: usize = 1_000;
/// `interval` when absent.
pub const INTERVAL_DEFAULT: Duration = Duration::from_secs(30);
/// `timeout` when absent is the interval, capped at this.
pub const TIMEOUT_DEFAULT_MAX: Duration = Duration::from_secs(10);
/// `body_bytes_max` when absent: a page larger than this fails the probe.
pub const BODY_BYTES_DEFAULT: u64 = 10 << 20;
/// The port of a `dns` target written without one.
pub const DNS_PORT: u16 = 53;
/// Query types a `dns` probe may ask for, with their codes (RFC 1035, 3596, 2782, 6844, 9460).
pub const DNS_QUERY_TYPES: [(&str, u16); 15] = [
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("DS", 43),
    ("DNSKEY", 48),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("ANY", 255),
    ("CAA", 257),
];
/// Label names the prober sets itself; `labels` may not use them.
pub const RESERVED_LABELS: [&str; 5] = ["job", "instance", "probe", "phase", "version"];
/// Request headers the prober writes itself (it frames the request).
const RESERVED_HEADERS: [&str; 4] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
];

/// One `[[probe]]` as written.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    /// Unique among probes; the `probe` label of its series.
    pub name: Spanned<String>,
    /// `http`, `tcp` or `dns`.
    pub kind: Spanned<String>,
    /// http: the URL (`http://` or `https://`); tcp: `host:port`; dns: the resolver,
    /// `host:port` or `host` (port 53). The `instance` label of its series.
    pub target: Spanned<String>,
    /// Time between probes, e.g. `30s` (the default).
    #[serde(default)]
    pub interval: Option<Spanned<ConfigDuration>>,
    /// How long one probe may take; at most `interval`. Defaults to `interval`, capped at 10s.
    #[serde(default)]
    pub timeout: Option<Spanned<ConfigDuration>>,
    /// Extra labels on every series of the probe, e.g. `{ env = "prod" }`.
    #[serde(default)]
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    /// http: the request method, `GET` by default.
    #[serde(default)]
    pub method: Option<Spanned<String>>,
    /// http: status codes that count as success; any 2xx when absent.
    #[serde(default)]
    pub valid_status_codes: Option<Spanned<Vec<u16>>>,
    /// http: the probe fails unless the response body matches this regex
    /// (blackbox_exporter's `fail_if_body_not_matches_regexp`).
    #[serde(default)]
    pub body_regex: Option<Spanned<String>>,
    /// http: request headers, e.g. `{ Authorization = "Bearer ..." }`; `Host` also sets
    /// the TLS server name.
    #[serde(default)]
    pub headers: Option<Spanned<BTreeMap<String, String>>>,
    /// http: follow redirects (at most 10), true by default.
    #[serde(default)]
    pub follow_redirects: Option<Spanned<bool>>,
    /// http: largest response body read, e.g. `10MiB` (the default); a larger one fails the probe.
    #[serde(default)]
    pub body_bytes_max: Option<Spanned<ByteSize>>,
    /// tcp: do a TLS handshake after connecting.
    #[serde(default)]
    pub tls: Option<Spanned<bool>>,
    /// http(s), tcp with `tls`: accept any certificate (expiry is still reported).
    #[serde(default)]
    pub tls_insecure_skip_verify: Option<Spanned<bool>>,
    /// http(s), tcp with `tls`: PEM file of the CAs to trust instead of the system's,
    /// relative to the config directory.
    #[serde(default)]
    pub ca_file: Option<Spanned<PathBuf>>,
    /// dns: the name to ask for, e.g. `example.org`.
    #[serde(default)]
    pub query_name: Option<Spanned<String>>,
    /// dns: the record type, `A` by default (see `DNS_QUERY_TYPES`).
    #[serde(default)]
    pub query_type: Option<Spanned<String>>,
}

/// A key only some kinds take: its name, where it is written (if it is), the kinds.
type KindKey = (&'static str, Option<Range<usize>>, &'static [&'static str]);

impl ProbeSection {
    /// The keys only some kinds take.
    fn kind_keys(&self) -> [KindKey; 11] {
        fn at<T>(value: &Option<Spanned<T>>) -> Option<Range<usize>> {
            value.as_ref().map(Spanned::span)
        }
        const HTTP: &[&str] = &["http"];
        [
            ("method", at(&self.method), HTTP),
            ("valid_status_codes", at(&self.valid_status_codes), HTTP),
            ("body_regex", at(&self.body_regex), HTTP),
            ("headers", at(&self.headers), HTTP),
            ("follow_redirects", at(&self.follow_redirects), HTTP),
            ("body_bytes_max", at(&self.body_bytes_max), HTTP),
            ("tls", at(&self.tls), &["tcp"]),
            (
                "tls_insecure_skip_verify",
                at(&self.tls_insecure_skip_verify),
                &["http", "tcp"],
            ),
            ("ca_file", at(&self.ca_file), &["http", "tcp"]),
            ("query_name", at(&self.query_name), &["dns"]),
            ("query_type", at(&self.query_type), &["dns"]),
        ]
    }
}

/// One `[[probe]]` checked. Equal configs probe identically, so a reload restarts only
/// the probes whose config changed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProbeConfig {
    pub name: String,
    /// As written: the `instance` label.
    pub target: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Extra labels, sorted by name, names checked.
    pub labels: Vec<(String, String)>,
    pub kind: ProbeKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Http(HttpProbe),
    Tcp(TcpProbe),
    Dns(DnsProbe),
}

impl ProbeKind {
    pub fn name(&self) -> &'static str {
        match self {
            ProbeKind::Http(_) => "http",
            ProbeKind::Tcp(_) => "tcp",
            ProbeKind::Dns(_) => "dns",
        }
    }
}

/// `kind = "http"`; the URL is the probe's `target`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HttpProbe {
    /// Upper-case token, e.g. `GET`.
    pub method: String,
    /// Empty: any 2xx.
    pub valid_status_codes: Vec<u16>,
    /// Checked to compile (as `regex::bytes::Regex`).
    pub body_regex: Option<String>,
    /// Names and values checked for HTTP syntax, in name order.
    pub headers: Vec<(String, String)>,
    pub follow_redirects: bool,
    pub body_bytes_max: u64,
    /// Used when the URL (or a redirect) is `https`.
    pub tls: ProbeTls,
}

/// `kind = "tcp"`: connect to the target `host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TcpProbe {
    /// `Some`: a TLS handshake after the connect.
    pub tls: Option<ProbeTls>,
}

/// `kind = "dns"`: one query over UDP to the target resolver.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DnsProbe {
    /// The resolver, `host:port` (port 53 added when the target has none).
    pub server: String,
    /// Without the trailing dot.
    pub query_name: String,
    /// One of `DNS_QUERY_TYPES`.
    pub query_type: &'static str,
    pub query_type_code: u16,
}

/// Certificate checks of a probe's TLS handshakes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProbeTls {
    pub insecure_skip_verify: bool,
    /// As written: relative paths are resolved against the config directory by the prober.
    pub ca_file: Option<PathBuf>,
}

impl Checker<'_> {
    pub(super) fn probes(&mut self, sections: &[ProbeSection]) -> Vec<ProbeConfig> {
        if sections.len() > PROBES_MAX
            && let Some(last) = sections.last()
        {
            self.error(
                last.name.span(),
                format!(
                    "probe: {} probes, more than the {PROBES_MAX} allowed",
                    sections.len()
                ),
            );
        }
        let mut names = HashMap::new();
        sections
            .iter()
            .filter_map(|section| self.probe(section, &mut names))
            .collect()
    }

    fn probe(
        &mut self,
        section: &ProbeSection,
        names: &mut HashMap<String, std::ops::Range<usize>>,
    ) -> Option<ProbeConfig> {
        self.unique(names, &section.name, "probe");
        let interval = match &section.interval {
            Some(interval) => {
                let value = interval.get_ref().0;
                if value < limits::SCRAPE_INTERVAL_MIN {
                    self.error(
                        interval.span(),
                        format!(
                            "probe.interval: at least {}",
                            format_duration(limits::SCRAPE_INTERVAL_MIN)
                        ),
                    );
                }
                value
            }
            None => INTERVAL_DEFAULT,
        };
        let timeout = match &section.timeout {
            Some(timeout) => {
                let value = timeout.get_ref().0;
                if value.is_zero() || value > interval {
                    self.error(
                        timeout.span(),
                        format!(
                            "probe.timeout: must be more than 0s and at most the interval ({})",
                            format_duration(interval)
                        ),
                    );
                }
                value
            }
            None => interval.min(TIMEOUT_DEFAULT_MAX),
        };
        let labels = self.probe_labels(section.labels.as_ref());
        let kind = section.kind.get_ref().as_str();
        if matches!(kind, "http" | "tcp" | "dns") {
            self.kind_keys(section, kind);
        }
        let kind = match kind {
            "http" => self.http_probe(section).map(ProbeKind::Http),
            "tcp" => self.tcp_probe(section).map(ProbeKind::Tcp),
            "dns" => self.dns_probe(section).map(ProbeKind::Dns),
            other => {
                self.error(
                    section.kind.span(),
                    format!("probe.kind: must be http, tcp or dns, not {other:?}"),
                );
                None
            }
        }?;
        Some(ProbeConfig {
            name: section.name.get_ref().clone(),
            target: section.target.get_ref().clone(),
            interval,
            timeout,
            labels,
            kind,
        })
    }

    fn probe_labels(
        &mut self,
        labels: Option<&Spanned<BTreeMap<String, String>>>,
    ) -> Vec<(String, String)> {
        let Some(labels) = labels else {
            return Vec::new();
        };
        let mut checked = Vec::with_capacity(labels.get_ref().len());
        for (name, value) in labels.get_ref() {
            match crate::model::check_label_name(name) {
                Err(error) => self.error(labels.span(), format!("probe.labels: {error}")),
                Ok(()) if name.starts_with("__") => self.error(
                    labels.span(),
                    format!("probe.labels: {name:?}: names starting with \"__\" are reserved"),
                ),
                Ok(()) if RESERVED_LABELS.contains(&name.as_str()) => self.error(
                    labels.span(),
                    format!(
                        "probe.labels: {name:?} is set by the prober ({} are)",
                        RESERVED_LABELS.join(", ")
                    ),
                ),
                Ok(()) => checked.push((name.clone(), value.clone())),
            }
        }
        checked
    }

    /// An error for each key of `section` that its kind does not take.
    fn kind_keys(&mut self, section: &ProbeSection, kind: &str) {
        for (key, span, kinds) in section.kind_keys() {
            if let Some(span) = span
                && !kinds.contains(&kind)
            {
                let kinds: Vec<String> = kinds.iter().map(|kind| format!("{kind:?}")).collect();
                self.error(
                    span,
                    format!("probe.{key}: only for kind = {}", kinds.join(" or ")),
                );
            }
        }
    }

    fn http_probe(&mut self, section: &ProbeSection) -> Option<HttpProbe> {
        let target = section.target.get_ref();
        match reqwest::Url::parse(target) {
            Ok(url) if !matches!(url.scheme(), "http" | "https") => self.error(
                section.target.span(),
                format!(
                    "probe.target: scheme {:?} is not http or https",
                    url.scheme()
                ),
            ),
            Ok(url) if url.host_str().is_none_or(str::is_empty) => self.error(
                section.target.span(),
                format!("probe.target: {target:?} has no host"),
            ),
            Ok(url) if !url.username().is_empty() || url.password().is_some() => self.error(
                section.target.span(),
                "probe.target: credentials in the URL are not sent; set an Authorization header in `headers`",
            ),
            Ok(_) => {}
            Err(error) => self.error(
                section.target.span(),
                format!(
                    "probe.target: {target:?} is not a URL ({error}); an http probe needs e.g. \"https://example.org/\""
                ),
            ),
        }
        let method = match &section.method {
            Some(method) => {
                let text = method.get_ref();
                if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_uppercase()) {
                    self.error(
                        method.span(),
                        format!(
                            "probe.method: {text:?} is not a method such as \"GET\" or \"HEAD\""
                        ),
                    );
                }
                text.clone()
            }
            None => "GET".to_string(),
        };
        let valid_status_codes = match &section.valid_status_codes {
            Some(codes) => {
                if codes.get_ref().is_empty() {
                    self.error(
                        codes.span(),
                        "probe.valid_status_codes: list at least one code, or leave the key out for any 2xx",
                    );
                }
                if let Some(code) = codes
                    .get_ref()
                    .iter()
                    .find(|code| !(100..=599).contains(*code))
                {
                    self.error(
                        codes.span(),
                        format!(
                            "probe.valid_status_codes: {code} is not an HTTP status code (100..599)"
                        ),
                    );
                }
                codes.get_ref().clone()
            }
            None => Vec::new(),
        };
        let body_regex = section.body_regex.as_ref().and_then(|pattern| {
            match regex::bytes::Regex::new(pattern.get_ref()) {
                Ok(_) => Some(pattern.get_ref().clone()),
                Err(error) => {
                    // The regex crate's message spans several lines; the last says what is wrong.
                    let reason = error.to_string();
                    let reason = reason.lines().last().unwrap_or("invalid regex").trim();
                    let reason = reason.trim_start_matches("error: ");
                    self.error(
                        pattern.span(),
                        format!(
                            "probe.body_regex: invalid regex {:?}: {reason}",
                            pattern.get_ref()
                        ),
                    );
                    None
                }
            }
        });
        let mut headers = Vec::new();
        if let Some(section_headers) = &section.headers {
            for (name, value) in section_headers.get_ref() {
                if let Err(message) = check_header(name, value) {
                    self.error(section_headers.span(), format!("probe.headers: {message}"));
                } else {
                    headers.push((name.clone(), value.clone()));
                }
            }
        }
        let body_bytes_max = match &section.body_bytes_max {
            Some(max) => {
                let value = max.get_ref().0;
                if value == 0 || value > limits::SCRAPE_BODY_BYTES_MAX as u64 {
                    self.error(
                        max.span(),
                        format!(
                            "probe.body_bytes_max: must be between 1B and {}MiB",
                            limits::SCRAPE_BODY_BYTES_MAX >> 20
                        ),
                    );
                }
                value
            }
            None => BODY_BYTES_DEFAULT,
        };
        Some(HttpProbe {
            method,
            valid_status_codes,
            body_regex,
            headers,
            follow_redirects: section
                .follow_redirects
                .as_ref()
                .is_none_or(|f| *f.get_ref()),
            body_bytes_max,
            tls: self.probe_tls(section),
        })
    }

    fn probe_tls(&mut self, section: &ProbeSection) -> ProbeTls {
        let ca_file = section.ca_file.as_ref().map(|file| {
            if file.get_ref().as_os_str().is_empty() {
                self.error(file.span(), "probe.ca_file: must not be empty");
            } else {
                // Checked at load so a typo is a config error; read again at every
                // probe run, so a renewed file is used without a reload.
                self.existing_file(file, "probe.ca_file");
            }
            file.get_ref().clone()
        });
        ProbeTls {
            insecure_skip_verify: section
                .tls_insecure_skip_verify
                .as_ref()
                .is_some_and(|skip| *skip.get_ref()),
            ca_file,
        }
    }

    fn tcp_probe(&mut self, section: &ProbeSection) -> Option<TcpProbe> {
        if let Err(message) = check_host_port(section.target.get_ref()) {
            self.error(section.target.span(), format!("probe.target: {message}"));
        }
        let tls = section.tls.as_ref().is_some_and(|tls| *tls.get_ref());
        if !tls {
            for (key, span) in [
                (
                    "tls_insecure_skip_verify",
                    section.tls_insecure_skip_verify.as_ref().map(Spanned::span),
                ),
                ("ca_file", section.ca_file.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    self.error(span, format!("probe.{key}: only with tls = true"));
                }
            }
        }
        Some(TcpProbe {
            tls: tls.then(|| self.probe_tls(section)),
        })
    }

    fn dns_probe(&mut self, section: &ProbeSection) -> Option<DnsProbe> {
        let target = section.target.get_ref();
        let server = match dns_server(target) {
            Ok(server) => server,
            Err(message) => {
                self.error(section.target.span(), format!("probe.target: {message}"));
                String::new()
            }
        };
        let Some(query_name) = &section.query_name else {
            self.error(
                section.kind.span(),
                "probe.query_name: a dns probe needs the name to ask for, e.g. query_name = \"example.org\"",
            );
            return None;
        };
        let name = query_name.get_ref().trim_end_matches('.');
        if let Err(message) = check_dns_name(name) {
            self.error(query_name.span(), format!("probe.query_name: {message}"));
        }
        let (query_type, query_type_code) = match &section.query_type {
            Some(written) => {
                let upper = written.get_ref().to_ascii_uppercase();
                match DNS_QUERY_TYPES.iter().find(|(known, _)| *known == upper) {
                    Some(&found) => found,
                    None => {
                        let known: Vec<&str> =
                            DNS_QUERY_TYPES.iter().map(|(known, _)| *known).collect();
                        self.error(
                            written.span(),
                            format!(
                                "probe.query_type: unknown type {:?}; known: {}",
                                written.get_ref(),
                                known.join(", ")
                            ),
                        );
                        DNS_QUERY_TYPES[0]
                    }
                }
            }
            None => DNS_QUERY_TYPES[0],
        };
        Some(DnsProbe {
            server,
            query_name: name.to_string(),
            query_type,
            query_type_code,
        })
    }
}

/// `host:port` with a host and a port (IPv6 in brackets).
fn check_host_port(target: &str) -> Result<(), String> {
    if target.contains("://") {
        return Err(format!(
            "{target:?}: a tcp probe connects to host:port, without a scheme"
        ));
    }
    if target.contains(['/', '@', '?', '#', ' ']) {
        return Err(format!("{target:?}: give host:port"));
    }
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| format!("{target:?}: missing the port (host:port)"))?;
    if host.is_empty() || host == "[]" {
        return Err(format!("{target:?}: missing the host (host:port)"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "{target:?}: write IPv6 addresses in brackets, e.g. [::1]:53"
        ));
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(()),
        _ => Err(format!("{target:?}: {port:?} is not a port number")),
    }
}

/// The resolver of a dns probe as `host:port`: the target, with port 53 when it has none.
fn dns_server(target: &str) -> Result<String, String> {
    if let Ok(ip) = target.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, DNS_PORT).to_string());
    }
    if target.starts_with('[') && target.ends_with(']') {
        let inner = &target[1..target.len() - 1];
        return match inner.parse::<std::net::Ipv6Addr>() {
            Ok(ip) => Ok(std::net::SocketAddr::new(ip.into(), DNS_PORT).to_string()),
            Err(_) => Err(format!("{target:?} is not an IPv6 address")),
        };
    }
    if target.contains(':') {
        check_host_port(target)?;
        return Ok(target.to_string());
    }
    check_dns_name(target).map_err(|message| format!("{target:?}: {message}"))?;
    Ok(format!("{target}:{DNS_PORT}"))
}

/// A domain name of letters, digits, `-` and `_`, labels of 1..63 bytes, 253 in all.
fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 253 {
        return Err(format!("{name:?} is longer than 253 bytes"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "{name:?}: each dot-separated part must be 1 to 63 bytes"
            ));
        }
        if !label.bytes().all(|byte| {
            byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || byte == b'*'
        }) {
            return Err(format!(
                "{name:?}: only letters, digits, '-', '_' and '*' (write other names in punycode)"
            ));
        }
    }
    Ok(())
}

/// A request header the prober may send as written.
fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |byte: u8| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("{name:?} is not a header name"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!("{name:?} is set by the prober"));
    }
    if value
        .bytes()
        .any(|byte| byte == b'\r' || byte == b'\n' || byte == 0)
    {
        return Err(format!("the value of {name:?} holds a line break or NUL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigSource, Overrides, load};

    fn load_probes(toml: &str) -> Result<Vec<ProbeConfig>, String> {
        let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
        std::fs::write(dir.path().join("tandem.toml"), toml).map_err(|error| error.to_string())?;
        load(
            &ConfigSource::Directory(dir.path().to_path_buf()),
            &Overrides::default(),
        )
        .map(|config| config.probes)
        .map_err(|error| error.to_string())
    }

    fn error_of(toml: &str) -> String {
        match load_probes(toml) {
            Ok(probes) => panic!("expected an error, loaded {probes:?}"),
            Err(message) => message,
        }
    }

    #[test]
    fn defaults_per_kind() {
        let probes = load_probes(
            r#"
[[probe]]
name = "homepage"
kind = "http"
target = "https://example.org/"

[[probe]]
name = "ssh"
kind = "tcp"
target = "[::1]:22"
interval = "5s"
labels = { env = "prod" }

[[probe]]
name = "resolver"
kind = "dns"
target = "127.0.0.1"
query_name = "example.org."
"#,
        )
        .expect("valid");
        assert_eq!(
            probes,
            vec![
                ProbeConfig {
                    name: "homepage".into(),
                    target: "https://example.org/".into(),
                    interval: Duration::from_secs(30),
                    timeout: Duration::from_secs(10),
                    labels: vec![],
                    kind: ProbeKind::Http(HttpProbe {
                        method: "GET".into(),
                        valid_status_codes: vec![],
                        body_regex: None,
                        headers: vec![],
                        follow_redirects: true,
                        body_bytes_max: BODY_BYTES_DEFAULT,
                        tls: ProbeTls::default(),
                    }),
                },
                ProbeConfig {
                    name: "ssh".into(),
                    target: "[::1]:22".into(),
                    interval: Duration::from_secs(5),
                    timeout: Duration::from_secs(5),
                    labels: vec![("env".into(), "prod".into())],
                    kind: ProbeKind::Tcp(TcpProbe { tls: None }),
                },
                ProbeConfig {
                    name: "resolver".into(),
                    target: "127.0.0.1".into(),
                    interval: Duration::from_secs(30),
                    timeout: Duration::from_secs(10),
                    labels: vec![],
                    kind: ProbeKind::Dns(DnsProbe {
                        server: "127.0.0.1:53".into(),
                        query_name: "example.org".into(),
                        query_type: "A",
                        query_type_code: 1,
                    }),
                },
            ]
        );
    }

    #[test]
    fn errors_point_at_the_key() {
        let message = error_of("[[probe]]\nname = \"a\"\nkind = \"icmp\"\ntarget = \"x\"\n");
        assert!(
            message.contains("tandem.toml:3:8: probe.kind: must be http, tcp or dns, not \"icmp\""),
            "{message}"
        );
        let message = error_of(
            "[[probe]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"localhost\"\n\n[[probe]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"localhost:1\"\nquery_type = \"A\"\n",
        );
        assert!(
            message.contains("tandem.toml:4:10: probe.target: \"localhost\": missing the port"),
            "{message}"
        );
        assert!(
            message.contains("tandem.toml:7:8: probe.name: duplicate name \"a\""),
            "{message}"
        );
        assert!(
            message.contains("tandem.toml:10:14: probe.query_type: only for kind = \"dns\""),
            "{message}"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for (toml, expected) in [
            (
                "kind = \"http\"\ntarget = \"ftp://example.org/\"",
                "probe.target: scheme \"ftp\" is not http or https",
            ),
            (
                "kind = \"http\"\ntarget = \"http://u:p@example.org/\"",
                "probe.target: credentials in the URL",
            ),
            (
                "kind = \"http\"\ntarget = \"http://x/\"\nbody_regex = \"(\"",
                "probe.body_regex: invalid regex \"(\"",
            ),
            (
                "kind = \"http\"\ntarget = \"http://x/\"\nvalid_status_codes = [200, 700]",
                "probe.valid_status_codes: 700 is not an HTTP status code",
            ),
            (
                "kind = \"http\"\ntarget = \"http://x/\"\nheaders = { Connection = \"keep-alive\" }",
                "probe.headers: \"Connection\" is set by the prober",
            ),
            (
                "kind = \"http\"\ntarget = \"http://x/\"\nmethod = \"get\"",
                "probe.method: \"get\" is not a method",
            ),
            (
                "kind = \"http\"\ntarget = \"http://x/\"\ninterval = \"5s\"\ntimeout = \"6s\"",
                "probe.timeout: must be more than 0s and at most the interval (5s)",
            ),
            (
                "kind = \"http\"\ntarget = \"http://x/\"\nlabels = { instance = \"y\" }",
                "probe.labels: \"instance\" is set by the prober",
            ),
            (
                "kind = \"tcp\"\ntarget = \"x:1\"\nca_file = \"ca.pem\"",
                "probe.ca_file: only with tls = true",
            ),
            (
                "kind = \"dns\"\ntarget = \"127.0.0.1:53\"",
                "probe.query_name: a dns probe needs the name",
            ),
            (
                "kind = \"dns\"\ntarget = \"127.0.0.1:53\"\nquery_name = \"a..b\"",
                "probe.query_name: \"a..b\": each dot-separated part",
            ),
            (
                "kind = \"dns\"\ntarget = \"127.0.0.1:53\"\nquery_name = \"a\"\nquery_type = \"B\"",
                "probe.query_type: unknown type \"B\"",
            ),
            (
                "kind = \"dns\"\ntarget = \"127.0.0.1:53\"\nquery_name = \"a\"\nbogus = 1",
                "unknown key `bogus`",
            ),
        ] {
            let message = error_of(&format!("[[probe]]\nname = \"p\"\n{toml}\n"));
            assert!(message.contains(expected), "{toml}:\n{message}");
        }
    }

    #[test]
    fn dns_servers_get_a_port() {
        assert_eq!(dns_server("::1"), Ok("[::1]:53".into()));
        assert_eq!(dns_server("[::1]"), Ok("[::1]:53".into()));
        assert_eq!(
            dns_server("ns1.example.org"),
            Ok("ns1.example.org:53".into())
        );
        assert_eq!(dns_server("10.0.0.1:5353"), Ok("10.0.0.1:5353".into()));
        assert!(dns_server("10.0.0.1:x").is_err());
    }
}
