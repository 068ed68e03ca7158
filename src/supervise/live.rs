//! Hints while the server runs: the stderr watcher is asked, after each line the server
//! writes, what to say now. It needs the plan to judge a refusal, and the plan is the
//! launch's until the server has started; the launch hands a shared copy over then.

use std::sync::{Arc, OnceLock};

use super::StderrWatch;
use crate::plan::Plan;

/// A watcher, and the plan once the launch has handed it over.
pub(super) struct Live {
    pub inner: Box<dyn StderrWatch>,
    pub plan: Arc<OnceLock<Arc<Plan>>>,
}

impl StderrWatch for Live {
    fn line(&mut self, line: &str) {
        self.inner.line(line);
        // Lines before the hand-over are judged at the first line after it (or at exit).
        if let Some(plan) = self.plan.get() {
            for h in self.inner.live(plan) {
                eprintln!("mcpcell: hint: {h}");
            }
        }
    }

    fn live(&mut self, plan: &Plan) -> Vec<String> {
        self.inner.live(plan)
    }

    fn report(&self, plan: &Plan, code: i32) -> Vec<String> {
        self.inner.report(plan, code)
    }
}
