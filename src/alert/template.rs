//! Alert label and annotation templates, with the vocabulary of Prometheus'
//! `template/template.go`: `{{ $labels.instance }}`, `{{ $value | humanize }}`,
//! `{{ range query "up == 0" }}{{ .Labels.instance }} {{ end }}`.
//!
//! Owns: parsing and rendering template text, the template function set, and the Go
//! formatting rules that template output depends on (`%v` of a float, `time.Time`,
//! `time.Duration`).
//! Does not: evaluate PromQL (`query` goes through [`TemplateQuery`]), know about rules,
//! alerts or notifiers, or read the clock (except for the `now` function).
//! Limits: [`TEMPLATE_BYTES_MAX`], [`OUTPUT_BYTES_MAX`], [`QUERY_SAMPLES_MAX`],
//! [`RANGE_ITERATIONS_MAX`], [`PRINTF_ARGS_MAX`], [`REGEX_BYTES_MAX`].
//!
//! # Engine: the `gotmpl` crate
//!
//! The language is Go's `text/template`, parsed and run by `gotmpl` 0.6 (phsym/gotmpl-rs).
//! It ports the whole language: variables, pipelines, `if`/`else if`/`range`/`with`,
//! `define`/`template`/`block`, `break`/`continue`, `{{- -}}` trimming, `printf` with
//! Go's verbs, `eq`/`lt`/... with Go's typing rules, and parse errors with line and
//! column. It has no `unsafe`, denies `unwrap`/`panic` in its own code, catches panics in
//! functions, and bounds recursion and `range` iterations. `gtmpl` 0.7, the other
//! candidate, lacks `break`/`continue`, reports parse errors by line only (no column or
//! offset), and has about 40 `unwrap`/`expect`/`panic!` sites outside its tests.
//!
//! gotmpl has no reflection, so three Go behaviours are rebuilt here by rewriting the
//! parsed tree once, at parse time (`Rewriter`):
//! - Field access (`.Labels.x`, `$labels.x`, `(expr).X`) calls our `FIELD_FUNC`. A
//!   missing label is then `""`, as in Prometheus, whose labels are `map[string]string`
//!   (gotmpl would print `<no value>` and fail `eq`); a missing field of the template
//!   data or of a query sample is an error, as for Go's structs; and the methods of
//!   `time.Time` and `time.Duration` work (`{{ (now | toTime).Format "15:04" }}`).
//! - Every printing action ends in `PRINT_FUNC`, which formats a float like Go's `%v`
//!   (`1e+06`, `+Inf`); gotmpl uses Rust's `Display` (`1000000`, `inf`). `print`,
//!   `println` and `printf` are wrapped for the same reason.
//! - Function and variable names are checked at parse time, as Go does (gotmpl only
//!   notices them when run), so a typo fails when rules load, with an offset.
//!
//! # Differences from Prometheus
//! - `now` reads the wall clock: `TemplateData` carries no evaluation timestamp.
//! - `time.Time` and `time.Duration` expose a subset of their methods (`time_method`,
//!   `duration_method`); times are always in UTC.
//! - `title` approximates Unicode word breaking (`title_case`).
//! - Native histograms do not exist here: `value` is always a float.
//! - Regular expressions are Rust's `regex`, not Go's RE2 port: the same syntax, but
//!   `\d`, `\w` and `\s` match Unicode, not only ASCII.
//! - Runtime errors carry no position: gotmpl does not track one.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use gotmpl::parse::{CommandNode, Expr, ListNode, Node, Number, Parser, PipeNode, Pos, SmolStr};
use gotmpl::{FuncMap, Value};

use crate::model::Labels;

/// Longest template text accepted by [`Template::parse`]. Annotations are a few lines;
/// 64 KiB leaves room for generated ones and keeps a bad rule file from pinning memory.
pub const TEMPLATE_BYTES_MAX: usize = 64 * 1024;

/// Longest output of one render, and of any string a function builds on the way (so a
/// `range` that doubles a variable fails early). Notifiers cap message sizes near this.
pub const OUTPUT_BYTES_MAX: usize = 64 * 1024;

/// Most samples one `query` call may return. A template that lists more than this
/// would produce an unreadable notification; failing says so.
pub const QUERY_SAMPLES_MAX: usize = 1000;

/// Most `range` iterations in one render, over all loops. Bounds run time, since a
/// template is run on every evaluation of every firing alert.
pub const RANGE_ITERATIONS_MAX: u64 = 100_000;

/// Most arguments after the format string of one `printf` call.
pub const PRINTF_ARGS_MAX: usize = 32;

/// Widest `printf` width or precision we honour, as gotmpl clamps its own: a format
/// like `%.999999999v` must not allocate a gigabyte before the output check.
const PRINTF_WIDTH_MAX: usize = u16::MAX as usize;

/// Most bytes of compiled program for one regular expression of `match` or
/// `reReplaceAll`; the `regex` crate's default (10 MiB) is meant for trusted patterns.
pub const REGEX_BYTES_MAX: usize = 1024 * 1024;

/// Parsed in front of every template, as Prometheus does, so that `$labels.instance`
/// works. It has no newline, so line numbers in errors match the user's text.
const PRELUDE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

// Internal names. They start with NUL, which the lexer never puts into an identifier or
// a field name, so a template cannot call or read them. (A template name can hold one,
// through an escape; the root is added last so that no `define` replaces it.)
const ROOT_NAME: &str = "\0root";
const FIELD_FUNC: &str = "\0field";
const CALL_FUNC: &str = "\0call";
const PRINT_FUNC: &str = "\0print";
/// Key marking a map that stands for a Go struct; its value is the Go type's name.
const STRUCT_KEY: &str = "\0struct";
/// The Go type of a query result sample, in messages; also tells samples apart.
const SAMPLE_TYPE: &str = "*template.sample";
/// Key of the only entry of a map that stands for a `time.Time` (Unix nanoseconds).
const TIME_KEY: &str = "\0time";
/// Key of the only entry of a map that stands for a `time.Duration` (nanoseconds).
const DURATION_KEY: &str = "\0duration";

/// The builtins gotmpl provides and we keep (`print`, `println`, `printf`, `html`, `js`,
/// `urlquery` and `index` are replaced by ours).
const GOTMPL_BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "slice", "call", "eq", "ne", "lt", "le", "gt", "ge",
];

/// A parsed template; cheap to clone. Send + Sync.
#[derive(Clone)]
pub struct Template {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    text: String,
    /// None for text without `{{`, which renders as itself.
    engine: Option<Engine>,
}

struct Engine {
    template: gotmpl::Template,
    /// Whether the text calls `query`: only then does a render start a thread for it.
    uses_query: bool,
    /// Whether the text calls `externalURL` or `pathPrefix`: only then does a render
    /// register them with this render's URL.
    uses_external_url: bool,
}

/// Why a template did not parse or render.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
    /// Byte offset into the template text where the problem is, when known.
    pub offset: Option<usize>,
}

/// What a template can see.
pub struct TemplateData<'a> {
    /// The alert's labels: `.Labels` and `$labels`.
    pub labels: &'a Labels,
    /// `.ExternalLabels` and `$externalLabels`.
    pub external_labels: &'a Labels,
    /// `.ExternalURL`, `$externalURL` and the `externalURL` function.
    pub external_url: &'a str,
    /// The alert's value: `.Value` and `$value`.
    pub value: f64,
    /// For the `query` function; None: `query` fails with a clear error.
    pub query: Option<&'a dyn TemplateQuery>,
}

/// Runs the PromQL of the `query` function, at the evaluation's timestamp.
pub trait TemplateQuery {
    fn query(&self, expr: &str) -> Result<Vec<(Labels, f64)>, String>;
}

impl Template {
    /// Parses `text` as Prometheus does: with the prelude
    /// `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
    /// so `$labels.instance` works; error offsets refer to `text` (not the prelude).
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        if text.len() > TEMPLATE_BYTES_MAX {
            return Err(TemplateError {
                message: format!(
                    "template {name}: text is {} bytes long, limit is {TEMPLATE_BYTES_MAX}",
                    text.len()
                ),
                offset: Some(TEMPLATE_BYTES_MAX),
            });
        }
        let engine = if text.contains("{{") {
            Some(compile(name, text)?)
        } else {
            None
        };
        Ok(Template {
            inner: Arc::new(Inner {
                name: name.to_string(),
                text: text.to_string(),
                engine,
            }),
        })
    }

    pub fn render(&self, data: &TemplateData) -> Result<String, TemplateError> {
        let name = self.inner.name.as_str();
        let Some(engine) = &self.inner.engine else {
            debug_assert!(self.inner.text.len() <= OUTPUT_BYTES_MAX);
            return Ok(self.inner.text.clone());
        };
        let value = data_value(data);
        let query = data.query.filter(|_| engine.uses_query);
        if !engine.uses_external_url && query.is_none() {
            return execute(name, &engine.template, &value);
        }
        // Functions are 'static closures registered by name, so the ones that need this
        // render's data go into a copy (which shares the parsed trees).
        let mut template = engine.template.clone();
        if engine.uses_external_url {
            let url = Value::String(data.external_url.into());
            let path = Value::String(path_prefix(data.external_url).into());
            template = template
                .func("externalURL", move |args| {
                    no_args("externalURL", args, &url)
                        .map_err(|message| call_error("externalURL", message))
                })
                .func("pathPrefix", move |args| {
                    no_args("pathPrefix", args, &path)
                        .map_err(|message| call_error("pathPrefix", message))
                });
        }
        match query {
            Some(query) => execute_with_query(name, template, &value, query),
            None => execute(name, &template, &value),
        }
    }

    /// True when the text has no `{{` (fast path: render returns it unchanged).
    pub fn is_literal(&self) -> bool {
        self.inner.engine.is_none()
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter
            .debug_struct("Template")
            .field("name", &self.inner.name)
            .field("text", &self.inner.text)
            .finish()
    }
}

// Sharing parsed templates between the rule evaluator and the web UI relies on this.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
};

// ---------------------------------------------------------------------------------------
// Parsing.

fn compile(name: &str, text: &str) -> Result<Engine, TemplateError> {
    let source = format!("{PRELUDE}{text}");
    let parser = Parser::with_name(Some(name), &source, "{{", "}}")
        .map_err(|error| gotmpl_parse_error(name, text, &source, error))?;
    let (mut root, defines) = parser
        .parse()
        .map_err(|error| gotmpl_parse_error(name, text, &source, error))?;

    let mut usage = Usage::default();
    Rewriter::new(&mut usage)
        .list(&mut root)
        .map_err(|(offset, message)| rewrite_error(name, text, offset, &message))?;
    let mut bodies: HashMap<SmolStr, (ListNode, bool)> = HashMap::new();
    for define in defines {
        let mut body = define.body;
        let empty = body.is_empty_tree();
        // Go's rule: a second non-empty definition of a name is an error; an empty
        // one never replaces a non-empty one.
        match bodies.get(&define.name) {
            Some((_, false)) if !empty => {
                let message = format!("multiple definition of template {:?}", define.name.as_str());
                return Err(rewrite_error(name, text, define.pos.offset, &message));
            }
            Some((_, false)) => continue,
            _ => {}
        }
        Rewriter::new(&mut usage)
            .list(&mut body)
            .map_err(|(offset, message)| rewrite_error(name, text, offset, &message))?;
        bodies.insert(define.name, (body, empty));
    }

    let mut template = gotmpl::Template::new(name)
        .funcs(function_map())
        .max_range_iters(RANGE_ITERATIONS_MAX);
    for (define_name, (body, _)) in bodies {
        template = template.add_parse_tree(define_name.as_str(), body);
    }
    // Last, so that no define can replace it.
    template = template.add_parse_tree(ROOT_NAME, root);
    Ok(Engine {
        template,
        uses_query: usage.query,
        uses_external_url: usage.external_url,
    })
}

