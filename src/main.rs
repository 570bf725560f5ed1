//! The `tandem` command line: parses arguments and wires the library together.
//! Everything with logic lives in the library (`src/lib.rs`); this file only
//! dispatches, prints and picks exit codes.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use tandem::config::{self, ConfigSource, Overrides};
use tandem::selfmon::{REVISION, VERSION};

#[derive(Parser)]
#[command(
    name = "tandem",
    version,
    about = "A monitoring appliance in one binary",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no command, tandem serves.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run tandem (the default command).
    Serve(ServeArgs),
    /// Validate a config directory; list every error as file:line:col and exit 1 if any.
    Check {
        /// The config directory (default: /etc/tandem if it exists, else the embedded default).
        dir: Option<PathBuf>,
    },
    /// Ask a running tandem to reload its config; exit 1 if it rejects the config or the
    /// credentials, 2 if it cannot be reached.
    Reload(ReloadArgs),
    /// Backfill text exposition files (Prometheus text with millisecond timestamps, or
    /// OpenMetrics; `.gz` allowed) into a data directory while tandem is not running.
    Import(ImportArgs),
    /// Compact a data directory now: every sealed chunk into SQLite blocks.
    Compact {
        /// The data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Run PromQL test files in Prometheus' promqltest format against the engine; print
    /// each failure as FILE:LINE and end with "N passed, M failed" (exit 1 if any failed).
    PromqlTest {
        /// Test files (`.test`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Unit-test rule files, like `promtool test rules`, from TOML test files; print
    /// each failure and end with "N passed, M failed" (exit 1 if any failed).
    TestRules {
        /// Test files (`.toml`) naming the rule files they test.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Evaluate a PromQL expression on a running tandem and print the result as a table.
    Query(QueryArgs),
    /// Add, list or expire temporary silences on a running tandem (silences kept in
    /// version control go in silences/*.toml instead).
    Silence(SilenceArgs),
    /// Print an argon2 hash of a password for [[auth.user]] password_hash (reads stdin).
    HashPassword,
    /// Print a fresh peer secret and the [[peer]] snippets for this instance and the
    /// one named NAME at URL, with the steps to install them.
    Pair(PairArgs),
    /// Print shell completions for bash, zsh or fish.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), as the Debian package installs it.
    Man,
    /// Print the version.
    Version,
}

#[derive(Args, Clone, Default)]
struct ServeArgs {
    /// Config directory (default: /etc/tandem if it exists, else the embedded default).
    #[arg(long, value_name = "DIR")]
    config: Option<PathBuf>,
    /// Data directory (default: [storage] data_dir from the config).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Listen address (default: [server] listen from the config, 127.0.0.1:9797).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

#[derive(Args)]
struct ImportArgs {
    /// The data directory (the same one `tandem serve --data` uses).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Config directory whose [limits] apply (default: /etc/tandem if it exists, else the embedded default).
    #[arg(long, value_name = "DIR")]
    config: Option<PathBuf>,
    /// Input format: `text` (Prometheus, ms timestamps) or `openmetrics` (seconds, `# EOF`).
    #[arg(long, default_value = "text")]
    format: String,
    /// Store the valid lines and list the invalid ones, instead of refusing the file.
    #[arg(long)]
    skip_invalid: bool,
    /// Files to import.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct QueryArgs {
    /// Base URL of the running instance.
    #[arg(long, env = "TANDEM_URL", default_value = "http://127.0.0.1:9797")]
    url: String,
    /// Evaluation time: Unix seconds or RFC 3339 (default: now).
    #[arg(long)]
    time: Option<String>,
    /// File holding a bearer token from [[auth.token]].
    #[arg(long, value_name = "FILE")]
    bearer_token_file: Option<PathBuf>,
    /// Storage tier to read: auto, raw, or a rollup resolution such as 1h.
    #[arg(long)]
    tier: Option<String>,
    /// The PromQL expression.
    expr: String,
}

#[derive(Args)]
struct PairArgs {
    /// The other instance's name (its [server] name).
    #[arg(long, value_name = "NAME")]
    name: String,
    /// The other instance's base URL, e.g. http://10.0.0.2:9797.
    #[arg(long, value_name = "URL")]
    peer_url: String,
    /// This instance's name (default: [server] name from the config, else the host name).
    #[arg(long, value_name = "NAME")]
    self_name: Option<String>,
    /// The URL the other instance reaches this one at (default: [server] external_url).
    #[arg(long, value_name = "URL")]
    self_url: Option<String>,
    /// Config directory to read this instance's name and URL from (default: /etc/tandem
    /// if it exists, else the embedded default).
    #[arg(long, value_name = "DIR")]
    config: Option<PathBuf>,
    /// Directory of the secret files on both machines.
    #[arg(long, value_name = "DIR", default_value = "/etc/tandem")]
    secret_dir: String,
    /// Heartbeat interval for both sides, e.g. 5s.
    #[arg(long, default_value = "5s")]
    interval: String,
}

#[derive(Args)]
struct ReloadArgs {
    /// Base URL of the running instance.
    #[arg(long, env = "TANDEM_URL", default_value = "http://127.0.0.1:9797")]
    url: String,
    /// File holding a bearer token from [[auth.token]].
    #[arg(long, value_name = "FILE")]
    bearer_token_file: Option<PathBuf>,
    /// PEM CA certificate to trust for https URLs (e.g. a self-signed server certificate).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

#[derive(Args)]
struct SilenceArgs {
    /// Base URL of the running instance.
    #[arg(
        long,
        env = "TANDEM_URL",
        default_value = "http://127.0.0.1:9797",
        global = true
    )]
    url: String,
    /// File holding a bearer token from [[auth.token]].
    #[arg(long, value_name = "FILE", global = true)]
    bearer_token_file: Option<PathBuf>,
    /// PEM CA certificate to trust for https URLs (e.g. a self-signed server certificate).
    #[arg(long, value_name = "FILE", global = true)]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    action: SilenceAction,
}

#[derive(Subcommand)]
enum SilenceAction {
    /// Silence the alerts matching every MATCHER (Alertmanager syntax, e.g.
    /// 'alertname="Watchdog"' or severity=page); print the new silence's ID.
    Add {
        /// How long the silence lasts, e.g. 30m, 2h, 1d.
        #[arg(long, default_value = "2h")]
        duration: String,
        /// Why (shown with the silence).
        #[arg(long, default_value = "added with tandem silence add")]
        comment: String,
        /// Who (default: $USER).
        #[arg(long)]
        author: Option<String>,
        /// Matchers; an alert must match all of them.
        #[arg(required = true, value_name = "MATCHER")]
        matchers: Vec<String>,
    },
    /// List silences: active and pending ones, and with --expired the recently expired.
    List {
        /// Also list silences that expired in the last 5 days.
        #[arg(long)]
        expired: bool,
    },
    /// End a temporary silence now (silences from files end by editing the file).
    Expire {
        /// The silence's ID, as `tandem silence list` shows it.
        id: String,
    },
}

fn main() -> ExitCode {
    tandem::allocator::tune();
    // One crypto provider for the whole binary (rustls server, reqwest, lettre).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Check { dir }) => Ok(check(dir)),
        Some(Command::Reload(args)) => reload(args),
        Some(Command::Import(args)) => import(args),
        Some(Command::Compact { data }) => compact(data),
        Some(Command::PromqlTest { files }) => promql_test(&files),
        Some(Command::TestRules { files }) => test_rules(&files),
        Some(Command::Query(args)) => query(args),
        Some(Command::Silence(args)) => silence(args),
        Some(Command::HashPassword) => hash_password().map(|()| ExitCode::SUCCESS),
        Some(Command::Pair(args)) => pair(args).map(|()| ExitCode::SUCCESS),
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "tandem", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Man) => man().map(|()| ExitCode::SUCCESS),
        Some(Command::Version) => {
            println!("tandem {VERSION} (revision {REVISION})");
            Ok(ExitCode::SUCCESS)
        }
    };
    result.unwrap_or_else(|error| {
        eprintln!("tandem: {error:#}");
        ExitCode::FAILURE
    })
}

