//! Relabeling cases, checked against Prometheus' semantics (`model/relabel/relabel.go`
//! and its tests); hashmod values were computed with MD5 independently and match the
//! ones Prometheus' own tests expect for the same inputs.

use super::*;

/// One rule from `(field, value)` pairs named as in Prometheus' config.
/// `source_labels` is comma-separated; `action` defaults to "replace", as config/ will.
fn spec(fields: &[(&str, &str)]) -> RelabelSpec {
    let mut spec = RelabelSpec {
        action: "replace".to_string(),
        ..RelabelSpec::default()
    };
    for &(field, value) in fields {
        let text = Some(value.to_string());
        match field {
            "source_labels" => {
                spec.source_labels = value.split(',').map(str::to_string).collect();
            }
            "separator" => spec.separator = text,
            "regex" => spec.regex = text,
            "modulus" => spec.modulus = Some(value.parse().expect("test modulus is a number")),
            "target_label" => spec.target_label = text,
            "replacement" => spec.replacement = text,
            "action" => spec.action = value.to_string(),
            _ => panic!("unknown relabel field {field:?} in test"),
        }
    }
    spec
}

type Rule<'a> = &'a [(&'a str, &'a str)];

/// Applies `rules` to `input` and compares the result, printed as `Labels` prints, or
/// "dropped".
fn check(rules: &[Rule], input: &[(&str, &str)], expect: &str) {
    let rules: Vec<RelabelRule> = rules
        .iter()
        .map(|fields| {
            RelabelRule::new(spec(fields))
                .unwrap_or_else(|error| panic!("rule {fields:?} refused: {error}"))
        })
        .collect();
    let labels = Labels::new(input.iter().copied()).expect("test input is a valid label set");
    let actual = match relabel(&rules, &labels) {
        Some(relabeled) => relabeled.to_string(),
        None => "dropped".to_string(),
    };
    assert_eq!(actual, expect, "rules {rules:?} on {labels}");
}

/// Checks the error for one rule: one line (a regex error keeps only the regex
/// crate's last line, the one that says what is wrong).
fn check_error(fields: Rule, expect: &str) {
    match RelabelRule::new(spec(fields)) {
        Ok(rule) => panic!("rule {fields:?} accepted as {rule:?}, expected {expect:?}"),
        Err(error) => {
            assert_eq!(error.to_string(), expect, "rule {fields:?}");
        }
    }
}