/// Converts gotmpl's parse or lex error (line and column in the prelude plus text) to
/// ours (byte offset, line and column in the text).
fn gotmpl_parse_error(
    name: &str,
    text: &str,
    source: &str,
    error: gotmpl::TemplateError,
) -> TemplateError {
    match error {
        gotmpl::TemplateError::Parse {
            line, col, message, ..
        }
        | gotmpl::TemplateError::Lex {
            line, col, message, ..
        } => match source_offset(source, line, col) {
            Some(offset) => rewrite_error(name, text, offset, &message),
            None => TemplateError {
                message: format!("template: {name}: {message}"),
                offset: None,
            },
        },
        other => TemplateError {
            message: format!("template: {name}: {}", gotmpl_message(&other)),
            offset: None,
        },
    }
}

/// Builds a parse error from an offset into the prelude plus text.
fn rewrite_error(name: &str, text: &str, source_offset: usize, message: &str) -> TemplateError {
    let offset = source_offset.saturating_sub(PRELUDE.len()).min(text.len());
    let (line, column) = line_column(text, offset);
    TemplateError {
        message: format!("template: {name}:{line}:{column}: {message}"),
        offset: Some(offset),
    }
}

/// The byte offset of a 1-based line and column (in characters), as gotmpl counts them.
fn source_offset(source: &str, line: usize, column: usize) -> Option<usize> {
    if line == 0 || column == 0 {
        return None;
    }
    let mut line_start = 0;
    for _ in 1..line {
        line_start += source.get(line_start..)?.find('\n')? + 1;
    }
    let rest = source.get(line_start..)?;
    let within = rest
        .char_indices()
        .nth(column - 1)
        .map_or(rest.len(), |(index, _)| index);
    Some(line_start + within)
}

/// The 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[derive(Default)]
struct Usage {
    query: bool,
    external_url: bool,
}

/// Checks function and variable names, and rewrites the tree as the module doc says:
/// field access through `FIELD_FUNC`, method calls through `CALL_FUNC`, printing through
/// `PRINT_FUNC`. Errors are (offset into prelude plus text, message).
struct Rewriter<'a> {
    /// Variables in scope, innermost last; Go's scoping: to the `end` of the enclosing
    /// `if`, `with` or `range`.
    scope: Vec<SmolStr>,
    usage: &'a mut Usage,
}

type RewriteResult = Result<(), (usize, String)>;

impl<'a> Rewriter<'a> {
    fn new(usage: &'a mut Usage) -> Rewriter<'a> {
        Rewriter {
            scope: vec![SmolStr::new("$")],
            usage,
        }
    }

    fn list(&mut self, list: &mut ListNode) -> RewriteResult {
        for node in &mut list.nodes {
            self.node(node)?;
        }
        Ok(())
    }

    fn node(&mut self, node: &mut Node) -> RewriteResult {
        match node {
            Node::List(list) => self.list(list),
            Node::Action(action) => {
                let print = action.pipe.decl.is_empty();
                self.pipe(&mut action.pipe, print)
            }
            Node::If(branch) | Node::Range(branch) | Node::With(branch) => {
                let scope_len = self.scope.len();
                self.pipe(&mut branch.pipe, false)?;
                self.list(&mut branch.body)?;
                if let Some(else_body) = &mut branch.else_body {
                    self.list(else_body)?;
                }
                self.scope.truncate(scope_len);
                Ok(())
            }
            Node::Template(template) => match &mut template.pipe {
                Some(pipe) => self.pipe(pipe, false),
                None => Ok(()),
            },
            Node::Text(_) | Node::Define(_) | Node::Break(_) | Node::Continue(_) => Ok(()),
        }
    }

    fn pipe(&mut self, pipe: &mut PipeNode, print: bool) -> RewriteResult {
        // Go declares the variables before parsing the commands.
        self.scope.extend(pipe.decl.iter().cloned());
        for (index, command) in pipe.commands.iter_mut().enumerate() {
            self.command(command, index > 0)?;
        }
        if print {
            pipe.commands.push(CommandNode {
                pos: pipe.pos,
                args: vec![Expr::Identifier(pipe.pos, SmolStr::new(PRINT_FUNC))],
            });
        }
        Ok(())
    }

    fn command(&mut self, command: &mut CommandNode, piped: bool) -> RewriteResult {
        let mut args = std::mem::take(&mut command.args).into_iter();
        let Some(first) = args.next() else {
            return Ok(());
        };
        let mut rest: Vec<Expr> = args.collect();
        let has_args = !rest.is_empty() || piped;
        let mut new_args = match first {
            Expr::Identifier(pos, name) => {
                self.function(pos, &name)?;
                vec![Expr::Identifier(pos, name)]
            }
            // `func.Field`: gotmpl's own field access on a function's result.
            Expr::Chain(pos, inner, fields) if matches!(*inner, Expr::Identifier(..)) => {
                if let Expr::Identifier(inner_pos, name) = inner.as_ref() {
                    self.function(*inner_pos, name)?;
                }
                vec![Expr::Chain(pos, inner, fields)]
            }
            first if has_args => match split_fields(first) {
                // `$t.Format "2006"` or `x | (expr).Add`: a method call.
                Ok((pos, mut receiver, fields)) => {
                    self.expr(&mut receiver)?;
                    let count = i64::try_from(fields.len()).unwrap_or(i64::MAX);
                    let mut call = vec![
                        Expr::Identifier(pos, SmolStr::new(CALL_FUNC)),
                        Expr::Number(pos, Number::Int(count)),
                        receiver,
                    ];
                    call.extend(
                        fields
                            .iter()
                            .map(|field| Expr::String(pos, field.as_str().into())),
                    );
                    call
                }
                Err(mut first) => {
                    self.expr(&mut first)?;
                    vec![first]
                }
            },
            mut first => {
                self.expr(&mut first)?;
                vec![first]
            }
        };
        for arg in &mut rest {
            self.expr(arg)?;
        }
        new_args.append(&mut rest);
        command.args = new_args;
        Ok(())
    }

    fn expr(&mut self, expr: &mut Expr) -> RewriteResult {
        match expr {
            Expr::Identifier(pos, name) => self.function(*pos, name),
            Expr::Variable(pos, name, _) => {
                self.variable(*pos, name).map(|()| rewrite_fields(expr))
            }
            Expr::Field(..) => {
                rewrite_fields(expr);
                Ok(())
            }
            Expr::Chain(_, inner, _) => {
                self.expr(inner)?;
                if !matches!(**inner, Expr::Identifier(..)) {
                    rewrite_fields(expr);
                }
                Ok(())
            }
            Expr::Pipe(_, pipe) => self.pipe(pipe, false),
            Expr::Dot(_) | Expr::String(..) | Expr::Number(..) | Expr::Bool(..) | Expr::Nil(_) => {
                Ok(())
            }
        }
    }

    fn function(&mut self, pos: Pos, name: &str) -> RewriteResult {
        match name {
            "query" => self.usage.query = true,
            "externalURL" | "pathPrefix" => self.usage.external_url = true,
            _ => {}
        }
        let ours = FUNCTIONS.iter().any(|(function, _)| *function == name);
        if ours || GOTMPL_BUILTINS.contains(&name) {
            Ok(())
        } else {
            Err((pos.offset, format!("function {name:?} not defined")))
        }
    }

    fn variable(&self, pos: Pos, name: &str) -> RewriteResult {
        if self.scope.iter().any(|declared| declared == name) {
            Ok(())
        } else {
            Err((pos.offset, format!("undefined variable {name:?}")))
        }
    }
}

/// Splits a field chain into its receiver and field names.
fn split_fields(expr: Expr) -> Result<(Pos, Expr, Vec<SmolStr>), Expr> {
    match expr {
        Expr::Field(pos, fields) => Ok((pos, Expr::Dot(pos), fields)),
        Expr::Variable(pos, name, fields) if !fields.is_empty() => {
            Ok((pos, Expr::Variable(pos, name, Vec::new()), fields))
        }
        Expr::Chain(pos, inner, fields) => Ok((pos, *inner, fields)),
        other => Err(other),
    }
}

/// Replaces a field chain by `(FIELD_FUNC receiver "field"...)`; anything else stays.
fn rewrite_fields(expr: &mut Expr) {
    let taken = std::mem::replace(expr, Expr::Nil(expr.pos()));
    *expr = match split_fields(taken) {
        Ok((pos, receiver, fields)) => {
            let mut args = vec![Expr::Identifier(pos, SmolStr::new(FIELD_FUNC)), receiver];
            args.extend(
                fields
                    .iter()
                    .map(|field| Expr::String(pos, field.as_str().into())),
            );
            Expr::Pipe(
                pos,
                PipeNode {
                    pos,
                    decl: Vec::new(),
                    commands: vec![CommandNode { pos, args }],
                    is_assign: false,
                },
            )
        }
        Err(other) => other,
    };
}

// ---------------------------------------------------------------------------------------
// Rendering.

fn data_value(data: &TemplateData) -> Value {
    struct_value(
        "struct { Labels, ExternalLabels map[string]string; ExternalURL string; Value interface {} }",
        [
            ("Labels", labels_value(data.labels)),
            ("ExternalLabels", labels_value(data.external_labels)),
            ("ExternalURL", Value::String(data.external_url.into())),
            ("Value", Value::Float(data.value)),
        ],
    )
}

fn labels_value(labels: &Labels) -> Value {
    let map: BTreeMap<Arc<str>, Value> = labels
        .iter()
        .map(|label| {
            (
                Arc::from(label.name.as_str()),
                Value::String(label.value.as_str().into()),
            )
        })
        .collect();
    Value::Map(Arc::new(map))
}

/// A map standing for a Go struct: missing fields are errors, not zero values.
fn struct_value<const N: usize>(type_name: &str, fields: [(&str, Value); N]) -> Value {
    let mut map: BTreeMap<Arc<str>, Value> = fields
        .into_iter()
        .map(|(name, value)| (Arc::from(name), value))
        .collect();
    map.insert(STRUCT_KEY.into(), Value::String(type_name.into()));
    Value::Map(Arc::new(map))
}

fn execute(name: &str, template: &gotmpl::Template, data: &Value) -> Result<String, TemplateError> {
    let mut writer = CappedWriter::default();
    match template.execute_template_fmt(&mut writer, ROOT_NAME, data) {
        Ok(()) => {
            debug_assert!(writer.output.len() <= OUTPUT_BYTES_MAX);
            Ok(writer.output)
        }
        Err(_) if writer.overflowed => Err(TemplateError {
            message: format!(
                "template: {name}: output is longer than the limit of {OUTPUT_BYTES_MAX} bytes"
            ),
            offset: None,
        }),
        Err(error) => Err(TemplateError {
            message: format!("template: {name}: {}", gotmpl_message(&error)),
            offset: None,
        }),
    }
}

/// gotmpl's message without its "execution error: " prefix (our functions' errors
/// already say what failed).
fn gotmpl_message(error: &gotmpl::TemplateError) -> String {
    match error {
        gotmpl::TemplateError::Exec(message) => message.clone(),
        other => other.to_string(),
    }
}

#[derive(Default)]
struct CappedWriter {
    output: String,
    overflowed: bool,
}

impl fmt::Write for CappedWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.output.len() + text.len() > OUTPUT_BYTES_MAX {
            self.overflowed = true;
            return Err(fmt::Error);
        }
        self.output.push_str(text);
        Ok(())
    }
}

