//! One line of the diagnosis: which check, how it went, what it means, and
//! what to do about it.
use serde::Serialize;

/// How a check went. Ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Could not be checked (missing file, no permission).
    Unknown,
    /// MPTCP works, but something limits it (one path only, fallbacks seen).
    Warn,
    /// MPTCP cannot be used on this host until it is fixed.
    Problem,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unknown => "unknown",
            Status::Warn => "warn",
            Status::Problem => "problem",
        }
    }
}

/// Which part of the host a check is about (the text output's headings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Kernel,
    Socket,
    PathManager,
    Counters,
}

impl Group {
    pub const ALL: [Group; 4] = [
        Group::Kernel,
        Group::Socket,
        Group::PathManager,
        Group::Counters,
    ];
    pub fn heading(self) -> &'static str {
        match self {
            Group::Kernel => "Kernel",
            Group::Socket => "MPTCP sockets",
            Group::PathManager => "Path manager (aggregation)",
            Group::Counters => {
                "Kernel MPTCP counters (MPTcpExt, since boot, this network namespace)"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier of the check (`sysctl`, `kernel_config`, ...).
    pub check: &'static str,
    pub group: Group,
    pub status: Status,
    /// One sentence a user understands.
    pub message: String,
    /// Extra lines (endpoints, counter values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// What to run or change; `None` when nothing needs doing.
    pub fix: Option<String>,
}

impl Finding {
    pub fn new(check: &'static str, group: Group, status: Status, message: String) -> Self {
        Finding {
            check,
            group,
            status,
            message,
            details: Vec::new(),
            fix: None,
        }
    }
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
    pub fn details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }
}
