//! Family `uname`: `node_uname_info{sysname,nodename,release,version,machine,domainname}`
//! = 1, from `uname(2)`.
//! Owns: that one series. Does not: `node_os_info` (/etc/os-release, node_exporter's
//! `os` family, `os.rs`).

use super::{HostError, HostOptions, Point};

pub(super) fn collect(_options: &HostOptions) -> Result<Vec<Point>, HostError> {
    let mut buffer = std::mem::MaybeUninit::<libc::utsname>::zeroed();
    // SAFETY: `buffer` is a valid, writable `struct utsname`.
    let result = unsafe { libc::uname(buffer.as_mut_ptr()) };
    if result != 0 {
        return Err(HostError::Read {
            path: "uname(2)".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: uname returned 0 and filled the struct, which was zeroed before anyway.
    let buffer = unsafe { buffer.assume_init() };
    Ok(vec![
        Point::new("node_uname_info", 1.0)
            .with("domainname", field(&buffer.domainname))
            .with("machine", field(&buffer.machine))
            .with("nodename", field(&buffer.nodename))
            .with("release", field(&buffer.release))
            .with("sysname", field(&buffer.sysname))
            .with("version", field(&buffer.version)),
    ])
}

/// A NUL-terminated `utsname` field; one without a NUL is taken whole.
fn field(raw: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .map(|&c| c as u8)
        .take_while(|&byte| byte != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_stop_at_nul() {
        let raw: Vec<libc::c_char> = b"Linux\0junk".iter().map(|&b| b as libc::c_char).collect();
        assert_eq!(field(&raw), "Linux");
        let full: Vec<libc::c_char> = b"abc".iter().map(|&b| b as libc::c_char).collect();
        assert_eq!(field(&full), "abc");
    }

    #[test]
    fn this_host_has_a_sysname() {
        let points =
            collect(&HostOptions::node_exporter_defaults().expect("defaults")).expect("uname");
        assert!(points[0].labels.contains(&("sysname", "Linux".to_string())));
    }
}
