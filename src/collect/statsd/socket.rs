//! The listener's UDP socket: binding with a receive buffer size, and the kernel's
//! count of datagrams it dropped because that buffer was full.
//! Owns: `SO_RCVBUF`, and reading `/proc/net/udp` and `/proc/net/udp6`.
//! Does not: receive (`statsd.rs`'s receive task does).
//!
//! A datagram that arrives while the socket's buffer is full is dropped by the kernel
//! and never seen by tandem; Linux counts them per socket in the last column of
//! `/proc/net/udp{,6}`, found by the socket's inode. That count is stored as
//! `tandem_statsd_packets_dropped_total` (since the socket was bound).

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// A bound socket, and what the kernel made of the buffer size asked for.
pub struct Bound {
    pub socket: tokio::net::UdpSocket,
    /// `SO_RCVBUF` as the kernel reports it (it doubles the request for bookkeeping,
    /// and caps it at `net.core.rmem_max`).
    pub receive_buffer_bytes: Option<usize>,
    /// The socket's inode, to find it in `/proc/net/udp`.
    pub inode: Option<u64>,
}

/// Binds `address`, asking for a receive buffer of `receive_buffer_bytes` (0: the
/// kernel's default).
pub async fn bind(address: SocketAddr, receive_buffer_bytes: usize) -> io::Result<Bound> {
    let socket = tokio::net::UdpSocket::bind(address).await?;
    let fd = socket.as_raw_fd();
    if receive_buffer_bytes > 0 {
        let size = libc::c_int::try_from(receive_buffer_bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fd` is the open socket owned by `socket`; the option value is a
        // c_int that lives across the call, and its size is given.
        let result = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw const size).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result != 0 {
            let error = io::Error::last_os_error();
            tracing::warn!(%error, "statsd: could not set the socket's receive buffer size; the kernel default applies");
        }
    }
    let mut size: libc::c_int = 0;
    let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: as above; `size` and `length` are writable and `length` holds the size.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw mut size).cast(),
            &raw mut length,
        )
    };
    let receive_buffer_bytes = (result == 0).then(|| usize::try_from(size).ok()).flatten();
    Ok(Bound {
        socket,
        receive_buffer_bytes,
        inode: inode(fd),
    })
}

/// The inode of the socket `fd`, from `/proc/self/fd` (`socket:[12345]`).
fn inode(fd: i32) -> Option<u64> {
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    let text = target.to_str()?;
    text.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Datagrams the kernel dropped for the socket `inode`; `None` if it is not found
/// (not Linux, or `/proc` unreadable).
pub fn kernel_drops(inode: u64) -> Option<u64> {
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .find_map(|path| drops_in(&std::fs::read_to_string(path).ok()?, inode))
}

/// The `drops` column of the line for `inode` in a `/proc/net/udp` table.
fn drops_in(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let line_inode: u64 = fields.get(9)?.parse().ok()?;
        if line_inode != inode {
            return None;
        }
        fields.get(12)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_read_by_inode() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  259: 0100007F:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4242 2 0000000000000000 0\n\
  301: 0100007F:1FBD 00000000:0000 07 00000000:00034000 00:00000000 00000000  1000        0 987654 2 0000000000000000 117\n";
        assert_eq!(drops_in(table, 987654), Some(117));
        assert_eq!(drops_in(table, 4242), Some(0));
        assert_eq!(drops_in(table, 1), None);
        assert_eq!(drops_in("garbage\n1 2 3\n", 1), None);
    }

    #[tokio::test]
    async fn binds_with_a_buffer_and_finds_its_drop_count() {
        let bound = bind("127.0.0.1:0".parse().expect("literal"), 1 << 20)
            .await
            .expect("bind");
        assert!(bound.receive_buffer_bytes.is_some_and(|bytes| bytes > 0));
        let inode = bound.inode.expect("a socket inode");
        assert_eq!(kernel_drops(inode), Some(0));
    }
}
