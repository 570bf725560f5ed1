//! `dashboards/*.toml`: dashboards as written and as validated (STUB: the dashboard
//! owner fills this in).

use super::validate::Checker;

/// One dashboard after validation.
#[derive(Clone, Debug, PartialEq)]
pub struct DashboardConfig {
    /// The file name without `.toml`: the dashboard's URL name (`/dashboards/<name>`).
    pub name: String,
    pub title: String,
}

impl Checker<'_> {
    /// Validates one `dashboards/*.toml` file (the checker's source).
    pub(super) fn dashboard_file(&mut self) -> Option<DashboardConfig> {
        let source = self.source()?;
        if let Err(found) = super::file::parse(source) {
            self.extend(found);
            return None;
        }
        None
    }
}
