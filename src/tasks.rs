//! A set of Tokio tasks keyed by name, each started from its config: what the peer
//! service and the remote_write sender keep in step with reloads.
//! Owns: the running tasks and the config each was started with.

use std::collections::HashMap;

pub struct KeyedTasks<C> {
    running: HashMap<String, (C, tokio::task::JoinHandle<()>)>,
}

impl<C> Default for KeyedTasks<C> {
    fn default() -> KeyedTasks<C> {
        KeyedTasks {
            running: HashMap::new(),
        }
    }
}

impl<C: Clone + PartialEq> KeyedTasks<C> {
    /// Makes the running set `wanted` (name, config): aborts the tasks whose name is
    /// gone and returns those names, sorted; starts (with `start`, in `wanted`'s
    /// order) the tasks that are new or whose config changed, aborting the old one
    /// first; leaves the others running.
    pub fn reconcile<'a>(
        &mut self,
        wanted: impl IntoIterator<Item = (&'a str, &'a C)>,
        mut start: impl FnMut(&str, &C) -> tokio::task::JoinHandle<()>,
    ) -> Vec<String>
    where
        C: 'a,
    {
        // In the given (config) order, so tasks start in a predictable order.
        let wanted: Vec<(&str, &C)> = wanted.into_iter().collect();
        let names: std::collections::HashSet<&str> = wanted.iter().map(|(name, _)| *name).collect();
        let mut removed: Vec<String> = self
            .running
            .keys()
            .filter(|name| !names.contains(name.as_str()))
            .cloned()
            .collect();
        removed.sort();
        for name in &removed {
            if let Some((_, task)) = self.running.remove(name) {
                task.abort();
            }
        }
        for (name, config) in wanted {
            if self
                .running
                .get(name)
                .is_some_and(|(running, _)| running == config)
            {
                continue;
            }
            if let Some((_, task)) = self.running.remove(name) {
                task.abort();
            }
            let task = start(name, config);
            self.running
                .insert(name.to_string(), (config.clone(), task));
        }
        removed
    }

    /// Aborts every task.
    pub fn abort_all(&mut self) {
        for (_, (_, task)) in self.running.drain() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_new_and_changed_configs_start_and_removed_ones_stop() {
        let mut tasks = KeyedTasks::default();
        let mut started = Vec::new();
        let mut start = |name: &str, config: &u32| {
            started.push((name.to_string(), *config));
            tokio::spawn(std::future::pending())
        };
        let (a, b) = (1, 2);
        assert!(
            tasks
                .reconcile([("a", &a), ("b", &b)], &mut start)
                .is_empty()
        );
        let (a2, c) = (1, 3);
        let b2 = 20;
        let removed = tasks.reconcile([("a", &a2), ("b", &b2), ("c", &c)], &mut start);
        assert!(removed.is_empty());
        assert_eq!(tasks.reconcile([("c", &c)], &mut start), ["a", "b"]);
        tasks.abort_all();
        assert_eq!(
            started,
            [
                ("a".to_string(), 1),
                ("b".to_string(), 2),
                ("b".to_string(), 20),
                ("c".to_string(), 3)
            ]
        );
    }
}