/// Renders with a working `query`. Template functions must be `'static + Send + Sync`,
/// and `query` is a borrowed `&dyn TemplateQuery` that need not be `Sync`, so the
/// template runs on a scoped thread and sends each query back to this thread, which
/// runs it and replies. Needs no `unsafe`; costs a thread start per render, paid only
/// by templates that call `query`.
fn execute_with_query(
    name: &str,
    template: gotmpl::Template,
    data: &Value,
    query: &dyn TemplateQuery,
) -> Result<String, TemplateError> {
    let (request_sender, request_receiver) = mpsc::channel::<String>();
    let (reply_sender, reply_receiver) = mpsc::channel::<Result<Value, String>>();
    let reply_receiver = Mutex::new(reply_receiver);
    let template = template.func("query", move |args| {
        let expr = one_string_arg("query", args).map_err(|message| call_error("query", message))?;
        let stopped = || call_error("query", "the renderer stopped".to_string());
        request_sender.send(expr).map_err(|_| stopped())?;
        let reply = reply_receiver
            .lock()
            .map_err(|_| stopped())?
            .recv()
            .map_err(|_| stopped())?;
        reply.map_err(|message| call_error("query", message))
    });
    let thread_error = |what: &str| TemplateError {
        message: format!("template: {name}: {what}"),
        offset: None,
    };
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("alert-template".to_string())
            .spawn_scoped(scope, move || execute(name, &template, data))
            .map_err(|error| thread_error(&format!("start a thread for query: {error}")))?;
        // Ends when the worker drops the template, and with it `request_sender`.
        for expr in request_receiver.iter() {
            if reply_sender.send(run_query(query, &expr)).is_err() {
                break;
            }
        }
        worker
            .join()
            .unwrap_or_else(|_| Err(thread_error("the render thread panicked")))
    })
}

fn run_query(query: &dyn TemplateQuery, expr: &str) -> Result<Value, String> {
    let samples = query.query(expr)?;
    if samples.len() > QUERY_SAMPLES_MAX {
        return Err(format!(
            "query {expr:?} returned {} samples, limit is {QUERY_SAMPLES_MAX}",
            samples.len()
        ));
    }
    let list: Vec<Value> = samples
        .iter()
        .map(|(labels, value)| sample_value(labels_value(labels), *value))
        .collect();
    Ok(Value::List(list.into()))
}

/// A query result sample, like Prometheus' `*template.sample`.
fn sample_value(labels: Value, value: f64) -> Value {
    struct_value(
        SAMPLE_TYPE,
        [("Labels", labels), ("Value", Value::Float(value))],
    )
}

/// The path of a URL (Prometheus' `externalURL.Path`), without query or fragment.
fn path_prefix(url: &str) -> &str {
    let url = url.split(['?', '#']).next().unwrap_or("");
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |slash| &rest[slash..]),
        None => url,
    }
}

// ---------------------------------------------------------------------------------------
// The function registry: one entry per function, with its Go signature.

type TemplateFunction = fn(&[Value]) -> Result<Value, String>;

/// Every function a template may call, besides `GOTMPL_BUILTINS`.
const FUNCTIONS: &[(&str, TemplateFunction)] = &[
    // === humanize(any) (string, error) ===
    ("humanize", |args| {
        one_float_arg(args).map(|v| string_value(humanize(v)))
    }),
    // === humanize1024(any) (string, error) ===
    ("humanize1024", |args| {
        one_float_arg(args).map(|v| string_value(humanize_1024(v)))
    }),
    // === humanizeDuration(any) (string, error) ===
    ("humanizeDuration", |args| {
        one_float_arg(args).map(|v| string_value(humanize_duration(v)))
    }),
    // === humanizePercentage(any) (string, error) ===
    ("humanizePercentage", |args| {
        one_float_arg(args).map(|v| string_value(format!("{}%", go_format_g(v * 100.0, Some(4)))))
    }),
    // === humanizeTimestamp(any) (string, error) ===
    ("humanizeTimestamp", |args| {
        one_float_arg(args)
            .and_then(humanize_timestamp)
            .map(string_value)
    }),
    // === toTime(any) (*time.Time, error) ===
    ("toTime", |args| {
        one_float_arg(args).and_then(float_to_time).map(time_value)
    }),
    // === toDuration(any) (*time.Duration, error) ===
    ("toDuration", |args| {
        one_float_arg(args).map(|v| duration_value((v * 1e9) as i64))
    }),
    // === now() float64 ===
    ("now", |args| {
        no_args("now", args, &Value::Float(now_secs()))
    }),
    // === parseDuration(string) (float64, error) ===
    ("parseDuration", |args| {
        let text = one_string_arg("parseDuration", args)?;
        parse_duration_ns(&text).map(|ns| Value::Float(ns as f64 / 1e9))
    }),
    // === title(string) string ===
    ("title", |args| {
        one_string_arg("title", args).map(|s| string_value(title_case(&s)))
    }),
    // === toUpper(string) string ===
    ("toUpper", |args| {
        one_string_arg("toUpper", args).map(|s| string_value(s.to_uppercase()))
    }),
    // === toLower(string) string ===
    ("toLower", |args| {
        one_string_arg("toLower", args).map(|s| string_value(s.to_lowercase()))
    }),
    // === match(pattern, text string) (bool, error) ===
    ("match", |args| {
        let [pattern, text] = string_args::<2>("match", args)?;
        Ok(Value::Bool(regex(&pattern)?.is_match(&text)))
    }),
    // === reReplaceAll(pattern, replacement, text string) string ===
    ("reReplaceAll", |args| {
        let [pattern, replacement, text] = string_args::<3>("reReplaceAll", args)?;
        Ok(string_value(
            regex(&pattern)?
                .replace_all(&text, replacement.as_str())
                .into_owned(),
        ))
    }),
    // === graphLink(expr string) string ===
    ("graphLink", |args| {
        let expr = one_string_arg("graphLink", args)?;
        Ok(string_value(format!(
            "/graph?g0.expr={}&g0.tab=0",
            go_query_escape(&expr)
        )))
    }),
    // === tableLink(expr string) string ===
    ("tableLink", |args| {
        let expr = one_string_arg("tableLink", args)?;
        Ok(string_value(format!(
            "/graph?g0.expr={}&g0.tab=1",
            go_query_escape(&expr)
        )))
    }),
    // === urlQueryEscape(string) string ===
    ("urlQueryEscape", |args| {
        one_string_arg("urlQueryEscape", args).map(|s| string_value(go_query_escape(&s)))
    }),
    // === safeHtml(string) html_template.HTML === (text output: the string itself)
    ("safeHtml", |args| {
        one_string_arg("safeHtml", args).map(string_value)
    }),
    // === stripPort(hostPort string) string ===
    ("stripPort", |args| {
        one_string_arg("stripPort", args).map(|s| string_value(strip_port(&s)))
    }),
    // === stripDomain(hostPort string) string ===
    ("stripDomain", |args| {
        one_string_arg("stripDomain", args).map(|s| string_value(strip_domain(&s)))
    }),
    // === externalURL() string === (replaced per render when used; see `render`)
    ("externalURL", |args| {
        no_args("externalURL", args, &string_value(String::new()))
    }),
    // === pathPrefix() string === (replaced per render when used; see `render`)
    ("pathPrefix", |args| {
        no_args("pathPrefix", args, &string_value(String::new()))
    }),
    // === query(string) (queryResult, error) === (replaced per render when data has a
    // query engine; see `execute_with_query`)
    ("query", |args| {
        let expr = one_string_arg("query", args)?;
        Err(format!(
            "cannot run {expr:?}: no query engine is available to this template"
        ))
    }),
    // === first(queryResult) (*sample, error) ===
    ("first", |args| match one_arg("first", args)? {
        Value::List(samples) => samples
            .first()
            .cloned()
            .ok_or_else(|| "first() called on vector with no elements".to_string()),
        other => Err(wrong_type("queryResult", other)),
    }),
    // === label(label string, s *sample) string ===
    ("label", |args| {
        let [name, sample] = exact_args::<2>("label", args)?;
        let name = string_arg(name)?;
        Ok(sample_labels(sample)?
            .get(name.as_str())
            .cloned()
            .unwrap_or_else(|| string_value(String::new())))
    }),
    // === value(s *sample) any ===
    ("value", |args| {
        sample_field(one_arg("value", args)?, "Value")
    }),
    // === strvalue(s *sample) string ===
    ("strvalue", |args| {
        let labels = sample_labels(one_arg("strvalue", args)?)?;
        Ok(labels
            .get("__value__")
            .cloned()
            .unwrap_or_else(|| string_value(String::new())))
    }),
    // === sortByLabel(label string, v queryResult) queryResult ===
    ("sortByLabel", |args| {
        let [name, samples] = exact_args::<2>("sortByLabel", args)?;
        sort_by_label(&string_arg(name)?, samples)
    }),
    // === args(args ...any) map[string]any ===
    ("args", |args| {
        let map: BTreeMap<Arc<str>, Value> = args
            .iter()
            .enumerate()
            .map(|(index, arg)| (Arc::from(format!("arg{index}")), arg.clone()))
            .collect();
        Ok(Value::Map(Arc::new(map)))
    }),
    // === print(args ...any) string === (Go's Sprint, with Go's float format)
    ("print", |args| Ok(string_value(go_sprint(args)))),
    // === println(args ...any) string ===
    ("println", |args| {
        let mut text = args
            .iter()
            .map(go_value_string)
            .collect::<Vec<_>>()
            .join(" ");
        text.push('\n');
        Ok(string_value(text))
    }),
    // === printf(format string, args ...any) string ===
    ("printf", printf),
    // === html(args ...any) string ===
    ("html", |args| {
        Ok(string_value(gotmpl::html_escape(&escaper_input(args))))
    }),
    // === js(args ...any) string ===
    ("js", |args| {
        Ok(string_value(gotmpl::js_escape(&escaper_input(args))))
    }),
    // === urlquery(args ...any) string ===
    ("urlquery", |args| {
        Ok(string_value(gotmpl::url_encode(&escaper_input(args))))
    }),
    // === index(item any, indexes ...any) (any, error) === (a missing label is "")
    ("index", index),
];