#[test]
fn replace() {
    let input = [("a", "foo"), ("b", "bar")];
    // The defaults copy a source label.
    check(
        &[&[("source_labels", "a"), ("target_label", "c")]],
        &input,
        r#"{a="foo", b="bar", c="foo"}"#,
    );
    // Sources are joined with the separator before matching.
    check(
        &[&[
            ("source_labels", "host,port"),
            ("regex", r"(.+);(\d+)"),
            ("target_label", "__address__"),
            ("replacement", "$1:$2"),
        ]],
        &[("host", "h1"), ("port", "9100")],
        r#"{__address__="h1:9100", host="h1", port="9100"}"#,
    );
    check(
        &[&[
            ("source_labels", "a,b"),
            ("separator", "/"),
            ("target_label", "c"),
        ]],
        &input,
        r#"{a="foo", b="bar", c="foo/bar"}"#,
    );
    check(
        &[&[
            ("source_labels", "a,b"),
            ("separator", ""),
            ("target_label", "c"),
        ]],
        &input,
        r#"{a="foo", b="bar", c="foobar"}"#,
    );
    // Missing sources join to "" (or ";"), which "(.*)" still matches.
    check(
        &[&[
            ("source_labels", "absent"),
            ("target_label", "env"),
            ("replacement", "prod"),
        ]],
        &input,
        r#"{a="foo", b="bar", env="prod"}"#,
    );
    check(
        &[&[
            ("source_labels", "absent,missing"),
            ("target_label", "joined"),
        ]],
        &input,
        r#"{a="foo", b="bar", joined=";"}"#,
    );
    check(
        &[&[("target_label", "env"), ("replacement", "prod")]],
        &input,
        r#"{a="foo", b="bar", env="prod"}"#,
    );
    // ...and "$1" then expands to "", which deletes the target.
    check(
        &[&[("source_labels", "absent"), ("target_label", "a")]],
        &input,
        r#"{b="bar"}"#,
    );
    // No match, no replacement; the regex is anchored.
    check(
        &[&[
            ("source_labels", "b"),
            ("regex", "f.*"),
            ("target_label", "c"),
            ("replacement", "x"),
        ]],
        &input,
        r#"{a="foo", b="bar"}"#,
    );
    check(
        &[&[
            ("source_labels", "a"),
            ("regex", "o"),
            ("target_label", "c"),
        ]],
        &input,
        r#"{a="foo", b="bar"}"#,
    );
    // An empty replacement deletes the target.
    check(
        &[&[
            ("source_labels", "a"),
            ("target_label", "b"),
            ("replacement", ""),
        ]],
        &input,
        r#"{a="foo"}"#,
    );
    // `.` matches newlines.
    check(
        &[&[
            ("source_labels", "a"),
            ("regex", "one.*two"),
            ("target_label", "b"),
            ("replacement", "matched$1"),
        ]],
        &[("a", "one\nthen two")],
        r#"{a="one\nthen two", b="matched"}"#,
    );
    // Rules see what earlier rules wrote.
    check(
        &[
            &[
                ("source_labels", "a"),
                ("regex", "f(.*)"),
                ("target_label", "c"),
                ("replacement", "x${1}"),
            ],
            &[
                ("source_labels", "c,b"),
                ("regex", "(.*);b(.*)"),
                ("target_label", "d"),
                ("replacement", "$1-$2"),
            ],
        ],
        &input,
        r#"{a="foo", b="bar", c="xoo", d="xoo-ar"}"#,
    );
}

