//! Hints while the server runs: the stderr watcher is asked, after each line the server
//! writes, what to say now. It needs the plan to judge a refusal, and the plan is the
//! launch's until the server has started; the launch hands a shared copy over then. The
//! server can write before that (it runs from its exec on, the hand-over follows the launch's
//! "server started"): the first line waits for the plan a moment, so that a loaded machine
//! does not push the hints of the first lines past the lines that follow them.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::StderrWatch;
use crate::plan::Plan;

/// A watcher, and the plan once the launch has handed it over.
pub(super) struct Live {
    pub inner: Box<dyn StderrWatch>,
    pub plan: Arc<OnceLock<Arc<Plan>>>,
    /// Whether a line has waited for the plan already (only the first one does).
    pub waited: bool,
}

/// How long the first line waits for the plan: the hand-over is due within microseconds of
/// the server's start; a launch that failed after it never hands it over.
const FIRST_LINE_WAIT: Duration = Duration::from_secs(1);

impl StderrWatch for Live {
    fn line(&mut self, line: &str) {
        self.inner.line(line);
        if !self.waited {
            self.waited = true;
            let until = Instant::now() + FIRST_LINE_WAIT;
            while self.plan.get().is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Lines before the hand-over are judged at the first line after it (or at exit).
        if let Some(plan) = self.plan.get() {
            for h in self.inner.live(plan) {
                say!("mcpcell: hint: {h}");
            }
        }
    }

    fn live(&mut self, plan: &Plan) -> Vec<String> {
        self.inner.live(plan)
    }

    fn report(&self, plan: &Plan, code: i32) -> Vec<String> {
        self.inner.report(plan, code)
    }

    /// The retried launch's server gets the first-line wait again. (A failed attempt writes
    /// nothing on this pipe: the sandbox reports its failure on the status pipe, and the
    /// server, which would, never ran.)
    fn restart(&mut self) {
        self.waited = false;
        self.inner.restart();
    }
}
