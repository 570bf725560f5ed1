//! Statsd packets per second sustained without loss, the listener on one thread.
//!
//!     cargo bench --bench statsd_throughput [-- --seconds 2 --lines 1 --rate-max 4000000]
//!     cargo bench --bench statsd_throughput -- --rate 200000    # one trial at that rate
//!
//! The real listener (`collect::statsd::run`) runs on a current-thread tokio runtime
//! (one thread receives, parses, aggregates and drives the flushes; storage appends
//! run on tokio's blocking pool, as in `tandem serve`) and writes into a real storage
//! in a temporary directory. A second thread sends datagrams over loopback at a fixed
//! rate for `--seconds`: a mix of tagged counters, timers, gauges and sets over about
//! 100 metrics, `--lines` lines per datagram. After two flushes, the listener's own
//! `tandem_statsd_packets_received_total`, read back from storage, says how many
//! arrived; any shortfall is loss (the kernel drops datagrams when the socket buffer,
//! `net.core.rmem_default`, fills up). The rate doubles until there is loss, then a
//! bisection narrows the highest lossless rate. Prints one line per trial and a
//! summary line; "sender-limited" means no loss was seen but the sending thread could
//! not go faster, so the listener's real limit is higher.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem::config::{ConfigSource, Overrides};
use tandem::model::Matcher;
use tandem::storage::{SelectHints, Storage, StorageOptions};

struct Options {
    seconds: f64,
    lines: usize,
    rate_max: u64,
    /// One trial at this rate instead of a search.
    rate: Option<u64>,
}

fn options() -> Options {
    let mut options = Options {
        seconds: 2.0,
        lines: 1,
        rate_max: 4_000_000,
        rate: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--seconds" => options.seconds = value().parse().unwrap_or(options.seconds),
            "--lines" => options.lines = value().parse().unwrap_or(options.lines).max(1),
            "--rate-max" => options.rate_max = value().parse().unwrap_or(options.rate_max),
            "--rate" => options.rate = value().parse().ok(),
            // `cargo bench` passes `--bench`; other harness flags are ignored too.
            _ => {}
        }
    }
    options
}

/// Datagrams to cycle through: realistic lines over ~100 metrics.
fn packets(lines_per_packet: usize) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for index in 0..1000 {
        let route = index % 25;
        lines.push(match index % 4 {
            0 => format!("bench.requests:1|c|#route:/api/{route},code:200"),
            1 => format!("bench.latency:{}|ms|#route:/api/{route}", index % 700),
            2 => format!("bench.queue.depth:{}|g|#shard:{}", index % 50, index % 25),
            _ => format!("bench.users:user{index}|s|#route:/api/{route}"),
        });
    }
    lines
        .chunks(lines_per_packet)
        .map(|chunk| chunk.join("\n").into_bytes())
        .collect()
}

fn packets_received(storage: &Storage) -> f64 {
    storage
        .select(
            &[Matcher::equal(
                "__name__",
                "tandem_statsd_packets_received_total",
            )],
            i64::MIN,
            i64::MAX,
            &SelectHints::default(),
        )
        .ok()
        .and_then(|series| series.into_iter().next())
        .and_then(|data| data.samples().last())
        .map_or(0.0, |sample| sample.v)
}

/// Sends `rate` datagrams per second for `seconds`, paced per millisecond; returns
/// how many were sent and the rate achieved.
fn send(port: u16, packets: &[Vec<u8>], rate: u64, seconds: f64) -> (u64, f64) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the sender");
    socket.connect(("127.0.0.1", port)).expect("connect");
    let total = (rate as f64 * seconds) as u64;
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        // Where the schedule says we should be by now.
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64 + 1).min(total);
        if sent >= due {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        while sent < due {
            let packet = &packets[(sent as usize) % packets.len()];
            if socket.send(packet).is_ok() {
                sent += 1;
            }
        }
    }
    (sent, sent as f64 / start.elapsed().as_secs_f64())
}

