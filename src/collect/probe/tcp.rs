//! The tcp probe: a connect to `host:port`, and a TLS handshake when `tls = true`.
//! Owns: its series beyond `net.rs`'s TLS ones. Does not: send or expect anything
//! (blackbox_exporter's query/response dialogs are not supported).

use super::net::{self, TlsInfo};
use super::{Outcome, Point, ip_protocol, seconds};
use crate::config::probe::TcpProbe;
use std::path::Path;
use std::time::Instant;

/// What a tcp probe reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TcpReport {
    pub dns_lookup_seconds: f64,
    pub ip_protocol: f64,
    pub tls: Option<TlsInfo>,
}

impl TcpReport {
    pub fn points(&self) -> Vec<Point> {
        let mut points = vec![
            Point::new("probe_dns_lookup_time_seconds", self.dns_lookup_seconds),
            Point::new("probe_ip_protocol", self.ip_protocol),
        ];
        if let Some(tls) = &self.tls {
            points.extend(tls.points());
        }
        points
    }
}

pub(super) fn probe(
    probe: &TcpProbe,
    target: &str,
    config_dir: &Path,
    deadline: Instant,
) -> Outcome {
    let mut report = TcpReport::default();
    let result = connect(probe, target, config_dir, deadline, &mut report);
    Outcome {
        success: result.is_ok(),
        points: report.points(),
        failure: result.err().map(|error| error.to_string()),
    }
}

fn connect(
    probe: &TcpProbe,
    target: &str,
    config_dir: &Path,
    deadline: Instant,
    report: &mut TcpReport,
) -> Result<(), super::ProbeError> {
    let (host, port) = net::split_host_port(target)?;
    let started = Instant::now();
    let addresses = net::resolve(host, port);
    report.dns_lookup_seconds = seconds(started);
    let addresses = addresses?;
    if let Some(address) = addresses.first() {
        report.ip_protocol = ip_protocol(address);
    }
    let (socket, address) = net::connect(&addresses, deadline)?;
    report.ip_protocol = ip_protocol(&address);
    if let Some(tls) = &probe.tls {
        let config = net::client_config(tls, config_dir, &[])?;
        let (_stream, info) = net::handshake(socket, config, net::server_name(host)?)?;
        report.tls = Some(info);
    }
    Ok(())
}
