//! The routing tree: which routes (and so which receivers and group settings) an
//! alert belongs to, and the labels of its group there.
//! Owns: matching as Alertmanager does (depth first; the deepest matching routes win;
//! `continue` goes on to the next sibling), route identities and group keys.
//! Does not: hold alerts or time (`dispatch.rs`).

use super::matcher::{AlertMatcher, format_list, matches_all};
use crate::config::alerting::{GroupBy, RouteConfig};
use crate::model::{Label, Labels};
use std::time::Duration;

/// One route, its inherited values filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// Unique in the tree: Alertmanager's route ID (matchers of each route on the
    /// path, each with its place among its siblings). Groups keep their state across
    /// a reload when their route's ID stays.
    pub id: String,
    /// Alertmanager's route key (the path's matchers without places): the part of
    /// the group key before the colon.
    pub key: String,
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    matchers: Vec<AlertMatcher>,
    continue_matching: bool,
    /// Indexes into `RouteTree::routes`.
    children: Vec<usize>,
}

/// The tree flattened in pre-order; index 0 is the root.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteTree {
    routes: Vec<Route>,
}

impl RouteTree {
    pub fn new(root: &RouteConfig) -> RouteTree {
        let mut tree = RouteTree { routes: Vec::new() };
        tree.add(root, None);
        assert!(
            !tree.routes.is_empty(),
            "BUG: a route tree without its root"
        );
        tree
    }

    fn add(&mut self, config: &RouteConfig, parent: Option<(usize, usize)>) -> usize {
        let matchers_text = format_list(&config.matchers);
        let (id, key) = match parent {
            None => (matchers_text.clone(), matchers_text),
            Some((parent, place)) => (
                format!("{}/{matchers_text}/{place}", self.routes[parent].id),
                format!("{}/{matchers_text}", self.routes[parent].key),
            ),
        };
        let index = self.routes.len();
        self.routes.push(Route {
            id,
            key,
            receiver: config.receiver.clone(),
            group_by: config.group_by.clone(),
            group_wait: config.group_wait,
            group_interval: config.group_interval,
            repeat_interval: config.repeat_interval,
            matchers: config.matchers.clone(),
            continue_matching: config.continue_matching,
            children: Vec::new(),
        });
        for (place, child) in config.routes.iter().enumerate() {
            let child_index = self.add(child, Some((index, place)));
            self.routes[index].children.push(child_index);
        }
        index
    }

    pub fn route(&self, index: usize) -> &Route {
        &self.routes[index]
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The routes an alert with `labels` goes to, in tree order; never empty (the
    /// root takes what no child does).
    pub fn matching(&self, labels: &Labels) -> Vec<usize> {
        let mut found = Vec::new();
        self.match_from(0, labels, &mut found);
        debug_assert!(!found.is_empty(), "BUG: the root route matched nothing");
        found
    }

    fn match_from(&self, index: usize, labels: &Labels, found: &mut Vec<usize>) -> bool {
        let route = &self.routes[index];
        if !matches_all(&route.matchers, labels) {
            return false;
        }
        let before = found.len();
        for &child in &route.children {
            let matched = self.match_from(child, labels, found);
            if matched && !self.routes[child].continue_matching {
                break;
            }
        }
        if found.len() == before {
            found.push(index);
        }
        true
    }

    /// The labels of the group an alert with `labels` joins on route `index`.
    pub fn group_labels(&self, index: usize, labels: &Labels) -> Labels {
        match &self.routes[index].group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => Labels::from_sorted_unchecked(
                names
                    .iter()
                    .filter_map(|name| {
                        labels.get(name).map(|value| Label {
                            name: name.clone(),
                            value: value.to_string(),
                        })
                    })
                    .collect(),
            ),
        }
    }
}

/// Alertmanager's group key: `<route key>:<group labels>`, e.g.
/// `{}/{severity="page"}:{alertname="Disk", instance="db-1"}`.
pub fn group_key(route_key: &str, group_labels: &Labels) -> String {
    format!("{route_key}:{}", format_labels(group_labels))
}

/// `{a="1", b="2"}` as Prometheus' `model.LabelSet.String()` prints it.
pub fn format_labels(labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|label| format!("{}={:?}", label.name, label.value))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::alert::notify::matcher::parse_matchers;

    /// A route to `receiver`, grouped by alertname, Alertmanager's intervals, no wait.
    pub(crate) fn route(receiver: &str, matchers: &str, routes: Vec<RouteConfig>) -> RouteConfig {
        RouteConfig {
            receiver: receiver.into(),
            group_by: GroupBy::Labels(vec!["alertname".into()]),
            group_wait: Duration::ZERO,
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            matchers: if matchers.is_empty() {
                Vec::new()
            } else {
                parse_matchers(matchers).expect("matchers parse")
            },
            continue_matching: false,
            routes,
        }
    }

    fn receivers(tree: &RouteTree, pairs: &[(&str, &str)]) -> Vec<String> {
        let labels = Labels::new(pairs.iter().copied()).expect("labels");
        tree.matching(&labels)
            .into_iter()
            .map(|index| tree.route(index).receiver.clone())
            .collect()
    }

    #[test]
    fn deepest_first_match_wins_and_continue_goes_on() {
        let mut db = route(
            "db",
            r#"team="db""#,
            vec![route("db-pager", r#"severity="page""#, vec![])],
        );
        db.continue_matching = true;
        let root = route(
            "default",
            "",
            vec![
                db,
                route("pager", r#"severity="page""#, vec![]),
                route("never", "", vec![]),
            ],
        );
        let tree = RouteTree::new(&root);
        assert_eq!(receivers(&tree, &[("alertname", "A")]), ["never"]);
        assert_eq!(
            receivers(&tree, &[("team", "db"), ("severity", "page")]),
            ["db-pager", "pager"]
        );
        assert_eq!(receivers(&tree, &[("team", "db")]), ["db", "never"]);
        assert_eq!(receivers(&tree, &[("severity", "page")]), ["pager"]);
        assert_eq!(tree.route(1).key, r#"{}/{team="db"}"#);
        assert_eq!(tree.route(2).id, r#"{}/{team="db"}/0/{severity="page"}/0"#);
    }

    #[test]
    fn root_takes_what_no_child_does() {
        let tree = RouteTree::new(&route("default", "", vec![route("x", "a=b", vec![])]));
        assert_eq!(receivers(&tree, &[("a", "c")]), ["default"]);
    }

    #[test]
    fn group_labels_and_key() {
        let mut config = route("default", "", vec![]);
        config.group_by = GroupBy::Labels(vec!["alertname".into(), "instance".into()]);
        let tree = RouteTree::new(&config);
        let labels =
            Labels::new([("alertname", "Disk"), ("instance", "db-1"), ("x", "y")]).expect("labels");
        let group = tree.group_labels(0, &labels);
        assert_eq!(
            group_key(&tree.route(0).key, &group),
            r#"{}:{alertname="Disk", instance="db-1"}"#
        );
        config.group_by = GroupBy::All;
        assert_eq!(RouteTree::new(&config).group_labels(0, &labels), labels);
    }
}