/// Lines per second `parse_packet` gets through on this thread (no socket, no
/// aggregation): the parser's share of the per-line cost.
fn parse_rate(packets: &[Vec<u8>]) -> f64 {
    let start = Instant::now();
    let mut lines = 0u64;
    let mut checksum = 0usize;
    while start.elapsed() < Duration::from_millis(500) {
        for packet in packets {
            for line in tandem::collect::statsd::parse_packet(packet).flatten() {
                lines += 1;
                checksum = checksum.wrapping_add(line.tags.len() + line.value_count());
            }
        }
    }
    std::hint::black_box(checksum);
    lines as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let options = options();
    println!(
        "parse only: {:.0} lines/s on one thread",
        parse_rate(&packets(options.lines))
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free port")
        .port();
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::write(
        config_dir.join("tandem.toml"),
        format!(
            "[statsd]\nlisten = \"127.0.0.1:{port}\"\nflush_interval = \"1s\"\n\n[collect.host]\nenabled = false\n"
        ),
    )
    .expect("write config");
    let config = tandem::config::load(&ConfigSource::Directory(config_dir), &Overrides::default())
        .expect("valid config");
    let storage =
        Arc::new(Storage::open(StorageOptions::new(dir.path().join("data"))).expect("storage"));
    let (_configs_sender, configs) = tokio::sync::watch::channel(Arc::new(config));
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let listener_storage = Arc::clone(&storage);
    let listener = std::thread::Builder::new()
        .name("listener".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(tandem::collect::statsd::run(
                listener_storage,
                configs,
                stopped,
            ));
        })
        .expect("start the listener thread");
    let flush = Duration::from_millis(2200);
    // Wait until the listener is bound and has flushed once.
    let warmup = packets(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while packets_received(&storage) == 0.0 {
        assert!(
            Instant::now() < deadline,
            "the statsd listener never flushed"
        );
        send(port, &warmup[..1], 1000, 0.01);
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(flush);

    let packets = packets(options.lines);
    let mut good: Option<(u64, f64)> = None;
    let mut bad: Option<u64> = None;
    let mut rate = options.rate.unwrap_or(25_000).min(options.rate_max);
    let mut sender_limited = false;
    for _ in 0..16 {
        let before = packets_received(&storage);
        let (sent, achieved) = send(port, &packets, rate, options.seconds);
        std::thread::sleep(flush);
        let received = packets_received(&storage) - before;
        let lost = sent as f64 - received;
        println!(
            "target {rate:>8}/s  achieved {achieved:>10.0}/s  sent {sent:>9}  received {received:>9}  lost {lost:>7}"
        );
        if lost <= 0.0 {
            good = Some((rate, achieved));
            if bad.is_none() && achieved < rate as f64 * 0.95 {
                sender_limited = true;
                break;
            }
        } else {
            bad = Some(rate);
        }
        if options.rate.is_some() {
            break;
        }
        let next = match (good, bad) {
            (Some((low, _)), None) => low.saturating_mul(2).min(options.rate_max),
            (Some((low, _)), Some(high)) => (low + high) / 2,
            (None, Some(high)) => high / 2,
            (None, None) => break,
        };
        if next == rate
            || bad
                .zip(good)
                .is_some_and(|(high, (low, _))| high - low < high / 20)
        {
            break;
        }
        rate = next;
    }
    let _ = stop.send(());
    let _ = listener.join();
    match good {
        Some((rate, achieved)) => println!(
            "statsd_throughput: {achieved:.0} packets/s ({} lines/s) sustained without loss for {}s on one listener thread (target {rate}/s, {} line(s) per packet){}",
            achieved as u64 * options.lines as u64,
            options.seconds,
            options.lines,
            if sender_limited {
                "; sender-limited"
            } else {
                ""
            }
        ),
        None => println!("statsd_throughput: loss at every rate tried"),
    }
}
