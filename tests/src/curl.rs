//! `curl` against a cluster's HTTP side, as a web client would call it.

use std::process::Command;

use serde_json::Value;

use crate::Cluster;

/// An HTTP response: status, headers (lower-case names) and body.
pub struct Reply {
    pub status: u16,
    /// Lower-case header lines.
    pub headers: String,
    pub body: String,
}

impl Reply {
    /// The body as JSON (the test fails if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// `curl` with `args`, against the cluster's HTTP side.
pub fn curl(c: &Cluster, method: &str, path: &str, token: Option<&str>, args: &[&str]) -> Reply {
    let http = c.sched.http_addr.expect("http side");
    let mut cmd = Command::new("curl");
    // No "Expect: 100-continue": one response per request.
    cmd.args([
        "-sS",
        "-D",
        "-",
        "-H",
        "Expect:",
        "-X",
        method,
        "--max-time",
        "60",
    ])
    .arg(format!("http://{http}{path}"));
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.args(args).output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

/// `POST` of a JSON body.
pub fn post_json(c: &Cluster, path: &str, token: &str, body: &Value) -> Reply {
    let body = body.to_string();
    curl(
        c,
        "POST",
        path,
        Some(token),
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &body,
        ],
    )
}