/// Functions the rewriter inserts; not callable by name from a template.
const INTERNAL_FUNCTIONS: &[(&str, TemplateFunction)] = &[
    // === FIELD_FUNC(receiver any, names ...string) (any, error) ===
    (FIELD_FUNC, |args| {
        let (receiver, names) = args
            .split_first()
            .ok_or("BUG: field access without a receiver")?;
        let mut value = receiver.clone();
        for name in names {
            value = field(&value, &string_arg(name)?, &[])?;
        }
        Ok(value)
    }),
    // === CALL_FUNC(count int, receiver any, names ...string, args ...any) (any, error) ===
    // The last of the `count` names is the method; the values after the names its args.
    (CALL_FUNC, |args| {
        let Some((Value::Int(count), [receiver, rest @ ..])) = args.split_first() else {
            return Err("BUG: method call without count and receiver".to_string());
        };
        let count = usize::try_from(*count).unwrap_or(0).min(rest.len());
        let (names, method_args) = rest.split_at(count);
        let (method, path) = names
            .split_last()
            .ok_or("BUG: method call without a name")?;
        let mut value = receiver.clone();
        for name in path {
            value = field(&value, &string_arg(name)?, &[])?;
        }
        field(&value, &string_arg(method)?, method_args)
    }),
    // === PRINT_FUNC(value any) string === (what an action prints)
    (PRINT_FUNC, |args| match one_arg("print", args)? {
        Value::Nil => Ok(string_value("<no value>".to_string())),
        Value::String(text) => Ok(Value::String(text.clone())),
        other => Ok(string_value(go_value_string(other))),
    }),
];

fn function_map() -> FuncMap {
    let mut map = FuncMap::new();
    for &(name, function) in FUNCTIONS {
        // Named in errors as Go does: "error calling humanize: ...".
        map.insert(
            name.to_string(),
            Arc::new(move |args: &[Value]| {
                bounded_call(function, args).map_err(|message| call_error(name, message))
            }),
        );
    }
    for &(name, function) in INTERNAL_FUNCTIONS {
        map.insert(
            name.to_string(),
            Arc::new(move |args: &[Value]| {
                bounded_call(function, args).map_err(gotmpl::TemplateError::Exec)
            }),
        );
    }
    map
}

/// Calls a function and bounds the size of the string it returns (see
/// `OUTPUT_BYTES_MAX`).
fn bounded_call(function: TemplateFunction, args: &[Value]) -> Result<Value, String> {
    let value = function(args)?;
    match &value {
        Value::String(text) if text.len() > OUTPUT_BYTES_MAX => Err(format!(
            "result is {} bytes long, limit is {OUTPUT_BYTES_MAX}",
            text.len()
        )),
        _ => Ok(value),
    }
}

fn call_error(name: &str, message: String) -> gotmpl::TemplateError {
    gotmpl::TemplateError::Exec(format!("error calling {name}: {message}"))
}

// ---------------------------------------------------------------------------------------
// Arguments.

fn string_value(text: impl Into<Arc<str>>) -> Value {
    Value::String(text.into())
}

fn exact_args<'v, const N: usize>(name: &str, args: &'v [Value]) -> Result<&'v [Value; N], String> {
    args.try_into().map_err(|_| {
        format!(
            "wrong number of args for {name}: want {N} got {}",
            args.len()
        )
    })
}

fn one_arg<'v>(name: &str, args: &'v [Value]) -> Result<&'v Value, String> {
    exact_args::<1>(name, args).map(|[arg]| arg)
}

fn no_args(name: &str, args: &[Value], value: &Value) -> Result<Value, String> {
    exact_args::<0>(name, args).map(|_| value.clone())
}

fn wrong_type(expected: &str, got: &Value) -> String {
    format!(
        "wrong type for value; expected {expected}; got {}",
        go_type_name(got)
    )
}

/// A string argument. A nil (a missing `args` entry) counts as "".
fn string_arg(value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.to_string()),
        Value::Nil => Ok(String::new()),
        other => Err(wrong_type("string", other)),
    }
}

fn one_string_arg(name: &str, args: &[Value]) -> Result<String, String> {
    string_arg(one_arg(name, args)?)
}

fn string_args<const N: usize>(name: &str, args: &[Value]) -> Result<[String; N], String> {
    let args = exact_args::<N>(name, args)?;
    let mut strings: [String; N] = std::array::from_fn(|_| String::new());
    for (string, arg) in strings.iter_mut().zip(args) {
        *string = string_arg(arg)?;
    }
    Ok(strings)
}

fn one_float_arg(args: &[Value]) -> Result<f64, String> {
    match args {
        [arg] => convert_to_float(arg),
        _ => Err(format!("wrong number of args: want 1 got {}", args.len())),
    }
}

/// Prometheus' `ConvertToFloat`: floats, integers, numeric strings and durations.
fn convert_to_float(value: &Value) -> Result<f64, String> {
    match value {
        Value::Float(v) => Ok(*v),
        Value::Int(v) => Ok(*v as f64),
        Value::Uint(v) => Ok(*v as f64),
        Value::String(text) => go_parse_float(text),
        other => match duration_ns(other) {
            Some(ns) => Ok(ns as f64 / 1e9),
            None => Err(format!("can't convert {} to float", go_type_name(other))),
        },
    }
}

/// Go's `strconv.ParseFloat(text, 64)`, with its error message.
fn go_parse_float(text: &str) -> Result<f64, String> {
    // Rust accepts the same decimal forms and "inf"/"infinity"/"nan" in any case; it
    // rejects Go's hexadecimal floats and underscores, which no metric value uses.
    text.parse::<f64>().map_err(|_| {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(text)
        )
    })
}

fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_BYTES_MAX)
        .build()
        .map_err(|error| format!("error parsing regexp: {error}"))
}

// ---------------------------------------------------------------------------------------
// Numbers.

/// `humanize`: SI prefixes, 4 significant digits.
fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_format_g(v, Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", go_format_g(v, Some(4)))
}

/// `humanize1024`: binary prefixes, 4 significant digits.
fn humanize_1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_format_g(v, Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_format_g(v, Some(4)))
}

/// `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `1.234s`, or `12.5ms`.
fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_format_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", go_format_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let duration = v as i64;
        let (seconds, minutes) = (duration % 60, (duration / 60) % 60);
        let (hours, days) = ((duration / 3600) % 24, duration / 86400);
        // From minutes up, seconds are whole; below, 4 significant digits.
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", go_format_g(v, Some(4)))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_format_g(v, Some(4)))
}

fn humanize_timestamp(v: f64) -> Result<String, String> {
    if !v.is_finite() {
        return Ok(go_format_g(v, Some(4)));
    }
    float_to_time(v).map(go_time_string)
}

/// Seconds since the epoch to Unix nanoseconds, truncated to milliseconds as
/// Prometheus' `model.Time` does.
fn float_to_time(v: f64) -> Result<i64, String> {
    if !v.is_finite() {
        return Err("value is NaN or Inf".to_string());
    }
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            go_format_g(v, None)
        ));
    }
    let ms = (ns as i64) / 1_000_000;
    Ok(ms * 1_000_000)
}

fn now_secs() -> f64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => since.as_secs_f64(),
        Err(error) => -error.duration().as_secs_f64(),
    }
}

/// Prometheus' duration syntax (`1h30m`, `-5m`, `0`), in nanoseconds: the PromQL
/// parser's `model.ParseDuration`, with the sign Prometheus' template function allows.
fn parse_duration_ns(text: &str) -> Result<i64, String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let ns = crate::promql::parse::duration_ns(unsigned)?;
    let ns = i64::try_from(ns).map_err(|_| "duration out of range".to_string())?;
    Ok(if negative { -ns } else { ns })
}

// ---------------------------------------------------------------------------------------
// Strings and addresses.

/// An approximation of `cases.Title(language.AmericanEnglish, cases.NoLower)`: the first
/// letter of each word is upper-cased, the rest kept. Words are runs of letters, digits,
/// `_`, and `.`, `'` or `:` between two letters (Unicode's word-break rules WB6/WB7).
fn title_case(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut in_word = false;
    for (index, &c) in chars.iter().enumerate() {
        let joins = c.is_alphanumeric() || c == '_' || {
            let between_letters = index > 0
                && chars[index - 1].is_alphabetic()
                && chars
                    .get(index + 1)
                    .is_some_and(|next| next.is_alphabetic());
            matches!(c, '.' | '\'' | ':' | '’') && between_letters && in_word
        };
        if !joins {
            in_word = false;
            out.push(c);
            continue;
        }
        if !in_word && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        in_word = true;
    }
    out
}