#[test]
fn replace_expansion() {
    let tag = |value| [("tag", value)];
    let from_tag = |target, replacement| {
        [
            ("source_labels", "tag"),
            ("regex", "([^=]*)=(.*)"),
            ("target_label", target),
            ("replacement", replacement),
        ]
    };
    // The target label itself may be expanded.
    check(
        &[&from_tag("$1", "$2")],
        &tag("env=prod"),
        r#"{env="prod", tag="env=prod"}"#,
    );
    check(
        &[&from_tag("k_${1}", "${2}")],
        &tag("env=prod"),
        r#"{k_env="prod", tag="env=prod"}"#,
    );
    // A target that expands to an invalid name skips the rule.
    for value in ["1env=prod", "=prod", "a-b=prod"] {
        check(
            &[&from_tag("$1", "$2")],
            &tag(value),
            &format!("{{tag={value:?}}}"),
        );
    }
    // A reference to a group that does not exist is "": here it deletes the target.
    check(&[&from_tag("tag", "${3}")], &tag("env=prod"), r#"{}"#);
    // `$1x` names the group "1x" (absent, so ""), as in Go; `${1}x` is group 1 and x.
    let one_group = |replacement| {
        [
            ("source_labels", "a"),
            ("regex", "(f)oo"),
            ("target_label", "b"),
            ("replacement", replacement),
        ]
    };
    check(&[&one_group("$1x")], &[("a", "foo")], r#"{a="foo"}"#);
    check(
        &[&one_group("${1}x")],
        &[("a", "foo")],
        r#"{a="foo", b="fx"}"#,
    );
    check(
        &[&one_group("$$1")],
        &[("a", "foo")],
        r#"{a="foo", b="$1"}"#,
    );
    check(
        &[&one_group("$0!")],
        &[("a", "foo")],
        r#"{a="foo", b="foo!"}"#,
    );
    // Named groups, with and without braces.
    check(
        &[&[
            ("source_labels", "email"),
            ("regex", "(?P<user>[^@]+)@(?<domain>.+)"),
            ("target_label", "who"),
            ("replacement", "$domain/${user}"),
        ]],
        &[("email", "alice@example.org")],
        r#"{email="alice@example.org", who="example.org/alice"}"#,
    );
}

#[test]
fn replace_metric_name() {
    check(
        &[&[
            ("source_labels", "__name__"),
            ("regex", "(.*)_total"),
            ("target_label", "__name__"),
            ("replacement", "${1}_count"),
        ]],
        &[("__name__", "requests_total"), ("job", "api")],
        r#"requests_count{job="api"}"#,
    );
    // FIXME(semantics): Prometheus would keep relabeling and later refuse the sample
    // under legacy names (accept it under UTF-8 names); `Labels` cannot hold an
    // invalid metric name, so the series is dropped.
    check(
        &[&[("source_labels", "job"), ("target_label", "__name__")]],
        &[("__name__", "up"), ("job", "my-job")],
        "dropped",
    );
}

#[test]
fn keep_and_drop() {
    let input = [("a", "foo"), ("b", "bar")];
    let keep = |sources, regex| {
        [
            ("action", "keep"),
            ("source_labels", sources),
            ("regex", regex),
        ]
    };
    let drop = |sources, regex| {
        [
            ("action", "drop"),
            ("source_labels", sources),
            ("regex", regex),
        ]
    };
    let unchanged = r#"{a="foo", b="bar"}"#;
    check(&[&keep("a", "f.*")], &input, unchanged);
    check(&[&keep("a", "no-match")], &input, "dropped");
    // Anchored: "f|o" does not match "foo", which it only contains.
    check(&[&keep("a", "f|o")], &input, "dropped");
    check(&[&drop("a", "f|o")], &input, unchanged);
    check(&[&drop("a", ".*o.*")], &input, "dropped");
    check(&[&drop("a,b", "foo;bar")], &input, "dropped");
    // A missing label reads as "".
    check(&[&keep("absent", "")], &input, unchanged);
    check(&[&keep("absent", ".+")], &input, "dropped");
    check(&[&drop("absent", "")], &input, "dropped");
    // A drop ends processing, whatever later rules would add.
    check(
        &[
            &drop("a", "foo"),
            &[("target_label", "c"), ("replacement", "x")],
        ],
        &input,
        "dropped",
    );
    // Action names are case-insensitive, as Prometheus lower-cases them.
    check(
        &[&[("action", "KEEP"), ("source_labels", "a"), ("regex", "bar")]],
        &input,
        "dropped",
    );
}

#[test]
fn keepequal_and_dropequal() {
    let input = [("port", "9100"), ("port_a", "9100"), ("port_b", "8080")];
    let unchanged = r#"{port="9100", port_a="9100", port_b="8080"}"#;
    let rule = |action, target| {
        [
            ("action", action),
            ("source_labels", "port"),
            ("target_label", target),
        ]
    };
    check(&[&rule("keepequal", "port_a")], &input, unchanged);
    check(&[&rule("keepequal", "port_b")], &input, "dropped");
    check(&[&rule("dropequal", "port_a")], &input, "dropped");
    check(&[&rule("dropequal", "port_b")], &input, unchanged);
    // Missing on both sides is "" == "".
    let missing = |action| {
        [
            ("action", action),
            ("source_labels", "absent"),
            ("target_label", "gone"),
        ]
    };
    check(&[&missing("keepequal")], &input, unchanged);
    check(&[&missing("dropequal")], &input, "dropped");
    // The joined value is compared; the defaults may be written out.
    check(
        &[&[
            ("action", "keepequal"),
            ("source_labels", "a,b"),
            ("target_label", "c"),
            ("separator", ";"),
            ("regex", "(.*)"),
            ("replacement", "$1"),
        ]],
        &[("a", "1"), ("b", "2"), ("c", "1;2")],
        r#"{a="1", b="2", c="1;2"}"#,
    );
}

#[test]
fn hashmod() {
    let rule = |sources, modulus| {
        [
            ("action", "hashmod"),
            ("source_labels", sources),
            ("modulus", modulus),
            ("target_label", "shard"),
        ]
    };
    // 976 and 734 are also what Prometheus' tests expect for these values.
    check(
        &[&rule("c", "1000")],
        &[("c", "baz")],
        r#"{c="baz", shard="976"}"#,
    );
    check(
        &[&rule("a", "1000")],
        &[("a", "foo\nbar")],
        r#"{a="foo\nbar", shard="734"}"#,
    );
    // MD5 of "" and of the joined "a;b".
    check(
        &[&rule("absent", "1000")],
        &[("x", "1")],
        r#"{shard="958", x="1"}"#,
    );
    check(
        &[&rule("x,y", "1000")],
        &[("x", "a"), ("y", "b")],
        r#"{shard="74", x="a", y="b"}"#,
    );
    check(
        &[&rule("__address__", "4")],
        &[("__address__", "10.0.0.1:9100")],
        r#"{__address__="10.0.0.1:9100", shard="1"}"#,
    );
    // Overwrites, and a modulus of 1 gives "0", which is a value, not a deletion.
    check(
        &[&rule("x", "1")],
        &[("shard", "old"), ("x", "a")],
        r#"{shard="0", x="a"}"#,
    );
    // The usual sharding pair: hash, then keep one shard.
    check(
        &[
            &[
                ("action", "hashmod"),
                ("source_labels", "host,port"),
                ("separator", "/"),
                ("modulus", "7"),
                ("target_label", "__tmp_hash"),
            ],
            &[
                ("action", "keep"),
                ("source_labels", "__tmp_hash"),
                ("regex", "3"),
            ],
            &[("action", "labeldrop"), ("regex", "__tmp_hash")],
        ],
        &[("host", "node-a"), ("port", "9100")],
        r#"{host="node-a", port="9100"}"#,
    );
}

#[test]
fn labelmap() {
    let input = [
        ("__meta_env", "prod"),
        ("__meta_zone", "eu-1"),
        ("job", "api"),
    ];
    check(
        &[&[("action", "labelmap"), ("regex", "__meta_(.+)")]],
        &input,
        r#"{__meta_env="prod", __meta_zone="eu-1", env="prod", job="api", zone="eu-1"}"#,
    );
    check(
        &[&[
            ("action", "labelmap"),
            ("regex", "__meta_(e.*)"),
            ("replacement", "k8s_${1}"),
        ]],
        &input,
        r#"{__meta_env="prod", __meta_zone="eu-1", job="api", k8s_env="prod"}"#,
    );
    // Anchored: "meta" is not part of a name.
    check(
        &[&[("action", "labelmap"), ("regex", "meta")]],
        &input,
        r#"{__meta_env="prod", __meta_zone="eu-1", job="api"}"#,
    );
    // Overwrites an existing label; a name that expands invalid is skipped.
    check(
        &[&[("action", "labelmap"), ("regex", "__meta_(.+)")]],
        &[("__meta_1x", "a"), ("__meta_job", "b"), ("job", "old")],
        r#"{__meta_1x="a", __meta_job="b", job="b"}"#,
    );
    // One pass over the labels as they were: "aa" is not mapped again to "aaa" with
    // the value it was just given, but with its own.
    check(
        &[&[
            ("action", "labelmap"),
            ("regex", "(a+)"),
            ("replacement", "${1}a"),
        ]],
        &[("a", "1"), ("aa", "2")],
        r#"{a="1", aa="1", aaa="2"}"#,
    );
    // Prometheus ignores source_labels and target_label here rather than refusing them.
    check(
        &[&[
            ("action", "LabelMap"),
            ("source_labels", "job"),
            ("target_label", "x"),
            ("regex", "job"),
            ("replacement", "service"),
        ]],
        &[("job", "api")],
        r#"{job="api", service="api"}"#,
    );
}

#[test]
fn labeldrop_and_labelkeep() {
    let input = [
        ("__meta_env", "prod"),
        ("__name__", "up"),
        ("b", "x"),
        ("b1", "y"),
        ("job", "api"),
    ];
    check(
        &[&[("action", "labeldrop"), ("regex", "__meta_.*")]],
        &input,
        r#"up{b="x", b1="y", job="api"}"#,
    );
    // Anchored: "b" drops "b" and not "b1".
    check(
        &[&[("action", "labeldrop"), ("regex", "b")]],
        &input,
        r#"up{__meta_env="prod", b1="y", job="api"}"#,
    );
    check(
        &[&[("action", "labelkeep"), ("regex", "__name__|job")]],
        &input,
        r#"up{job="api"}"#,
    );
    check(
        &[&[("action", "labelkeep"), ("regex", "b.*")]],
        &input,
        r#"{b="x", b1="y"}"#,
    );
    // Dropping every label leaves an empty set, not a dropped one.
    check(&[&[("action", "labelkeep"), ("regex", "")]], &input, "{}");
    // The defaults may be written out.
    check(
        &[&[
            ("action", "labeldrop"),
            ("regex", "b1"),
            ("separator", ";"),
            ("replacement", "$1"),
        ]],
        &[("b", "x"), ("b1", "y")],
        r#"{b="x"}"#,
    );
}

#[test]
fn lowercase_and_uppercase() {
    let case = |action, target| {
        [
            ("action", action),
            ("source_labels", "foo"),
            ("target_label", target),
        ]
    };
    check(
        &[&case("uppercase", "upper"), &case("lowercase", "lower")],
        &[("foo", "MiXeD-Case_9")],
        r#"{foo="MiXeD-Case_9", lower="mixed-case_9", upper="MIXED-CASE_9"}"#,
    );
    check(
        &[&[
            ("action", "lowercase"),
            ("source_labels", "a,b"),
            ("separator", "-"),
            ("target_label", "c"),
        ]],
        &[("a", "X"), ("b", "Y")],
        r#"{a="X", b="Y", c="x-y"}"#,
    );
    // A missing source gives "", which deletes the target.
    check(&[&case("lowercase", "t")], &[("t", "x")], "{}");
    // Go's per-rune simple case mapping: no final sigma, "ß" stays, "İ" becomes "i".
    check(
        &[&case("lowercase", "t")],
        &[("foo", "ΟΔΟΣ İ Ä")],
        r#"{foo="ΟΔΟΣ İ Ä", t="οδοσ i ä"}"#,
    );
    check(
        &[&case("uppercase", "t")],
        &[("foo", "straße é")],
        r#"{foo="straße é", t="STRAßE É"}"#,
    );
}

#[test]
fn no_rules_is_identity() {
    check(&[], &[("__name__", "up"), ("a", "1")], r#"up{a="1"}"#);
    check(&[], &[], "{}");
}

#[test]
fn actions_round_trip() {
    for action in Action::ALL {
        assert_eq!(Action::parse(action.name()), Some(action));
        assert_eq!(Action::parse(&action.name().to_uppercase()), Some(action));
    }
    assert_eq!(Action::parse("replace "), None);
}

#[test]
fn label_name_templates() {
    // Prometheus' relabelTargetLegacy cases, through a replace rule's target_label.
    for (target, valid) in [
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("$1", true),
        ("asd$2asd", true),
        ("_${1}_", true),
        ("foo${bar}foo", true),
        ("$name_1", true),
        ("-label", false),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("${a", false),
        ("$-", false),
        ("-foo${1}bar-", false),
        ("bar.foo${1}bar", false),
        ("0${1}", false),
    ] {
        let result = RelabelRule::new(spec(&[("target_label", target)]));
        assert_eq!(result.is_ok(), valid, "target_label {target:?}: {result:?}");
    }
}

#[test]
fn validation_errors() {
    let actions = "replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase";
    check_error(
        &[("action", "relabel")],
        &format!("unknown relabel action \"relabel\": valid actions are {actions}"),
    );
    check_error(
        &[("action", "")],
        &format!("unknown relabel action \"\": valid actions are {actions}"),
    );
    let name_rule = "label names are letters, digits and underscores, not starting with a digit";
    check_error(
        &[("source_labels", "a,b-c"), ("target_label", "d")],
        &format!("invalid 'source_labels' entry \"b-c\": {name_rule}"),
    );
    check_error(
        &[("source_labels", "a,"), ("target_label", "d")],
        &format!("invalid 'source_labels' entry \"\": {name_rule}"),
    );
    check_error(
        &[("regex", "(a"), ("target_label", "d")],
        "invalid 'regex' \"(a\": unclosed group",
    );
    check_error(
        &[("action", "keep"), ("regex", "a{2,1}")],
        "invalid 'regex' \"a{2,1}\": invalid repetition count range, the start must be <= the end",
    );
    let zero_modulus = "missing or zero 'modulus' for hashmod action: it must be greater than 0";
    check_error(
        &[("action", "hashmod"), ("target_label", "t")],
        zero_modulus,
    );
    check_error(
        &[
            ("action", "hashmod"),
            ("target_label", "t"),
            ("modulus", "0"),
        ],
        zero_modulus,
    );
    for action in [
        "replace",
        "lowercase",
        "uppercase",
        "keepequal",
        "dropequal",
    ] {
        check_error(
            &[("action", action), ("source_labels", "a")],
            &format!("missing 'target_label' for {action} action"),
        );
    }
    check_error(
        &[("action", "hashmod"), ("modulus", "2")],
        "missing 'target_label' for hashmod action",
    );
    let template_rule = "it must expand to a label name (letters, digits, underscores and $1, ${1} or ${name} references, not starting with a digit)";
    for target in ["a-b", "-${1}", "${", "0${1}"] {
        check_error(
            &[("target_label", target)],
            &format!("invalid 'target_label' {target:?} for replace action: {template_rule}"),
        );
    }
    for action in ["lowercase", "uppercase", "keepequal", "dropequal"] {
        check_error(
            &[("action", action), ("target_label", "${1}")],
            &format!("invalid 'target_label' \"${{1}}\" for {action} action: {name_rule}"),
        );
        check_error(
            &[
                ("action", action),
                ("target_label", "t"),
                ("replacement", "x"),
            ],
            &format!("unexpected 'replacement' \"x\" for {action} action: it takes no replacement"),
        );
    }
    check_error(
        &[
            ("action", "hashmod"),
            ("modulus", "2"),
            ("target_label", "1x"),
        ],
        &format!("invalid 'target_label' \"1x\" for hashmod action: {name_rule}"),
    );
    for replacement in ["-$1", "", "${", "a.b"] {
        check_error(
            &[("action", "labelmap"), ("replacement", replacement)],
            &format!("invalid 'replacement' {replacement:?} for labelmap action: {template_rule}"),
        );
    }
    let equal_fields = "it takes only 'source_labels' and 'target_label'";
    for action in ["keepequal", "dropequal"] {
        let base = [("action", action), ("target_label", "t")];
        for (field, value, shown) in [
            ("regex", "a", "\"a\""),
            ("modulus", "3", "3"),
            ("separator", "/", "\"/\""),
        ] {
            let mut fields = base.to_vec();
            fields.push((field, value));
            check_error(
                &fields,
                &format!("unexpected '{field}' {shown} for {action} action: {equal_fields}"),
            );
        }
    }
    for action in ["labeldrop", "labelkeep"] {
        for (field, value, shown) in [
            ("source_labels", "a", "[\"a\"]"),
            ("target_label", "t", "\"t\""),
            ("modulus", "3", "3"),
            ("separator", "", "\"\""),
            ("replacement", "x", "\"x\""),
        ] {
            check_error(
                &[("action", action), ("regex", "b"), (field, value)],
                &format!("unexpected '{field}' {shown} for {action} action: it takes only 'regex'"),
            );
        }
    }
}

#[test]
fn fields_prometheus_ignores_are_accepted() {
    for fields in [
        // A modulus, or a target for keep/drop, is simply unused.
        &[("target_label", "t"), ("modulus", "5")][..],
        &[
            ("action", "keep"),
            ("target_label", "t"),
            ("replacement", "x"),
        ][..],
        &[
            ("action", "lowercase"),
            ("target_label", "t"),
            ("regex", "x"),
        ][..],
        &[
            ("action", "hashmod"),
            ("target_label", "t"),
            ("modulus", "2"),
            ("replacement", "x"),
        ][..],
    ] {
        let result = RelabelRule::new(spec(fields));
        assert!(result.is_ok(), "{fields:?}: {result:?}");
    }
}
