//! Family `vmstat`: the /proc/vmstat fields `[collect.host.vmstat] fields_include`
//! selects (default: node_exporter's `^(oom_kill|pgpg|pswp|pg.*fault).*`), each as
//! `node_vmstat_<field>`.
//! Owns: the field filter. Does not: type the series (node_exporter exports them
//! untyped; most are counters without a `_total` suffix, kept for dashboards).

use super::{HostError, HostOptions, Point};

pub(super) fn collect(options: &HostOptions) -> Result<Vec<Point>, HostError> {
    let fields = procfs::vmstat()?;
    let mut names: Vec<&String> = fields
        .keys()
        .filter(|field| options.vmstat_fields_include.is_match(field))
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .filter_map(|field| {
            let value = *fields.get(field)?;
            Some(Point::new(format!("node_vmstat_{field}"), value as f64))
        })
        .collect())
}
