//! The commands: one front-end per subcommand, above the launch pipeline. Each takes its
//! clap arguments from [`crate::cli`] and returns a result that [`crate::app`] prints; the
//! pipeline below (`profile`, `plan`, `sandbox`, `supervise`) never imports from here.

pub(crate) mod doctor;
pub(crate) mod explain;
pub(crate) mod hints;
pub(crate) mod learn;
pub(crate) mod manual;
pub(crate) mod run;
pub(crate) mod wrap;