fn config_source(dir: Option<PathBuf>) -> ConfigSource {
    dir.map_or_else(config::default_source, ConfigSource::Directory)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let source = config_source(args.config);
    let overrides = Overrides {
        listen: args.listen,
        data_dir: args.data,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(tandem::serve::serve(source, overrides))?;
    Ok(ExitCode::SUCCESS)
}

fn check(dir: Option<PathBuf>) -> ExitCode {
    let source = config_source(dir);
    match config::load(&source, &Overrides::default()) {
        Ok(loaded) => {
            println!("ok: {} files, config {}", loaded.files.len(), loaded.hash);
            ExitCode::SUCCESS
        }
        Err(error) => {
            for diagnostic in &error.diagnostics {
                eprintln!("{diagnostic}");
            }
            let count = error.diagnostics.len();
            eprintln!("{count} error{}", if count == 1 { "" } else { "s" });
            ExitCode::FAILURE
        }
    }
}

fn open_offline(
    config: Option<PathBuf>,
    data: &std::path::Path,
    staged_bytes_max: u64,
) -> anyhow::Result<(std::fs::File, tandem::storage::Storage)> {
    let loaded = config::load(&config_source(config), &Overrides::default())
        .map_err(|error| anyhow::anyhow!("invalid config:\n{error}"))?;
    let lock = tandem::storage::lock_data_dir(data)?;
    let mut options = loaded.storage_options();
    options.data_dir = data.to_path_buf();
    options.write_ahead_log = false;
    options.staged_bytes_max = staged_bytes_max;
    let storage = tandem::storage::Storage::open(options)
        .with_context(|| format!("opening {}", data.display()))?;
    Ok((lock, storage))
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    use tandem::collect::{expfmt, import};
    let format = match args.format.as_str() {
        "text" | "prometheus" => expfmt::Format::Text,
        "openmetrics" => expfmt::Format::OpenMetrics,
        other => anyhow::bail!("unknown --format {other:?}: use text or openmetrics"),
    };
    // One pass when every file is plain and small enough to hold until it is known
    // valid; otherwise each file is checked first, then stored.
    let single_pass = !args.skip_invalid
        && args.files.iter().all(|file| {
            file.extension().is_none_or(|extension| extension != "gz")
                && std::fs::metadata(file).is_ok_and(|metadata| {
                    metadata.len() <= tandem::limits::IMPORT_SINGLE_PASS_FILE_BYTES_MAX
                })
        });
    let staged_bytes_max = if single_pass {
        u64::MAX
    } else {
        tandem::limits::STAGED_BYTES_MAX
    };
    let (_lock, storage) = open_offline(args.config, &args.data, staged_bytes_max)?;
    let started = std::time::Instant::now();
    let mut compaction_seconds = 0.0;
    let mut total = import::ImportReport::default();
    let options = import::ImportOptions {
        format,
        skip_invalid: args.skip_invalid,
        durability: tandem::storage::Durability::Background,
        default_timestamp_ms: tandem::config::history::unix_millis(std::time::SystemTime::now()),
    };
    for file in &args.files {
        let input = ImportInput::open(file)?;
        let size = std::fs::metadata(file)
            .map(|metadata| metadata.len())
            .unwrap_or(0);
        if !args.skip_invalid && !single_pass {
            let bar = progress_bar(size, &format!("checking {}", file.display()));
            let (count, listed) = import::validate(input.source()?, format, &mut |bytes| {
                bar.set_position(bytes)
            })?;
            bar.finish_and_clear();
            if count > 0 {
                eprintln!(
                    "{}: {count} invalid line(s); nothing was imported (--skip-invalid stores the valid ones):",
                    file.display()
                );
                for line in listed {
                    eprintln!("{}:{line}", file.display());
                }
                return Ok(ExitCode::FAILURE);
            }
        }
        let bar = progress_bar(size, &format!("importing {}", file.display()));
        let imported = import::import(input.source()?, &storage, &options, &mut |bytes| {
            bar.set_position(bytes)
        });
        bar.finish_and_clear();
        let report = match imported {
            Err(import::ImportError::Invalid { count, listed }) => {
                // Single pass: this file's samples are only in memory; dropping the
                // storage without finishing writes none of them.
                eprintln!(
                    "{}: {count} invalid line(s); nothing from it was imported (--skip-invalid stores the valid ones):",
                    file.display()
                );
                for line in listed {
                    eprintln!("{}:{line}", file.display());
                }
                return Ok(ExitCode::FAILURE);
            }
            other => other?,
        };
        if single_pass {
            // Make this file durable before the next one can fail.
            let compacting = std::time::Instant::now();
            storage.finish_offline()?;
            compaction_seconds += compacting.elapsed().as_secs_f64();
        }
        for line in &report.skipped {
            eprintln!("{}: skipped {line}", file.display());
        }
        total.samples += report.samples;
        total.outcome.merge(report.outcome);
        total.skipped_count += report.skipped_count;
    }
    let bar = progress_bar(0, "compacting");
    let compacting = std::time::Instant::now();
    storage.finish_offline()?;
    compaction_seconds += compacting.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "imported {} samples in {seconds:.1}s ({:.0} samples/s, {compaction_seconds:.1}s of it compacting): {} stored, {} unchanged, {} rejected, {} lines skipped",
        total.samples,
        total.samples as f64 / seconds.max(1e-9),
        total.outcome.accepted,
        total.outcome.unchanged,
        total.outcome.rejected,
        total.skipped_count
    );
    for rejection in &total.outcome.rejections {
        eprintln!("rejected: {rejection}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A file to import: plain files are memory-mapped and parsed in place (no copy of
/// every line through a read buffer, which cost a tenth of the import's CPU);
/// `.gz` files are decompressed as a stream.
enum ImportInput {
    Mapped(memmap2::Mmap),
    Gzip(PathBuf),
}

impl ImportInput {
    fn open(file: &std::path::Path) -> anyhow::Result<ImportInput> {
        if file.extension().is_some_and(|extension| extension == "gz") {
            return Ok(ImportInput::Gzip(file.to_path_buf()));
        }
        let handle =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        // SAFETY: the map is read-only and lives while the import runs. If another
        // process truncated the file meanwhile, reads past the new end would fault;
        // `tandem import` is documented to take files nobody is writing.
        let map = unsafe { memmap2::Mmap::map(&handle) }
            .with_context(|| format!("mapping {}", file.display()))?;
        // Read once front to back: let the kernel read ahead and drop pages behind us.
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(ImportInput::Mapped(map))
    }

    fn source(&self) -> anyhow::Result<tandem::collect::import::Source<'_>> {
        use tandem::collect::import::Source;
        Ok(match self {
            ImportInput::Mapped(map) => Source::Bytes(map),
            ImportInput::Gzip(path) => {
                let handle = std::fs::File::open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                let reader = std::io::BufReader::with_capacity(
                    1 << 20,
                    flate2::read::GzDecoder::new(handle),
                );
                Source::Read(Box::new(reader))
            }
        })
    }
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
fn progress_bar(total: u64, message: &str) -> indicatif::ProgressBar {
    let bar = if total > 0 {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    let style = indicatif::ProgressStyle::with_template(
        "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(message.to_string());
    bar
}

fn compact(data: PathBuf) -> anyhow::Result<ExitCode> {
    let (_lock, storage) = open_offline(None, &data, tandem::limits::STAGED_BYTES_MAX)?;
    storage.seal_idle(i64::MAX)?;
    let report = storage.compact(i64::MAX)?;
    storage.finish_offline()?;
    println!(
        "compacted {} chunks ({} samples) into {} blocks",
        report.chunks, report.samples, report.blocks_written
    );
    Ok(ExitCode::SUCCESS)
}

/// Sends `request` with the bearer token from `token_file`, if any. `None` when the
/// server cannot be reached (said on stderr; the commands exit 2 then).
fn send(
    request: reqwest::blocking::RequestBuilder,
    token_file: Option<&std::path::Path>,
    url: &str,
) -> anyhow::Result<Option<reqwest::blocking::Response>> {
    let request = match token_file {
        Some(token_file) => {
            let token = std::fs::read_to_string(token_file)
                .with_context(|| format!("reading {}", token_file.display()))?;
            request.bearer_auth(token.trim())
        }
        None => request,
    };
    match request.send() {
        Ok(response) => Ok(Some(response)),
        Err(error) => {
            eprintln!("tandem: cannot reach {url}: {error}");
            Ok(None)
        }
    }
}

fn promql_test(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    run_test_files(files, "", |file| {
        let report = tandem::promql::promqltest::run_file(file)
            .with_context(|| format!("reading {}", file.display()))?;
        Ok((report.failures, report.passed, report.failed))
    })
}

/// `tandem test-rules`: every file's tests, failures first, the total last.
fn test_rules(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    run_test_files(files, "FAILED ", |file| {
        let report = tandem::alert::unittest::run_file(file);
        Ok((report.failures, report.passed, report.failed))
    })
}

/// Runs each file's tests: failures on stdout (each after `prefix`), a per-file count
/// on stderr, the total as the last line; exit 1 if anything failed.
fn run_test_files(
    files: &[PathBuf],
    prefix: &str,
    run: impl Fn(&std::path::Path) -> anyhow::Result<(Vec<String>, usize, usize)>,
) -> anyhow::Result<ExitCode> {
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in files {
        let (failures, file_passed, file_failed) = run(file)?;
        for failure in &failures {
            println!("{prefix}{failure}");
        }
        eprintln!(
            "{}: {file_passed} passed, {file_failed} failed",
            file.display()
        );
        passed += file_passed;
        failed += file_failed;
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `tandem query`: an instant query over HTTP, printed as an aligned table.
fn query(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(150))
        .build()
        .context("building the HTTP client")?;
    let url = format!("{}/api/v1/query", args.url.trim_end_matches('/'));
    let mut form = vec![("query", args.expr.clone())];
    if let Some(time) = &args.time {
        form.push(("time", time.clone()));
    }
    if let Some(tier) = &args.tier {
        form.push(("tier", tier.clone()));
    }
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let request = client
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    let Some(response) = send(request, args.bearer_token_file.as_deref(), &url)? else {
        return Ok(ExitCode::from(2));
    };
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .with_context(|| format!("{url} answered {status} without JSON"))?;
    if body["status"] != "success" {
        eprintln!(
            "tandem: query failed ({}): {}",
            body["errorType"].as_str().unwrap_or("unknown"),
            body["error"].as_str().unwrap_or("no message")
        );
        return Ok(ExitCode::FAILURE);
    }
    print!("{}", render_table(&body["data"]));
    if let Some(tier) = body["tier"].as_str() {
        eprintln!("served from tier {tier}");
    }
    for key in ["warnings", "infos"] {
        if let Some(list) = body[key].as_array() {
            for message in list {
                eprintln!("{}", message.as_str().unwrap_or_default());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A query result as rows of labels and value, columns aligned.
fn render_table(data: &serde_json::Value) -> String {
    let value_of = |point: &serde_json::Value| point[1].as_str().unwrap_or("").to_string();
    let mut rows: Vec<(String, String)> = Vec::new();
    match data["resultType"].as_str() {
        Some("vector") => {
            for sample in data["result"].as_array().into_iter().flatten() {
                let labels = render_metric(&sample["metric"]);
                rows.push((labels, value_of(&sample["value"])));
            }
        }
        Some("matrix") => {
            for series in data["result"].as_array().into_iter().flatten() {
                let labels = render_metric(&series["metric"]);
                let values: Vec<String> = series["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|point| format!("{} @{}", value_of(point), point[0]))
                    .collect();
                rows.push((labels, values.join(", ")));
            }
        }
        Some("scalar") => rows.push(("scalar".into(), value_of(&data["result"]))),
        Some("string") => rows.push(("string".into(), value_of(&data["result"]))),
        _ => {}
    }
    let width = rows
        .iter()
        .map(|(labels, _)| labels.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (labels, value) in rows {
        out.push_str(&format!("{labels:<width$}  {value}\n"));
    }
    out
}

/// `name{a="b", ...}` from a JSON label map.
fn render_metric(metric: &serde_json::Value) -> String {
    let Some(map) = metric.as_object() else {
        return "{}".into();
    };
    let name = map.get("__name__").and_then(|v| v.as_str()).unwrap_or("");
    let pairs: Vec<String> = map
        .iter()
        .filter(|(key, _)| key.as_str() != "__name__")
        .map(|(key, value)| format!("{key}={}", value))
        .collect();
    if pairs.is_empty() && !name.is_empty() {
        return name.to_string();
    }
    format!("{name}{{{}}}", pairs.join(", "))
}

/// The HTTP client of the commands that talk to a running instance, trusting
/// `ca_file` in addition to the usual roots.
fn admin_client(ca_file: Option<&std::path::Path>) -> anyhow::Result<reqwest::blocking::Client> {
    let mut client =
        reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(30));
    if let Some(ca_file) = ca_file {
        let pem =
            std::fs::read(ca_file).with_context(|| format!("reading {}", ca_file.display()))?;
        let certificate = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("parsing {}", ca_file.display()))?;
        client = client.add_root_certificate(certificate);
    }
    client.build().context("building the HTTP client")
}

fn reload(args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let client = admin_client(args.ca_file.as_deref())?;
    let url = format!("{}/-/reload", args.url.trim_end_matches('/'));
    let Some(response) = send(client.post(&url), args.bearer_token_file.as_deref(), &url)? else {
        return Ok(ExitCode::from(2));
    };
    let status = response.status();
    if matches!(status.as_u16(), 401 | 403) {
        let text = response.text().unwrap_or_default();
        eprintln!(
            "tandem: {url} refused the reload ({status}): {}",
            text.trim()
        );
        eprintln!("hint: pass --bearer-token-file with a token from [[auth.token]]");
        return Ok(ExitCode::FAILURE);
    }
    let body: serde_json::Value = match response.json() {
        Ok(body) => body,
        Err(_) => {
            eprintln!("tandem: {url} answered {status} without a reload result (is it tandem?)");
            return Ok(ExitCode::from(2));
        }
    };
    if body["status"] == "success" {
        let changed = if body["changed"] == true {
            "applied"
        } else {
            "unchanged"
        };
        println!(
            "reloaded: config {} ({changed})",
            body["hash"].as_str().unwrap_or("?")
        );
        for setting in body["restart_needed"].as_array().into_iter().flatten() {
            println!("restart needed for: {}", setting.as_str().unwrap_or("?"));
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("tandem: reload rejected ({status}); the previous config keeps running:");
    for error in body["errors"].as_array().into_iter().flatten() {
        eprintln!("{}", error.as_str().unwrap_or("?"));
    }
    if let Some(message) = body["error"].as_str().filter(|_| body["errors"].is_null()) {
        eprintln!("{message}");
    }
    Ok(ExitCode::FAILURE)
}

fn pair(args: PairArgs) -> anyhow::Result<()> {
    // This instance's name and URL from its config, unless both are given.
    let (config_name, config_url) = if args.self_name.is_some() && args.self_url.is_some() {
        (None, None)
    } else {
        let source = config_source(args.config.clone());
        let loaded = config::load(&source, &Overrides::default())
            .map_err(|error| anyhow::anyhow!("reading this instance's name and URL:\n{error}"))?;
        (
            Some(loaded.server.name.clone()),
            Some(loaded.server.external_url.clone()),
        )
    };
    let interval = tandem::config::units::parse_duration(&args.interval)
        .map_err(|error| anyhow::anyhow!("--interval: {error}"))?;
    let pairing = tandem::peer::pair::Pairing {
        self_name: args.self_name.or(config_name).unwrap_or_default(),
        self_url: args.self_url.or(config_url).unwrap_or_default(),
        peer_name: args.name,
        peer_url: args.peer_url.trim_end_matches('/').to_string(),
        secret_dir: args.secret_dir,
        interval,
    };
    pairing.check().map_err(anyhow::Error::msg)?;
    let secret = tandem::peer::protocol::new_secret().context("reading random bytes")?;
    print!("{}", pairing.render(&secret));
    Ok(())
}

/// `tandem(1)`: the top-level page, with each command's usage and options as a
/// section of it (one page, so `man tandem` shows everything).
fn man() -> anyhow::Result<()> {
    use clap::CommandFactory;
    let command = Cli::command();
    let page = clap_mangen::Man::new(command.clone());
    let mut out = Vec::new();
    page.render_title(&mut out)?;
    page.render_name_section(&mut out)?;
    page.render_synopsis_section(&mut out)?;
    page.render_description_section(&mut out)?;
    page.render_options_section(&mut out)?;
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let name = sub.get_name();
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        out.extend_from_slice(format!(".SH \"TANDEM {}\"\n", name.to_uppercase()).as_bytes());
        out.extend_from_slice(roff_escape(&about).as_bytes());
        out.push(b'\n');
        let sub_page = clap_mangen::Man::new(sub.clone().bin_name(format!("tandem {name}")));
        let mut synopsis = Vec::new();
        sub_page.render_synopsis_section(&mut synopsis)?;
        let mut options = Vec::new();
        sub_page.render_options_section(&mut options)?;
        // Demote the sub-page's sections to subsections of this one.
        for part in [synopsis, options] {
            let text = String::from_utf8_lossy(&part).replace(".SH ", ".SS ");
            out.extend_from_slice(text.as_bytes());
        }
    }
    page.render_version_section(&mut out)?;
    out.extend_from_slice(
        b".SH FILES\n.TP\n/etc/tandem/\nthe config directory: tandem.toml, rules/, dashboards/, silences/\n.TP\n/var/lib/tandem/\nthe data directory of the packaged service\n.SH SEE ALSO\n/usr/share/doc/tandem/README.md\n",
    );
    use std::io::Write;
    std::io::stdout().write_all(&out)?;
    Ok(())
}

/// Text safe in a roff paragraph: no leading dot or quote, backslashes doubled.
fn roff_escape(text: &str) -> String {
    let text = text.replace('\\', "\\e");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

fn hash_password() -> anyhow::Result<()> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let second = rpassword::prompt_password("Again: ").context("reading the password")?;
        anyhow::ensure!(first == second, "the two passwords differ");
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    anyhow::ensure!(!password.is_empty(), "the password is empty");
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|error| anyhow::anyhow!("hashing failed: {error}"))?;
    println!("{hash}");
    Ok(())
}

/// `tandem silence ...`: the silences API over HTTP. Exit 0 on success, 1 when the
/// server refuses, 2 when it cannot be reached.
fn silence(args: SilenceArgs) -> anyhow::Result<ExitCode> {
    let client = admin_client(args.ca_file.as_deref())?;
    let base = args.url.trim_end_matches('/');
    let token_file = args.bearer_token_file.as_deref();
    let (request, url) = match &args.action {
        SilenceAction::Add {
            duration,
            comment,
            author,
            matchers,
        } => {
            let author = author
                .clone()
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "tandem silence".into());
            let url = format!("{base}/api/v1/silences");
            let body = serde_json::json!({
                "matchers": matchers,
                "duration": duration,
                "createdBy": author,
                "comment": comment,
            });
            (client.post(&url).json(&body), url)
        }
        SilenceAction::List { .. } => {
            let url = format!("{base}/api/v1/silences");
            (client.get(&url), url)
        }
        SilenceAction::Expire { id } => {
            let encoded: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
            let url = format!("{base}/api/v1/silence/{encoded}");
            (client.delete(&url), url)
        }
    };
    let Some(response) = send(request, token_file, &url)? else {
        return Ok(ExitCode::from(2));
    };
    let status = response.status();
    let body: serde_json::Value = match response.json() {
        Ok(body) => body,
        Err(_) => {
            eprintln!("tandem: {url} answered {status} without JSON (is it tandem?)");
            if matches!(status.as_u16(), 401 | 403) {
                eprintln!("hint: pass --bearer-token-file with a token from [[auth.token]]");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    if body["status"] != "success" {
        eprintln!(
            "tandem: {} ({status})",
            body["error"].as_str().unwrap_or("request refused")
        );
        return Ok(ExitCode::FAILURE);
    }
    match &args.action {
        SilenceAction::Add { .. } => {
            println!("{}", body["data"]["silenceID"].as_str().unwrap_or(""));
        }
        SilenceAction::List { expired } => print!("{}", render_silences(&body["data"], *expired)),
        SilenceAction::Expire { id } => println!("expired {id}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Silences as an aligned table: ID, status, ends, author, source, matchers, comment.
fn render_silences(data: &serde_json::Value, include_expired: bool) -> String {
    let text = |value: &serde_json::Value| value.as_str().unwrap_or("").to_string();
    let mut rows = vec![[
        "ID".to_string(),
        "STATUS".into(),
        "ENDS".into(),
        "CREATED_BY".into(),
        "SOURCE".into(),
        "MATCHERS".into(),
        "COMMENT".into(),
    ]];
    for silence in data.as_array().into_iter().flatten() {
        let status = text(&silence["status"]);
        if status == "expired" && !include_expired {
            continue;
        }
        let matchers: Vec<String> = silence["matchers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        rows.push([
            text(&silence["id"]),
            status,
            silence["endsAt"].as_str().unwrap_or("never").to_string(),
            text(&silence["createdBy"]),
            text(&silence["source"]),
            matchers.join(","),
            text(&silence["comment"]),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
