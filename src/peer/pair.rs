//! `tandem pair`: a fresh shared secret and the `[[peer]]` snippets for both sides,
//! with the steps to install them.
//! Owns: the text printed.
//! Does not: write files or talk to either instance; the operator installs what it
//! prints (on two machines, usually with different people's access).

use crate::config::peer::check_name;
use std::fmt::Write as _;
use std::time::Duration;

/// Both ends of a pairing.
#[derive(Clone, Debug)]
pub struct Pairing {
    /// This instance: its `[server] name` and the URL the peer reaches it at.
    pub self_name: String,
    pub self_url: String,
    /// The other instance.
    pub peer_name: String,
    pub peer_url: String,
    /// Where each side keeps its copy of the secret (the file name names the other side).
    pub secret_dir: String,
    pub interval: Duration,
}

impl Pairing {
    /// Refuses names that cannot be used and URLs that are not http(s).
    pub fn check(&self) -> Result<(), String> {
        check_name(&self.self_name).map_err(|error| format!("this instance's name: {error}"))?;
        check_name(&self.peer_name).map_err(|error| format!("--name: {error}"))?;
        if self.self_name == self.peer_name {
            return Err(format!(
                "both instances would be named {:?}; give this one another [server] name or --self-name",
                self.self_name
            ));
        }
        for (flag, url) in [
            ("--peer-url", &self.peer_url),
            ("--self-url", &self.self_url),
        ] {
            match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                Ok(parsed) => {
                    return Err(format!(
                        "{flag}: scheme {:?} is not http or https",
                        parsed.scheme()
                    ));
                }
                Err(error) => return Err(format!("{flag}: {url:?} is not a URL: {error}")),
            }
        }
        let interval = crate::config::units::format_duration(self.interval);
        if !(crate::config::peer::INTERVAL_MIN..=crate::config::peer::INTERVAL_MAX)
            .contains(&self.interval)
        {
            return Err(format!("--interval: {interval} is out of range"));
        }
        Ok(())
    }

    /// Whether the peer could not reach `self_url` (a loopback address).
    fn self_url_is_loopback(&self) -> bool {
        reqwest::Url::parse(&self.self_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_string))
            .is_some_and(|host| {
                host == "localhost"
                    || host
                        .trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            })
    }

    fn secret_path(&self, other: &str) -> String {
        format!(
            "{}/peer-{other}.secret",
            self.secret_dir.trim_end_matches('/')
        )
    }

    /// The snippet for the instance named `own`, pairing with `other` at `url`.
    fn snippet(&self, own: &str, other: &str, url: &str) -> String {
        let interval = crate::config::units::format_duration(self.interval);
        format!(
            "[server]\nname = {own:?}\n\n[[peer]]\nname = {other:?}\nurl = {url:?}\nsecret_file = {:?}\ninterval = {interval:?}\n",
            self.secret_path(other)
        )
    }

    /// Everything `tandem pair` prints, around `secret`.
    pub fn render(&self, secret: &str) -> String {
        let (a, b) = (&self.self_name, &self.peer_name);
        let mut text = String::new();
        let _ = writeln!(
            text,
            "# Pairing {a} (this instance, {}) with {b} ({}).",
            self.self_url, self.peer_url
        );
        if self.self_url_is_loopback() {
            let _ = writeln!(
                text,
                "# WARNING: {b} cannot reach {} from another machine; set [server] external_url\n# (or pass --self-url) to an address {b} can reach.",
                self.self_url
            );
        }
        let _ = writeln!(
            text,
            "\n# 1. The shared secret. Install it on both machines, readable only by tandem:\n#\n#    on {a}:  (umask 077; printf '%s\\n' '{secret}' > {})\n#    on {b}:  (umask 077; printf '%s\\n' '{secret}' > {})\n#\n#    and on each: chown tandem: <that file>. Keep it out of version control.",
            self.secret_path(b),
            self.secret_path(a),
        );
        let _ = writeln!(
            text,
            "\n# 2. On {a}, add to tandem.toml (its [server] name must be {a:?}):\n\n{}",
            self.snippet(a, b, &self.peer_url)
        );
        let _ = writeln!(
            text,
            "# 3. On {b}, add to tandem.toml (its [server] name must be {b:?}):\n\n{}",
            self.snippet(b, a, &self.self_url)
        );
        let _ = writeln!(
            text,
            "# 4. On each: `tandem check`, then `tandem reload` (or systemctl reload tandem).\n#    Each then shows the other on its /peer page, and the rules in rules/peer.toml\n#    (PeerDown, PeerUnreachable, PeerCannotNotify, PeerDegraded, PeerClockSkew)\n#    alert through its own receivers."
        );
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairing() -> Pairing {
        Pairing {
            self_name: "a".into(),
            self_url: "http://10.0.0.1:9797".into(),
            peer_name: "b".into(),
            peer_url: "http://10.0.0.2:9797".into(),
            secret_dir: "/etc/tandem/".into(),
            interval: Duration::from_secs(5),
        }
    }

    #[test]
    fn both_snippets_name_each_other_and_their_own_secret_file() {
        let text = pairing().render("s3cret");
        assert!(text.contains(
            "[server]\nname = \"a\"\n\n[[peer]]\nname = \"b\"\nurl = \"http://10.0.0.2:9797\"\nsecret_file = \"/etc/tandem/peer-b.secret\"\ninterval = \"5s\"\n"
        ), "{text}");
        assert!(text.contains(
            "[server]\nname = \"b\"\n\n[[peer]]\nname = \"a\"\nurl = \"http://10.0.0.1:9797\"\nsecret_file = \"/etc/tandem/peer-a.secret\"\n"
        ), "{text}");
        assert!(
            text.contains("'s3cret' > /etc/tandem/peer-b.secret"),
            "{text}"
        );
        assert!(!text.contains("WARNING"), "{text}");
    }

    #[test]
    fn a_loopback_self_url_is_warned_about_and_bad_input_refused() {
        let mut loopback = pairing();
        loopback.self_url = "http://127.0.0.1:9797".into();
        assert!(loopback.render("x").contains("WARNING: b cannot reach"));
        let mut same = pairing();
        same.peer_name = "a".into();
        assert!(same.check().unwrap_err().contains("both instances"));
        let mut bad = pairing();
        bad.peer_url = "ftp://x".into();
        assert!(bad.check().unwrap_err().contains("--peer-url"));
        let mut name = pairing();
        name.peer_name = "b c".into();
        assert!(name.check().unwrap_err().starts_with("--name"));
        assert_eq!(pairing().check(), Ok(()));
    }
}
