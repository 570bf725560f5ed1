use super::*;

/// Series as `name{labels} value` lines, sorted, for whole-output comparisons.
fn render(points: &[Point]) -> Vec<String> {
    let mut lines: Vec<String> = points
        .iter()
        .map(|point| {
            let labels: Vec<String> = point
                .labels
                .iter()
                .map(|(name, value)| format!("{name}={value:?}"))
                .collect();
            format!("{}{{{}}} {}", point.name, labels.join(","), point.value)
        })
        .collect();
    lines.sort();
    lines
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// A sysfs-like tree: `devices/` holds the chips, `class/hwmon/hwmonN` link to them.
fn fake_sysfs() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let sys = root.path();
    // A coretemp chip: its sensor files sit in the hwmon directory, `device` points
    // at the platform device.
    let coretemp = sys.join("devices/platform/coretemp.0/hwmon/hwmon0");
    write(&coretemp.join("name"), "coretemp\n");
    write(&coretemp.join("temp1_input"), "45000\n");
    write(&coretemp.join("temp1_label"), "Package id 0\n");
    write(&coretemp.join("temp1_max"), "80000\n");
    write(&coretemp.join("temp1_crit"), "100000\n");
    write(&coretemp.join("temp1_crit_alarm"), "0\n");
    write(&coretemp.join("temp2_input"), "43500\n");
    write(&coretemp.join("temp2_label"), "Core 0\n");
    write(&coretemp.join("uevent"), "\n");
    std::os::unix::fs::symlink("../../../coretemp.0", coretemp.join("device")).expect("symlink");
    // An ACPI zone without a device: named by its `name` file; old-style sensors live
    // in `device/` on some drivers, here the chip directory holds a fan and a voltage.
    let acpi = sys.join("devices/virtual/hwmon/hwmon1");
    write(&acpi.join("name"), "acpitz\n");
    write(&acpi.join("temp1_input"), "27800\n");
    write(&acpi.join("temp1_type"), "4\n");
    write(&acpi.join("fan1_input"), "1200\n");
    write(&acpi.join("in0_input"), "1250\n");
    write(&acpi.join("power1_average"), "12500000\n");
    write(&acpi.join("beep_enable"), "1\n");
    write(&acpi.join("temp2_input"), "not a number\n");
    let class = sys.join("class/hwmon");
    std::fs::create_dir_all(&class).expect("mkdir");
    std::os::unix::fs::symlink(
        "../../devices/platform/coretemp.0/hwmon/hwmon0",
        class.join("hwmon0"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink("../../devices/virtual/hwmon/hwmon1", class.join("hwmon1"))
        .expect("symlink");
    // A stray file is not a chip.
    write(&class.join("README"), "x\n");
    root
}

#[test]
fn a_fake_sysfs_tree() {
    let root = fake_sysfs();
    let points = collect_from(&root.path().join("class/hwmon")).expect("collects");
    assert_eq!(
        render(&points),
        vec![
            r#"node_hwmon_beep_enabled{chip="acpitz",sensor="beep_enable0"} 1"#,
            r#"node_hwmon_chip_names{chip="acpitz",chip_name="acpitz"} 1"#,
            r#"node_hwmon_chip_names{chip="platform_coretemp_0",chip_name="coretemp"} 1"#,
            r#"node_hwmon_fan_rpm{chip="acpitz",sensor="fan1"} 1200"#,
            r#"node_hwmon_in_volts{chip="acpitz",sensor="in0"} 1.25"#,
            r#"node_hwmon_power_average_watt{chip="acpitz",sensor="power1"} 12.5"#,
            r#"node_hwmon_sensor_label{chip="platform_coretemp_0",label="Core 0",sensor="temp2"} 1"#,
            r#"node_hwmon_sensor_label{chip="platform_coretemp_0",label="Package id 0",sensor="temp1"} 1"#,
            r#"node_hwmon_temp_celsius{chip="acpitz",sensor="temp1"} 27.8"#,
            r#"node_hwmon_temp_celsius{chip="platform_coretemp_0",sensor="temp1"} 45"#,
            r#"node_hwmon_temp_celsius{chip="platform_coretemp_0",sensor="temp2"} 43.5"#,
            r#"node_hwmon_temp_crit_alarm_celsius{chip="platform_coretemp_0",sensor="temp1"} 0"#,
            r#"node_hwmon_temp_crit_celsius{chip="platform_coretemp_0",sensor="temp1"} 100"#,
            r#"node_hwmon_temp_max_celsius{chip="platform_coretemp_0",sensor="temp1"} 80"#,
            r#"node_hwmon_temp_type{chip="acpitz",sensor="temp1"} 4"#,
        ]
    );
}

#[test]
fn no_hwmon_directory_is_no_series() {
    let root = tempfile::tempdir().expect("tempdir");
    let points = collect_from(&root.path().join("class/hwmon")).expect("no error");
    assert!(points.is_empty());
}

#[test]
fn file_names_split_like_node_exporter() {
    let pattern = compile(FILE_NAME_PATTERN).expect("compiles");
    let check = |file_name: &str, expect: Option<(&str, u64, &str)>| {
        let got = split_file_name(file_name, &pattern);
        let got = got
            .as_ref()
            .map(|(kind, number, property)| (kind.as_str(), *number, property.as_str()));
        assert_eq!(got, expect, "{file_name}");
    };
    check("temp1_input", Some(("temp", 1, "input")));
    check("temp1_crit_alarm", Some(("temp", 1, "crit_alarm")));
    check("in0_input", Some(("in", 0, "input")));
    check("beep_enable", Some(("beep_enable", 0, "")));
    check("update_interval", Some(("update_interval", 0, "")));
    check("temp12", Some(("temp", 12, "")));
    check(
        "power1_average_interval",
        Some(("power", 1, "average_interval")),
    );
    check("temp1x", None);
    check("1temp", None);
}

#[test]
fn units_and_special_elements() {
    let check = |sensor_type: &str, element: &str, value: f64, expect: (&str, f64)| {
        let (name, scaled) = with_unit(
            format!("node_hwmon_{sensor_type}_x"),
            sensor_type,
            element,
            value,
        );
        assert_eq!((name.as_str(), scaled), expect, "{sensor_type} {element}");
    };
    check("temp", "max", 80000.0, ("node_hwmon_temp_x_celsius", 80.0));
    check("temp", "fault", 1.0, ("node_hwmon_temp_x", 1.0));
    check("fan", "beep", 1.0, ("node_hwmon_fan_x_enabled", 1.0));
    check("fan", "div", 2.0, ("node_hwmon_fan_x", 2.0));
    check("curr", "input", 1500.0, ("node_hwmon_curr_x_amps", 1.5));
    check(
        "energy",
        "input",
        3_000_000.0,
        ("node_hwmon_energy_x_joule_total", 3.0),
    );
    check("power", "accuracy", 500_000.0, ("node_hwmon_power_x", 0.5));
    check(
        "power",
        "average_interval",
        1000.0,
        ("node_hwmon_power_x_seconds", 1.0),
    );
    check(
        "humidity",
        "input",
        450_000.0,
        ("node_hwmon_humidity_x", 0.45),
    );
    check("pwm", "enable", 2.0, ("node_hwmon_pwm_x", 2.0));
}

#[test]
fn a_bare_value_and_an_input_stay_apart() {
    let elements: BTreeMap<String, String> = [("", "41000"), ("input", "42000")]
        .into_iter()
        .map(|(element, text)| (element.to_string(), text.to_string()))
        .collect();
    assert_eq!(
        render(&sensor_points("chip", "temp1", "temp", &elements)),
        vec![
            r#"node_hwmon_temp_celsius{chip="chip",sensor="temp1"} 41"#,
            r#"node_hwmon_temp_input_celsius{chip="chip",sensor="temp1"} 42"#,
        ]
    );
}

#[test]
fn names_are_cleaned_like_node_exporter() {
    assert_eq!(clean_name("coretemp\n"), "coretemp");
    assert_eq!(clean_name("Package id 0"), "package_id_0");
    assert_eq!(clean_name("coretemp.0"), "coretemp_0");
    assert_eq!(clean_name("__x:y__"), "x:y");
}

#[test]
fn this_host_does_not_fail() {
    let options = HostOptions::node_exporter_defaults().expect("defaults");
    collect(&options).expect("hwmon");
}