/// Go's `url.QueryEscape`.
fn go_query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Go's `net.SplitHostPort`; None where Go returns an error.
fn split_host_port(host_port: &str) -> Option<(&str, &str)> {
    let colon = host_port.rfind(':')?;
    let (host, host_start, host_end) = if host_port.starts_with('[') {
        let close = host_port.find(']')?;
        if close + 1 != colon {
            return None;
        }
        (&host_port[1..close], 1, close + 1)
    } else {
        let host = &host_port[..colon];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if host_port[host_start..].contains('[') || host_port[host_end..].contains(']') {
        return None;
    }
    Some((host, &host_port[colon + 1..]))
}

fn strip_port(host_port: &str) -> String {
    split_host_port(host_port)
        .map_or(host_port, |(host, _)| host)
        .to_string()
}

fn strip_domain(host_port: &str) -> String {
    let (host, port) = split_host_port(host_port).unwrap_or((host_port, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host_port.to_string();
    }
    let host = host.split('.').next().unwrap_or(host);
    match (port.is_empty(), host.contains(':')) {
        (true, _) => host.to_string(),
        (false, true) => format!("[{host}]:{port}"),
        (false, false) => format!("{host}:{port}"),
    }
}

/// Go's `strconv.Quote`, for the ASCII strings error messages quote.
fn go_quote(text: &str) -> String {
    format!("{text:?}")
}

// ---------------------------------------------------------------------------------------
// Query samples, fields and methods.

fn sample_labels(sample: &Value) -> Result<&BTreeMap<Arc<str>, Value>, String> {
    match sample {
        Value::Map(map) if is_sample(map) => match map.get("Labels") {
            Some(Value::Map(labels)) => Ok(labels),
            _ => Err(wrong_type(SAMPLE_TYPE, sample)),
        },
        other => Err(wrong_type(SAMPLE_TYPE, other)),
    }
}

fn is_sample(map: &BTreeMap<Arc<str>, Value>) -> bool {
    matches!(map.get(STRUCT_KEY), Some(Value::String(type_name)) if type_name.as_ref() == SAMPLE_TYPE)
}

fn sample_field(sample: &Value, name: &str) -> Result<Value, String> {
    match sample {
        Value::Map(map) if is_sample(map) => map
            .get(name)
            .cloned()
            .ok_or_else(|| wrong_type(SAMPLE_TYPE, sample)),
        other => Err(wrong_type(SAMPLE_TYPE, other)),
    }
}

fn sort_by_label(name: &str, samples: &Value) -> Result<Value, String> {
    let Value::List(list) = samples else {
        return Err(wrong_type("queryResult", samples));
    };
    let mut keyed = Vec::with_capacity(list.len());
    for sample in list.iter() {
        let key = match sample_labels(sample)?.get(name) {
            Some(Value::String(value)) => value.clone(),
            _ => Arc::from(""),
        };
        keyed.push((key, sample.clone()));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0)); // Stable, as Go's sort.Stable.
    let sorted: Vec<Value> = keyed.into_iter().map(|(_, sample)| sample).collect();
    Ok(Value::List(sorted.into()))
}

/// Go's `index`, except that a missing key of a labels map is "", as for Go's
/// `map[string]string`.
fn index(args: &[Value]) -> Result<Value, String> {
    let (item, indexes) = args
        .split_first()
        .ok_or_else(|| "wrong number of args for index: want at least 1 got 0".to_string())?;
    let mut value = item.clone();
    for key in indexes {
        value = match (&value, key) {
            (Value::Map(map), Value::String(name))
                if !map.contains_key(name.as_ref()) && is_string_map(map) =>
            {
                string_value(String::new())
            }
            _ => value.index(key).map_err(|error| gotmpl_message(&error))?,
        };
    }
    Ok(value)
}

/// Whether a map is a label set (all values strings): its missing keys are "".
fn is_string_map(map: &BTreeMap<Arc<str>, Value>) -> bool {
    map.values().all(|value| matches!(value, Value::String(_)))
}

/// Field `name` of `value`, or the method `name` of a time or duration called with `args`.
fn field(value: &Value, name: &str, args: &[Value]) -> Result<Value, String> {
    if let Some(ns) = time_ns(value) {
        return time_method(ns, name, args);
    }
    if let Some(ns) = duration_ns(value) {
        return duration_method(ns, name, args);
    }
    let Value::Map(map) = value else {
        return match value {
            // Go: a field of nil data is "<no value>".
            Value::Nil if args.is_empty() => Ok(Value::Nil),
            other => Err(format!(
                "can't evaluate field {name} in type {}",
                go_type_name(other)
            )),
        };
    };
    if !args.is_empty() {
        return Err(format!("{name} is not a method but has arguments"));
    }
    if let Some(found) = map.get(name) {
        return Ok(found.clone());
    }
    match map.get(STRUCT_KEY) {
        Some(Value::String(type_name)) => {
            Err(format!("can't evaluate field {name} in type {type_name}"))
        }
        _ if is_string_map(map) => Ok(string_value(String::new())),
        _ => Ok(Value::Nil),
    }
}

fn time_value(ns: i64) -> Value {
    Value::Map(Arc::new(BTreeMap::from([(
        Arc::from(TIME_KEY),
        Value::Int(ns),
    )])))
}

fn duration_value(ns: i64) -> Value {
    Value::Map(Arc::new(BTreeMap::from([(
        Arc::from(DURATION_KEY),
        Value::Int(ns),
    )])))
}

fn marker(value: &Value, key: &str) -> Option<i64> {
    match value {
        Value::Map(map) if map.len() == 1 => match map.get(key) {
            Some(Value::Int(ns)) => Some(*ns),
            _ => None,
        },
        _ => None,
    }
}

fn time_ns(value: &Value) -> Option<i64> {
    marker(value, TIME_KEY)
}

fn duration_ns(value: &Value) -> Option<i64> {
    marker(value, DURATION_KEY)
}

/// The methods of Go's `time.Time` that templates use. Times are in UTC.
fn time_method(ns: i64, name: &str, args: &[Value]) -> Result<Value, String> {
    let civil = Civil::from_unix_ns(ns);
    let int = |value: i64| exact_args::<0>(name, args).map(|_| Value::Int(value));
    let other_time = || {
        let [other] = exact_args::<1>(name, args)?;
        time_ns(other).ok_or_else(|| wrong_type("time.Time", other))
    };
    match name {
        "Format" => {
            let layout = string_arg(exact_args::<1>(name, args).map(|[layout]| layout)?)?;
            Ok(string_value(go_format_time(ns, &layout)))
        }
        "String" => exact_args::<0>(name, args).map(|_| string_value(go_time_string(ns))),
        "UTC" | "Local" => exact_args::<0>(name, args).map(|_| time_value(ns)),
        "Unix" => int(ns.div_euclid(1_000_000_000)),
        "UnixMilli" => int(ns.div_euclid(1_000_000)),
        "UnixMicro" => int(ns.div_euclid(1_000)),
        "UnixNano" => int(ns),
        "Year" => int(civil.year),
        "YearDay" => int(civil.year_day),
        "Day" => int(civil.day),
        "Hour" => int(civil.hour),
        "Minute" => int(civil.minute),
        "Second" => int(civil.second),
        "Nanosecond" => int(civil.nanosecond),
        "Add" => {
            let [duration] = exact_args::<1>(name, args)?;
            let delta = match duration {
                Value::Int(delta) => *delta,
                other => duration_ns(other).ok_or_else(|| wrong_type("time.Duration", other))?,
            };
            ns.checked_add(delta)
                .map(time_value)
                .ok_or_else(|| "time out of range".to_string())
        }
        "Sub" => Ok(duration_value(ns.saturating_sub(other_time()?))),
        "Before" => Ok(Value::Bool(ns < other_time()?)),
        "After" => Ok(Value::Bool(ns > other_time()?)),
        "Equal" => Ok(Value::Bool(ns == other_time()?)),
        _ => Err(format!("can't evaluate field {name} in type *time.Time")),
    }
}

/// The methods of Go's `time.Duration` that templates use.
fn duration_method(ns: i64, name: &str, args: &[Value]) -> Result<Value, String> {
    exact_args::<0>(name, args)?;
    let seconds = (ns / 1_000_000_000) as f64 + (ns % 1_000_000_000) as f64 / 1e9;
    match name {
        "String" => Ok(string_value(go_duration_string(ns))),
        "Seconds" => Ok(Value::Float(seconds)),
        "Minutes" => Ok(Value::Float(seconds / 60.0)),
        "Hours" => Ok(Value::Float(seconds / 3600.0)),
        "Milliseconds" => Ok(Value::Int(ns / 1_000_000)),
        "Microseconds" => Ok(Value::Int(ns / 1_000)),
        "Nanoseconds" => Ok(Value::Int(ns)),
        "Abs" => Ok(duration_value(ns.checked_abs().unwrap_or(i64::MAX))),
        _ => Err(format!(
            "can't evaluate field {name} in type *time.Duration"
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Printing, as Go's fmt does it.

fn go_type_name(value: &Value) -> String {
    if time_ns(value).is_some() {
        return "*time.Time".to_string();
    }
    if duration_ns(value).is_some() {
        return "*time.Duration".to_string();
    }
    match value {
        Value::Nil => "<nil>".to_string(),
        Value::List(_) => "[]interface {}".to_string(),
        Value::Map(map) => match map.get(STRUCT_KEY) {
            Some(Value::String(type_name)) => type_name.to_string(),
            _ => "map[string]interface {}".to_string(),
        },
        other => other.type_name().to_string(),
    }
}

/// Go's `%v`.
fn go_value_string(value: &Value) -> String {
    if let Some(ns) = time_ns(value) {
        return go_time_string(ns);
    }
    if let Some(ns) = duration_ns(value) {
        return go_duration_string(ns);
    }
    match value {
        Value::Nil => "<nil>".to_string(),
        Value::Float(v) => go_format_g(*v, None),
        Value::String(text) => text.to_string(),
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(go_value_string).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Map(map) if map.contains_key(STRUCT_KEY) => {
            let fields: Vec<String> = map
                .iter()
                .filter(|(key, _)| key.as_ref() != STRUCT_KEY)
                .map(|(_, value)| go_value_string(value))
                .collect();
            format!("{{{}}}", fields.join(" "))
        }
        Value::Map(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("{key}:{}", go_value_string(value)))
                .collect();
            format!("map[{}]", entries.join(" "))
        }
        other => other.to_string(),
    }
}

/// Go's `fmt.Sprint`: a space between two operands when neither is a string.
fn go_sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (index, arg) in args.iter().enumerate() {
        let is_string = |value: &Value| matches!(value, Value::String(_));
        if index > 0 && !is_string(&args[index - 1]) && !is_string(arg) {
            out.push(' ');
        }
        out.push_str(&go_value_string(arg));
    }
    out
}

/// What Go's `html`, `js` and `urlquery` escape: one string as is, else `fmt.Sprint`.
fn escaper_input(args: &[Value]) -> String {
    match args {
        [Value::String(text)] => text.to_string(),
        _ => go_sprint(args),
    }
}

/// `printf`: gotmpl's, with the arguments it would print unlike Go (floats under `%v`,
/// infinities under any float verb, times and durations) formatted here first.
fn printf(args: &[Value]) -> Result<Value, String> {
    let (format, args) = args
        .split_first()
        .ok_or_else(|| "wrong number of args for printf: want at least 1 got 0".to_string())?;
    let format = string_arg(format)?;
    if args.len() > PRINTF_ARGS_MAX {
        return Err(format!(
            "printf got {} arguments, limit is {PRINTF_ARGS_MAX}",
            args.len()
        ));
    }
    let (format, args) = adapt_printf(&format, args);
    builtin_printf(format, args).map(string_value)
}

/// Runs gotmpl's own `printf` through small templates `{{printf .f .a0 .a1 ...}}`, one
/// per argument count: our `printf` replaces the builtin, which is not otherwise callable.
fn builtin_printf(format: String, args: Vec<Value>) -> Result<String, String> {
    static HELPERS: OnceLock<Vec<Option<gotmpl::Template>>> = OnceLock::new();
    let helpers = HELPERS.get_or_init(|| {
        (0..=PRINTF_ARGS_MAX)
            .map(|count| {
                let names: String = (0..count).map(|index| format!(" .a{index}")).collect();
                gotmpl::Template::new("printf")
                    .parse(&format!("{{{{printf .f{names}}}}}"))
                    .ok()
            })
            .collect()
    });
    let helper = helpers
        .get(args.len())
        .and_then(Option::as_ref)
        .ok_or_else(|| format!("BUG: no printf helper for {} arguments", args.len()))?;
    let mut data: BTreeMap<Arc<str>, Value> = BTreeMap::new();
    data.insert("f".into(), string_value(format));
    for (index, arg) in args.into_iter().enumerate() {
        data.insert(format!("a{index}").into(), arg);
    }
    let mut writer = CappedWriter::default();
    match helper.execute_fmt(&mut writer, &Value::Map(Arc::new(data))) {
        Ok(()) => Ok(writer.output),
        Err(_) if writer.overflowed => Err(format!(
            "result is longer than the limit of {OUTPUT_BYTES_MAX} bytes"
        )),
        Err(error) => Err(gotmpl_message(&error)),
    }
}

/// Rewrites a `printf` format and its arguments so that each argument gotmpl would print
/// unlike Go becomes a string we format, printed with `%s`. Formats with explicit
/// argument indexes (`%[1]d`) are left alone.
fn adapt_printf(format: &str, args: &[Value]) -> (String, Vec<Value>) {
    let mut out = String::with_capacity(format.len());
    let mut new_args = args.to_vec();
    let mut next_arg = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&flag) = chars.peek().filter(|c| "+-# 0".contains(**c)) {
            flags.push(flag);
            chars.next();
        }
        let mut width = String::new();
        if chars.next_if_eq(&'*').is_some() {
            width.push('*');
            next_arg += 1;
        }
        while let Some(digit) = chars.next_if(char::is_ascii_digit) {
            width.push(digit);
        }
        let mut precision = None;
        if chars.next_if_eq(&'.').is_some() {
            let mut digits = String::new();
            if chars.next_if_eq(&'*').is_some() {
                digits.push('*');
                next_arg += 1;
            }
            while let Some(digit) = chars.next_if(char::is_ascii_digit) {
                digits.push(digit);
            }
            precision = Some(digits);
        }
        let spec = match &precision {
            Some(digits) => format!("%{flags}{width}.{digits}"),
            None => format!("%{flags}{width}"),
        };
        let Some(verb) = chars.next() else {
            out.push_str(&spec);
            break;
        };
        if verb == '[' {
            return (format.to_string(), args.to_vec());
        }
        if verb == '%' {
            out.push_str(&spec);
            out.push('%');
            continue;
        }
        let index = next_arg;
        next_arg += 1;
        let replacement = args
            .get(index)
            .and_then(|arg| printf_replacement(arg, verb, &flags, precision.as_deref()));
        let Some(text) = replacement else {
            out.push_str(&spec);
            out.push(verb);
            continue;
        };
        new_args[index] = string_value(pad(text, &flags, &width));
        out.push_str(if width == "*" && flags.contains('-') {
            "%-*s"
        } else if width == "*" {
            "%*s"
        } else {
            "%s"
        });
    }
    (out, new_args)
}

/// Go's text for one `printf` argument, where gotmpl's would differ; None otherwise.
fn printf_replacement(
    arg: &Value,
    verb: char,
    flags: &str,
    precision: Option<&str>,
) -> Option<String> {
    let precision = match precision {
        None => None,
        // Taken from an argument: leave it all to gotmpl.
        Some(digits) if digits.contains('*') => return None,
        Some(digits) => Some(digits.parse::<usize>().unwrap_or(0).min(PRINTF_WIDTH_MAX)),
    };
    if let Some(text) = time_ns(arg)
        .map(go_time_string)
        .or_else(|| duration_ns(arg).map(go_duration_string))
    {
        if !matches!(verb, 'v' | 's') {
            return None;
        }
        return Some(match precision {
            Some(limit) => text.chars().take(limit).collect(),
            None => text,
        });
    }
    let Value::Float(v) = arg else {
        return None;
    };
    let replace = verb == 'v' || (!v.is_finite() && "eEfFgG".contains(verb));
    if !replace {
        return None;
    }
    let mut text = match precision {
        Some(precision) if v.is_finite() => go_format_g(*v, Some(precision.max(1))),
        _ => go_format_g(*v, None),
    };
    if text.starts_with('-') || text.starts_with('+') {
        if flags.contains(' ') && !flags.contains('+') && text.starts_with('+') {
            text.replace_range(..1, " ");
        }
    } else if flags.contains('+') {
        text.insert(0, '+');
    } else if flags.contains(' ') {
        text.insert(0, ' ');
    }
    Some(text)
}

/// Pads to a literal width as Go's fmt does: spaces, on the left unless `-`.
fn pad(text: String, flags: &str, width: &str) -> String {
    let width: usize = width.parse().unwrap_or(0).min(PRINTF_WIDTH_MAX);
    let len = text.chars().count();
    if len >= width {
        return text;
    }
    let padding = " ".repeat(width - len);
    if flags.contains('-') {
        text + &padding
    } else {
        padding + &text
    }
}

/// Go's `%g` with a precision (`%.4g`), or with the shortest exact digits (`%v`).
fn go_format_g(value: f64, precision: Option<usize>) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value == 0.0 {
        return format!("{sign}0");
    }
    // Rust's exponent form gives the digits: rounded half to even for a precision,
    // shortest round-trip without, as Go's strconv does.
    let scientific = match precision {
        Some(precision) => format!("{:.*e}", precision.max(1) - 1, value.abs()),
        None => format!("{:e}", value.abs()),
    };
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    let digit_count = digits.len() as i64;
    let point = exponent + 1; // Digits before the decimal point.
    let (exponent_limit, shown) = match precision {
        None => (6, digit_count),
        Some(precision) => {
            let precision = precision.max(1) as i64;
            let limit = if precision > digit_count && digit_count >= point {
                digit_count
            } else {
                precision
            };
            (limit, precision)
        }
    };
    let digit = |index: i64| {
        usize::try_from(index)
            .ok()
            .and_then(|index| digits.get(index))
            .map_or('0', |byte| *byte as char)
    };
    let mut out = sign.to_string();
    if exponent < -4 || exponent >= exponent_limit {
        let shown = shown.min(digit_count);
        out.push(digit(0));
        if shown > 1 {
            out.push('.');
            (1..shown).for_each(|index| out.push(digit(index)));
        }
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        out.push_str(&format!("e{exponent_sign}{:02}", exponent.abs()));
    } else {
        let shown = if shown > point { digit_count } else { shown };
        let fraction = (shown - point).max(0);
        if point > 0 {
            (0..point).for_each(|index| out.push(digit(index)));
        } else {
            out.push('0');
        }
        if fraction > 0 {
            out.push('.');
            (0..fraction).for_each(|index| out.push(digit(point + index)));
        }
    }
    out
}

/// Go's `time.Duration.String`: `1h2m3.5s`, `1.5ms`, `0s`.
fn go_duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let magnitude = ns.unsigned_abs();
    // The integer part and the trimmed fraction of magnitude / 10^scale.
    let split = |value: u64, scale: u32| {
        let unit = 10u64.pow(scale);
        let fraction = value % unit;
        let text = if fraction == 0 {
            String::new()
        } else {
            let digits = format!("{fraction:0width$}", width = scale as usize);
            format!(".{}", digits.trim_end_matches('0'))
        };
        (value / unit, text)
    };
    if magnitude < 1_000_000_000 {
        let (scale, unit) = match magnitude {
            0..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (whole, fraction) = split(magnitude, scale);
        return format!("{sign}{whole}{fraction}{unit}");
    }
    let (seconds_total, fraction) = split(magnitude, 9);
    let seconds = seconds_total % 60;
    let minutes_total = seconds_total / 60;
    let (minutes, hours) = (minutes_total % 60, minutes_total / 60);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{seconds}{fraction}s")
    } else if minutes_total > 0 {
        format!("{sign}{minutes}m{seconds}{fraction}s")
    } else {
        format!("{sign}{seconds}{fraction}s")
    }
}

/// Go's `time.Time.String` for a UTC time: `2015-06-23 13:19:44.128 +0000 UTC`.
fn go_time_string(ns: i64) -> String {
    go_format_time(ns, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// A UTC time broken into calendar fields.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    nanosecond: i64,
    /// 0 is Sunday.
    weekday: i64,
    /// 1 is January 1st.
    year_day: i64,
}

impl Civil {
    fn from_unix_ns(ns: i64) -> Civil {
        // jiff does the calendar arithmetic. Every i64 of nanoseconds (years 1677 to
        // 2262) is inside its range, so the fallback is never taken.
        let timestamp =
            jiff::Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let time = jiff::tz::Offset::UTC.to_datetime(timestamp);
        Civil {
            year: i64::from(time.year()),
            month: i64::from(time.month()),
            day: i64::from(time.day()),
            hour: i64::from(time.hour()),
            minute: i64::from(time.minute()),
            second: i64::from(time.second()),
            nanosecond: i64::from(time.subsec_nanosecond()),
            weekday: i64::from(time.weekday().to_sunday_zero_offset()),
            year_day: i64::from(time.day_of_year()),
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's `time.Time.Format` for a UTC time, with Go's reference-time layout
/// (`2006-01-02 15:04:05`). Text that is no layout element is copied.
fn go_format_time(ns: i64, layout: &str) -> String {
    let civil = Civil::from_unix_ns(ns);
    let month_name = MONTHS[(civil.month - 1) as usize];
    let weekday_name = WEEKDAYS[civil.weekday as usize];
    let hour_12 = if civil.hour % 12 == 0 {
        12
    } else {
        civil.hour % 12
    };
    let mut out = String::with_capacity(layout.len() + 16);
    let mut rest = layout;
    while !rest.is_empty() {
        // Longest elements first where one is a prefix of another, as Go matches them.
        let lower_follows = |len: usize| rest[len..].starts_with(|c: char| c.is_ascii_lowercase());
        let (text, len) = if rest.starts_with("January") {
            (month_name.to_string(), 7)
        } else if rest.starts_with("Jan") && !lower_follows(3) {
            (month_name[..3].to_string(), 3)
        } else if rest.starts_with("Monday") {
            (weekday_name.to_string(), 6)
        } else if rest.starts_with("Mon") && !lower_follows(3) {
            (weekday_name[..3].to_string(), 3)
        } else if rest.starts_with("MST") {
            ("UTC".to_string(), 3)
        } else if rest.starts_with("2006") {
            (format!("{:04}", civil.year), 4)
        } else if rest.starts_with("002") {
            (format!("{:03}", civil.year_day), 3)
        } else if rest.starts_with("01") {
            (format!("{:02}", civil.month), 2)
        } else if rest.starts_with("02") {
            (format!("{:02}", civil.day), 2)
        } else if rest.starts_with("03") {
            (format!("{hour_12:02}"), 2)
        } else if rest.starts_with("04") {
            (format!("{:02}", civil.minute), 2)
        } else if rest.starts_with("05") {
            (format!("{:02}", civil.second), 2)
        } else if rest.starts_with("06") {
            (format!("{:02}", civil.year.rem_euclid(100)), 2)
        } else if rest.starts_with("15") {
            (format!("{:02}", civil.hour), 2)
        } else if rest.starts_with('1') {
            (civil.month.to_string(), 1)
        } else if rest.starts_with("_2006") {
            ("_".to_string(), 1)
        } else if rest.starts_with("__2") {
            (format!("{:>3}", civil.year_day), 3)
        } else if rest.starts_with("_2") {
            (format!("{:>2}", civil.day), 2)
        } else if rest.starts_with('2') {
            (civil.day.to_string(), 1)
        } else if rest.starts_with('3') {
            (hour_12.to_string(), 1)
        } else if rest.starts_with('4') {
            (civil.minute.to_string(), 1)
        } else if rest.starts_with('5') {
            (civil.second.to_string(), 1)
        } else if rest.starts_with("PM") {
            (if civil.hour >= 12 { "PM" } else { "AM" }.to_string(), 2)
        } else if rest.starts_with("pm") {
            (if civil.hour >= 12 { "pm" } else { "am" }.to_string(), 2)
        } else if let Some(zone) = ["-070000", "-07:00:00", "-0700", "-07:00", "-07"]
            .into_iter()
            .find(|zone| rest.starts_with(zone))
        {
            (zone.replace('7', "0").replace('-', "+"), zone.len())
        } else if let Some(zone) = ["Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07"]
            .into_iter()
            .find(|zone| rest.starts_with(zone))
        {
            ("Z".to_string(), zone.len())
        } else if let Some((text, len)) = fraction_element(rest, civil.nanosecond) {
            (text, len)
        } else {
            let c = rest.chars().next().unwrap_or_default();
            (c.to_string(), c.len_utf8())
        };
        out.push_str(&text);
        rest = &rest[len..];
    }
    out
}

/// A fractional-second element: `.000` (fixed digits) or `.999` (trailing zeros
/// trimmed), also with `,`; only when no digit follows it.
fn fraction_element(rest: &str, nanosecond: i64) -> Option<(String, usize)> {
    let bytes = rest.as_bytes();
    let separator = *bytes.first()?;
    let kind = *bytes.get(1)?;
    if !matches!(separator, b'.' | b',') || !matches!(kind, b'0' | b'9') {
        return None;
    }
    let count = bytes[1..].iter().take_while(|byte| **byte == kind).count();
    if bytes.get(1 + count).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let nine_digits = format!("{nanosecond:09}");
    let digits = &nine_digits[..count.min(9)];
    let text = if kind == b'0' {
        format!("{}{digits}", separator as char)
    } else {
        let trimmed = digits.trim_end_matches('0');
        if trimmed.is_empty() {
            String::new()
        } else {
            format!("{}{trimmed}", separator as char)
        }
    };
    Some((text, 1 + count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().copied()).unwrap()
    }

    struct FakeQuery {
        samples: Vec<(Labels, f64)>,
    }

    impl TemplateQuery for FakeQuery {
        fn query(&self, expr: &str) -> Result<Vec<(Labels, f64)>, String> {
            if expr == "bad(" {
                return Err("parse error: unclosed left parenthesis".to_string());
            }
            Ok(self.samples.clone())
        }
    }

    fn render_with(
        text: &str,
        value: f64,
        query: Option<&dyn TemplateQuery>,
    ) -> Result<String, TemplateError> {
        let alert_labels = labels(&[
            ("__name__", "up"),
            ("instance", "host-1.example.com:9100"),
            ("job", "node"),
            ("severity", "critical"),
        ]);
        let external_labels = labels(&[("cluster", "eu-1")]);
        let data = TemplateData {
            labels: &alert_labels,
            external_labels: &external_labels,
            external_url: "http://testhost:9090/path/prefix",
            value,
            query,
        };
        Template::parse("test", text)?.render(&data)
    }

    /// The one helper the table tests go through.
    fn check(text: &str, expected: &str) {
        check_value(text, 1.5, expected);
    }

    fn check_value(text: &str, value: f64, expected: &str) {
        match render_with(text, value, None) {
            Ok(output) => assert_eq!(output, expected, "template {text:?}"),
            Err(error) => panic!("template {text:?} failed: {error}"),
        }
    }

    fn check_error(text: &str, expected: &str) {
        match render_with(text, 1.5, None) {
            Ok(output) => {
                panic!("template {text:?} rendered {output:?}, expected error {expected:?}")
            }
            Err(error) => assert_eq!(error.message, expected, "template {text:?}"),
        }
    }

    #[test]
    fn literal_text_is_returned_unchanged() {
        let template = Template::parse("test", "plain text }} with braces").unwrap();
        assert!(template.is_literal());
        check("plain text }} with braces", "plain text }} with braces");
        assert!(!Template::parse("test", "{{ 1 }}").unwrap().is_literal());
    }

    #[test]
    fn prometheus_expansion_cases() {
        // From Prometheus' template/template_test.go.
        check("{{ 1 }}", "1");
        check("{{ \"<b>\" }}", "<b>");
        check("{{ \"<b>\" | safeHtml }}", "<b>");
        check(
            "{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}",
            "1 2",
        );
        check("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", "xa");
        check("{{ \"aa bb CC\" | title }}", "Aa Bb CC");
        check("{{ \"aa bb CC\" | toUpper }}", "AA BB CC");
        check("{{ \"aA bB CC\" | toLower }}", "aa bb cc");
        check(
            "{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}",
            "true false",
        );
        check("{{ graphLink \"up\" }}", "/graph?g0.expr=up&g0.tab=0");
        check("{{ tableLink \"up\" }}", "/graph?g0.expr=up&g0.tab=1");
        check("{{ pathPrefix }}", "/path/prefix");
        check("{{ externalURL }}", "http://testhost:9090/path/prefix");
        check(
            "{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}",
            "3720.01",
        );
        check(
            "{{ printf \"%0.2f\" (parseDuration \"-1h2m10ms\") }}",
            "-3720.01",
        );
    }

    #[test]
    fn humanize_matches_prometheus() {
        let list = "args 0.0 1.0 1234567.0 .12";
        check(
            &format!("{{{{ range {list} }}}}{{{{ humanize . }}}}:{{{{ end }}}}"),
            "0:1:1.235M:120m:",
        );
        check(
            "{{ range args \"0.0\" \"1.0\" \"1234567.0\" \".12\" }}{{ humanize . }}:{{ end }}",
            "0:1:1.235M:120m:",
        );
        check(
            "{{ range args 0 -1 1 1234567 9223372036854775807 }}{{ humanize . }}:{{ end }}",
            "0:-1:1:1.235M:9.223E:",
        );
        check_error(
            "{{ humanize \"one\" }}",
            "template: test: error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax",
        );
        assert_eq!(humanize(u64::MAX as f64), "18.45E");
    }

    #[test]
    fn humanize_1024_matches_prometheus() {
        check(
            "{{ range args 0.0 1.0 1048576.0 .12 }}{{ humanize1024 . }}:{{ end }}",
            "0:1:1Mi:0.12:",
        );
        check(
            "{{ range args \"0.0\" \"1.0\" \"1048576.0\" \".12\" }}{{ humanize1024 . }}:{{ end }}",
            "0:1:1Mi:0.12:",
        );
        check(
            "{{ range args 0 -1 1 1234567 9223372036854775807 }}{{ humanize1024 . }}:{{ end }}",
            "0:-1:1:1.177Mi:8Ei:",
        );
        assert_eq!(humanize_1024(u64::MAX as f64), "16Ei");
    }

    #[test]
    fn humanize_duration_matches_prometheus() {
        let seconds = [
            0.0,
            1.0,
            60.0,
            3600.0,
            86400.0,
            86400.0 + 3600.0,
            -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
            899.99,
        ];
        let got: Vec<String> = seconds.iter().map(|v| humanize_duration(*v)).collect();
        assert_eq!(
            got.join(":"),
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s"
        );
        check(
            "{{ range args .1 .0001 .12345 60.1 60.5 1.2345 12.345 }}{{ humanizeDuration . }}:{{ end }}",
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
        );
        check(
            "{{ range args \".1\" \".0001\" \".12345\" \"60.1\" \"60.5\" \"1.2345\" \"12.345\" }}{{ humanizeDuration . }}:{{ end }}",
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
        );
        check(
            "{{ range args 0 -1 1 1234567 }}{{ humanizeDuration . }}:{{ end }}",
            "0s:-1s:1s:14d 6h 56m 7s:",
        );
        check("{{ humanizeDuration \"86400\" }}", "1d 0h 0m 0s");
    }

    #[test]
    fn humanize_infinities_and_nan() {
        let text = "{{ range args \"+Inf\" \"-Inf\" \"NaN\" }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}";
        check(
            text,
            "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
        );
        check_value(
            "{{ humanize $value }} {{ humanizeDuration $value }}",
            f64::INFINITY,
            "+Inf +Inf",
        );
    }

    #[test]
    fn humanize_percentage_matches_prometheus() {
        check(
            "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
            "-22.22%:0%:12.35%:123.5%",
        );
        check(
            "{{ range args 0 -1 1 1234567 9223372036854775807 }}{{ humanizePercentage . }}:{{ end }}",
            "0%:-100%:100%:1.235e+08%:9.223e+20%:",
        );
        check(
            "{{ \"-0.22222\" | humanizePercentage }}:{{ \"0.1234567\" | humanizePercentage }}",
            "-22.22%:12.35%",
        );
    }

    #[test]
    fn humanize_timestamp_matches_prometheus() {
        check(
            "{{ range args 0 -1 1 1234567 9223372036 }}{{ humanizeTimestamp . }}:{{ end }}",
            "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:",
        );
        check(
            "{{ 1435065584.128 | humanizeTimestamp }}",
            "2015-06-23 13:19:44.128 +0000 UTC",
        );
        check(
            "{{ \"1435065584.128\" | humanizeTimestamp }}",
            "2015-06-23 13:19:44.128 +0000 UTC",
        );
        check_error(
            "{{ humanizeTimestamp -9223372036854775807 }}",
            "template: test: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64",
        );
    }

    #[test]
    fn time_and_duration_methods() {
        check("{{ (1435065584.128 | toTime).Format \"2006\" }}", "2015");
        check(
            "{{ (\"1435065584.128\" | toTime).Format \"2006\" }}",
            "2015",
        );
        check(
            "{{ (1353755652 | toTime).Format \"Mon Jan 2 15:04:05 2006\" }}",
            "Sat Nov 24 11:14:12 2012",
        );
        check("{{ ((1800 | toDuration).String) }}", "30m0s");
        check("{{ (\"1800\" | toDuration).String }}", "30m0s");
        check(
            "{{ (\"-30m\" | parseDuration | toDuration | (1353755652 | toTime).Add).UnixMilli }}",
            "1353753852000",
        );
        check(
            "{{ $t := 1435065584.128 | toTime }}{{ $t.Year }} {{ $t.YearDay }} {{ $t }}",
            "2015 174 2015-06-23 13:19:44.128 +0000 UTC",
        );
        check(
            "{{ $t := 1435065584.128 | toTime }}{{ $t.Format \"02/01/06 03:04:05.000PM -07:00 Z07:00 January Monday\" }}",
            "23/06/15 01:19:44.128PM +00:00 Z June Tuesday",
        );
        check(
            "{{ (90 | toDuration).Minutes }} {{ 1.5 | toDuration }}",
            "1.5 1.5s",
        );
        check_error(
            "{{ (1 | toTime).Nope }}",
            "template: test: can't evaluate field Nope in type *time.Time",
        );
        check_error(
            "{{ (1 | toTime).Format }}",
            "template: test: wrong number of args for Format: want 1 got 0",
        );
        let now = render_with("{{ now }}", 0.0, None).unwrap();
        assert!(now.parse::<f64>().unwrap() > 1.7e9, "now rendered {now:?}");
    }

    #[test]
    fn go_duration_strings() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (1_500_000_000, "1.5s"),
            (-1_500_000_000, "-1.5s"),
            (90 * 60 * 1_000_000_000, "1h30m0s"),
            (100 * 3600 * 1_000_000_000 + 1, "100h0m0.000000001s"),
        ];
        for (ns, expected) in cases {
            assert_eq!(go_duration_string(ns), expected, "{ns}ns");
        }
    }

    #[test]
    fn go_float_formats() {
        let shortest = [
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.5, "0.5"),
            (3.0, "3"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (1353755652.0, "1.353755652e+09"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (-0.0, "-0"),
            (5e-324, "5e-324"),
        ];
        for (value, expected) in shortest {
            assert_eq!(go_format_g(value, None), expected, "%v of {value}");
        }
        let four = [
            (12345.0, "1.234e+04"),
            (100.0, "100"),
            (0.12, "0.12"),
            (1e6, "1e+06"),
            (123.45, "123.5"),
            (0.0, "0"),
        ];
        for (value, expected) in four {
            assert_eq!(go_format_g(value, Some(4)), expected, "%.4g of {value}");
        }
    }

    #[test]
    fn value_prints_like_go() {
        check_value("{{ $value }}", 1e6, "1e+06");
        check_value("{{ .Value }}", 0.5, "0.5");
        check_value("{{ $value }}", 3.0, "3");
        check_value("{{ $value }}", f64::NAN, "NaN");
        check_value("{{ $value }}", f64::INFINITY, "+Inf");
        check_value("{{ $value }}", f64::NEG_INFINITY, "-Inf");
        check_value("{{ printf \"%.2f\" $value }}", 1.0 / 3.0, "0.33");
        check_value(
            "{{ printf \"%v|%6v|%-6v|%+v\" $value $value $value $value }}",
            1e6,
            "1e+06| 1e+06|1e+06 |+1e+06",
        );
        check_value(
            "{{ printf \"%.1f %v %d\" $value $value 3 }}",
            f64::INFINITY,
            "+Inf +Inf 3",
        );
        check_value(
            "{{ print $value \"x\" $value }} {{ println $value 2 }}",
            1e6,
            "1e+06x1e+06 1e+06 2\n",
        );
        check_value("{{ printf \"%s %[1]q\" \"a\" }}", 1.0, "a \"a\"");
    }

    #[test]
    fn labels_and_data() {
        check("{{ $labels.instance }}", "host-1.example.com:9100");
        check(
            "{{ .Labels.job }} {{ $externalLabels.cluster }} {{ .ExternalLabels.cluster }}",
            "node eu-1 eu-1",
        );
        check(
            "{{ $externalURL }} {{ .ExternalURL }}",
            "http://testhost:9090/path/prefix http://testhost:9090/path/prefix",
        );
        // Prometheus' labels are map[string]string: a missing one is "".
        check(
            "[{{ $labels.nope }}][{{ .Labels.nope }}][{{ index $labels \"nope\" }}]",
            "[][][]",
        );
        check(
            "{{ if eq $labels.nope \"\" }}empty{{ end }} {{ len $labels.nope }}",
            "empty 0",
        );
        check("{{ $labels.instance | stripPort | stripDomain }}", "host-1");
        check(
            "{{ range $name, $value := .ExternalLabels }}{{ $name }}={{ $value }};{{ end }}",
            "cluster=eu-1;",
        );
        check(
            "{{ with $labels.nope }}set{{ else }}unset{{ end }}",
            "unset",
        );
        check(
            "{{ if eq $labels.severity \"critical\" -}}\n  PAGE\n{{- else -}}\n  TICKET\n{{- end }}",
            "PAGE",
        );
        check("{{ $x := .Labels }}{{ $x.job }}{{ $ := 1 }}", "node");
        check_error(
            "{{ .Nope }}",
            "template: test: can't evaluate field Nope in type struct { Labels, ExternalLabels map[string]string; ExternalURL string; Value interface {} }",
        );
        check_error(
            "{{ .Labels.job 1 }}",
            "template: test: job is not a method but has arguments",
        );
    }

    #[test]
    fn parse_errors_have_offsets() {
        let cases: &[(&str, usize, &str)] = &[
            ("ab\ncd {{ .x ", 12, "template: test:2:10: unclosed action"),
            (
                "{{ nope }}",
                3,
                "template: test:1:4: function \"nope\" not defined",
            ),
            (
                "line one\n  {{ $labels.x | bogus }}",
                26,
                "template: test:2:18: function \"bogus\" not defined",
            ),
            (
                "{{ $y }}",
                3,
                "template: test:1:4: undefined variable \"$y\"",
            ),
            (
                "{{ nope1 nope2 }}",
                3,
                "template: test:1:4: function \"nope1\" not defined",
            ),
            (
                "{{ if 1 }}{{ $x := 1 }}{{ end }}{{ $x }}",
                35,
                "template: test:1:36: undefined variable \"$x\"",
            ),
            (
                "é{{ 1 }",
                7,
                "template: test:1:7: unexpected character: '}'",
            ),
            (
                "{{define \"a\"}}x{{end}}{{define \"a\"}}y{{end}}",
                24,
                "template: test:1:25: multiple definition of template \"a\"",
            ),
        ];
        for &(text, offset, message) in cases {
            let error = Template::parse("test", text).unwrap_err();
            assert_eq!(error.offset, Some(offset), "template {text:?}: {error}");
            assert_eq!(error.message, message, "template {text:?}");
        }
        // Variables of the prelude are not visible in a define, as in Prometheus.
        assert!(Template::parse("test", "{{define \"a\"}}{{ $labels }}{{end}}").is_err());
    }

    #[test]
    fn runtime_errors() {
        let error = render_with("{{ 1 | toTime | humanize }}", 1.0, None).unwrap_err();
        assert_eq!(error.offset, None);
        assert_eq!(
            error.message,
            "template: test: error calling humanize: can't convert *time.Time to float"
        );
        check_error(
            "{{ template \"nope\" }}",
            "template: test: undefined template: nope",
        );
        check_error(
            "{{ match \"(\" \"x\" }}",
            "template: test: error calling match: error parsing regexp: regex parse error:\n    (\n    ^\nerror: unclosed group",
        );
        check_error(
            "{{ parseDuration \"1x\" }}",
            "template: test: error calling parseDuration: unknown unit \"x\" in duration \"1x\"",
        );
        check_error(
            "{{ parseDuration \"1s1m\" }}",
            "template: test: error calling parseDuration: not a valid duration string: \"1s1m\"",
        );
        check_error(
            "{{ humanize }}",
            "template: test: error calling humanize: wrong number of args: want 1 got 0",
        );
    }

    #[test]
    fn query_results() {
        let fake = FakeQuery {
            samples: vec![
                (labels(&[("__name__", "metric"), ("instance", "b")]), 21.0),
                (
                    labels(&[
                        ("__name__", "metric"),
                        ("instance", "a"),
                        ("__value__", "x"),
                    ]),
                    11.0,
                ),
            ],
        };
        let render = |text: &str| render_with(text, 0.0, Some(&fake));
        assert_eq!(
            render("{{ query \"metric\" | first | value }}").unwrap(),
            "21"
        );
        assert_eq!(
            render("{{ query \"metric\" | first | label \"instance\" }}").unwrap(),
            "b"
        );
        assert_eq!(
            render("{{ query \"metric\" | first | label \"foo\" }}").unwrap(),
            ""
        );
        assert_eq!(
            render("{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}").unwrap(),
            ""
        );
        assert_eq!(
            render("{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}").unwrap(),
            "a:11: b:21: "
        );
        assert_eq!(
            render("{{ range query \"metric\" }}{{ strvalue . }}|{{ end }}").unwrap(),
            "|x|"
        );
        assert_eq!(
            render(
                "{{ with query (printf \"up{instance=%q}\" $labels.instance) }}{{ len . }}{{ end }}"
            )
            .unwrap(),
            "2"
        );
        assert_eq!(
            render("{{ (query \"missing\").banana }}")
                .unwrap_err()
                .message,
            "template: test: can't evaluate field banana in type []interface {}"
        );
        assert_eq!(
            render("{{ query \"bad(\" }}").unwrap_err().message,
            "template: test: error calling query: parse error: unclosed left parenthesis"
        );
        let empty = FakeQuery {
            samples: Vec::new(),
        };
        assert_eq!(
            render_with("{{ query \"missing\" | first }}", 0.0, Some(&empty))
                .unwrap_err()
                .message,
            "template: test: error calling first: first() called on vector with no elements"
        );
        assert_eq!(
            render_with("{{ query \"up\" }}", 0.0, None)
                .unwrap_err()
                .message,
            "template: test: error calling query: cannot run \"up\": no query engine is available to this template"
        );
        let many = FakeQuery {
            samples: vec![(labels(&[("a", "b")]), 1.0); QUERY_SAMPLES_MAX + 1],
        };
        assert_eq!(
            render_with("{{ query \"up\" }}", 0.0, Some(&many))
                .unwrap_err()
                .message,
            format!(
                "template: test: error calling query: query \"up\" returned {} samples, limit is {QUERY_SAMPLES_MAX}",
                QUERY_SAMPLES_MAX + 1
            )
        );
    }

    #[test]
    fn strip_port_and_domain_match_prometheus() {
        let cases = [
            ("foo.example.com", "foo.example.com", "foo"),
            ("foo.example.com:12345", "foo.example.com", "foo:12345"),
            ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
            ("192.0.2.1:12345", "192.0.2.1", "192.0.2.1:12345"),
            ("2001:0DB8::1", "2001:0DB8::1", "2001:0DB8::1"),
            (
                "[2001:0DB8::1]:12345",
                "2001:0DB8::1",
                "[2001:0DB8::1]:12345",
            ),
            (
                "[2001:0DB8::1]::12345",
                "[2001:0DB8::1]::12345",
                "[2001:0DB8::1]::12345",
            ),
        ];
        for (input, port_stripped, domain_stripped) in cases {
            check(&format!("{{{{ {input:?} | stripPort }}}}"), port_stripped);
            check(
                &format!("{{{{ {input:?} | stripDomain }}}}"),
                domain_stripped,
            );
        }
    }

    #[test]
    fn string_functions() {
        check(
            "{{ urlQueryEscape \"a b&c=d/é~\" }}",
            "a+b%26c%3Dd%2F%C3%A9~",
        );
        check(
            "{{ graphLink \"rate(x[5m]) > 1\" }}",
            "/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=0",
        );
        check(
            "{{ title \"hello world-wide o'neil foo.bar 1st\" }}",
            "Hello World-Wide O'neil Foo.bar 1st",
        );
        check(
            "{{ html \"<a>\" }} {{ js \"'\" }} {{ urlquery \"a b\" }}",
            "&lt;a&gt; \\' a+b",
        );
        check(
            "{{ reReplaceAll \"^(\\\\w+)-(\\\\d+)$\" \"$2:$1\" \"web-42\" }}",
            "42:web",
        );
        check(
            "{{ if match \"^host-\" $labels.instance }}yes{{ end }}",
            "yes",
        );
        check(
            "{{ args 1 \"a\" }} {{ (args 1).arg5 }}",
            "map[arg0:1 arg1:a] <no value>",
        );
    }

    #[test]
    fn control_flow_and_trimming() {
        check(
            "{{ range $i, $v := args \"a\" \"b\" }}{{ $i }}={{ $v }} {{ end }}",
            "arg0=a arg1=b ",
        );
        check(
            "{{ range 5 }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}",
            "012",
        );
        check("a  {{- 1 -}}  b", "a1b");
        check(
            "{{ if gt $value 1.0 }}high{{ else if gt $value 0.5 }}mid{{ else }}low{{ end }}",
            "high",
        );
        check("{{/* comment */}}x", "x");
        check("{{ block \"b\" . }}{{ .Labels.job }}{{ end }}", "node");
    }

    #[test]
    fn limits() {
        let long = "x".repeat(TEMPLATE_BYTES_MAX + 1);
        let error = Template::parse("test", &long).unwrap_err();
        assert_eq!(
            error.message,
            format!(
                "template test: text is {} bytes long, limit is {TEMPLATE_BYTES_MAX}",
                TEMPLATE_BYTES_MAX + 1
            )
        );
        check_error(
            "{{ range 100000 }}0123456789{{ end }}",
            &format!("template: test: output is longer than the limit of {OUTPUT_BYTES_MAX} bytes"),
        );
        // Doubling a variable fails at the size limit, not when memory runs out.
        let doubling = render_with(
            "{{ $x := \"ab\" }}{{ range 40 }}{{ $x = printf \"%s%s\" $x $x }}{{ end }}",
            0.0,
            None,
        );
        assert_eq!(
            doubling.unwrap_err().message,
            "template: test: error calling printf: result is longer than the limit of 65536 bytes"
        );
        let doubling = render_with(
            "{{ $x := \"\\\\\" }}{{ range 40 }}{{ $x = js $x }}{{ end }}",
            0.0,
            None,
        );
        assert!(doubling.unwrap_err().message.contains("limit is 65536"));
        check_error(
            "{{ range 200000 }}{{ end }}",
            "template: test: range iteration budget exhausted",
        );
    }

    #[test]
    fn template_is_shareable() {
        let template = Template::parse("test", "{{ $labels.job }}").unwrap();
        let copy = template.clone();
        let handle = std::thread::spawn(move || format!("{copy:?}"));
        assert!(handle.join().unwrap().contains("test"));
        let alert_labels = labels(&[("job", "node")]);
        let data = TemplateData {
            labels: &alert_labels,
            external_labels: &Labels::default(),
            external_url: "",
            value: 0.0,
            query: None,
        };
        assert_eq!(template.render(&data).unwrap(), "node");
    }
}
