//! `judgectl rejudge`: finished submissions of a problem judged again on its current
//! version, and (with `--wait`) what changed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Result};
use judge_common::json;
use judge_common::pb;
use judge_common::pb::judge_service_client::JudgeServiceClient;

use crate::{status_line, Authed};

/// How often `--wait` looks at the jobs.
const POLL: Duration = Duration::from_secs(1);

/// Verdict names, comma separated (`WA,TLE`), as the wire's numbers.
pub fn verdicts(list: &str) -> Result<Vec<i32>> {
    list.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            json::parse_verdict(&v.to_ascii_uppercase())
                .map(|v| v as i32)
                .ok_or_else(|| {
                    anyhow!("--verdict {v}: not a verdict (AC, WA, TLE, MLE, OLE, RTE, CE, JE)")
                })
        })
        .collect()
}

/// Job ids, comma separated (`12,15`).
pub fn job_ids(list: &str) -> Result<Vec<u64>> {
    list.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().map_err(|_| anyhow!("--jobs {v}: not a job id")))
        .collect()
}

/// A time as ms since the epoch: RFC 3339 (`2026-12-02T09:00:00Z`), or a span ago
/// (`90m`, `2h`, `3d`) counted back from `now_ms`.
pub fn since(text: &str, now_ms: i64) -> Result<i64> {
    let unit = |c: char| match c {
        's' => Some(1_000),
        'm' => Some(60_000),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        _ => None,
    };
    if let Some(last) = text.chars().last() {
        if let (Some(ms), Ok(n)) = (unit(last), text[..text.len() - 1].parse::<i64>()) {
            let ago = n
                .checked_mul(ms)
                .filter(|a| *a >= 0)
                .ok_or_else(|| anyhow!("--since {text}: out of range"))?;
            return Ok(now_ms.saturating_sub(ago));
        }
    }
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            anyhow!(
                "--since {text}: give a time like 2026-12-02T09:00:00Z or a span ago like 2h ({e})"
            )
        })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| anyhow!("--since {text}: out of range"))
}

/// Now, ms since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A rejudge's outcome once every job has ended: each job's verdict before and after.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// job id → (before, after), verdict names ("-" for none).
    pub jobs: BTreeMap<u64, (String, String)>,
}

impl Outcome {
    /// The jobs whose verdict changed.
    pub fn changed(&self) -> impl Iterator<Item = (&u64, &(String, String))> {
        self.jobs.iter().filter(|(_, (a, b))| a != b)
    }

    /// `judged N, changed M`, then `#12 WA -> AC` per changed job.
    pub fn print(&self) {
        println!(
            "judged {}, changed {}",
            self.jobs.len(),
            self.changed().count()
        );
        for (id, (before, after)) in self.changed() {
            println!("#{id} {before} -> {after}");
        }
    }

    pub fn json(&self, r: &pb::RejudgeResponse) -> serde_json::Value {
        let mut v = json::rejudge_json(r);
        v["judged"] = self.jobs.len().into();
        v["changed"] = self
            .changed()
            .map(|(id, (b, a))| serde_json::json!({"job_id": id, "before": b, "after": a}))
            .collect();
        v
    }
}

fn name(v: i32) -> String {
    json::verdict(v).unwrap_or("-").to_string()
}

/// Waits until every job of the rejudge has ended (looking once a second, a page of the
/// problem's jobs at a time); their verdicts before and after.
pub async fn wait(
    client: &mut JudgeServiceClient<Authed>,
    problem: &str,
    r: &pb::RejudgeResponse,
) -> Result<Outcome> {
    let mut pending: BTreeSet<u64> = r.jobs.iter().map(|j| j.job_id).collect();
    let before: BTreeMap<u64, String> = r
        .jobs
        .iter()
        .map(|j| (j.job_id, name(j.previous_verdict)))
        .collect();
    let mut out = Outcome::default();
    while let Some(&lowest) = pending.first() {
        let mut page_before = None;
        loop {
            let req = pb::ListJobsRequest {
                limit: 1000,
                problem_id: Some(problem.to_string()),
                before_job_id: page_before,
                ..Default::default()
            };
            let page = client
                .list_jobs(req)
                .await
                .map_err(|s| anyhow!(status_line(&s)))?
                .into_inner()
                .jobs;
            for j in &page {
                let ended = matches!(
                    pb::JobState::try_from(j.state),
                    Ok(pb::JobState::Done | pb::JobState::Failed | pb::JobState::Cancelled)
                );
                if ended && pending.remove(&j.job_id) {
                    let was = before.get(&j.job_id).cloned().unwrap_or_default();
                    out.jobs.insert(j.job_id, (was, name(j.verdict)));
                }
            }
            match page.last() {
                Some(last) if page.len() == 1000 && last.job_id > lowest => {
                    page_before = Some(last.job_id)
                }
                _ => break,
            }
        }
        if !pending.is_empty() {
            tokio::time::sleep(POLL).await;
        }
    }
    Ok(out)
}

/// The request the command line asks for.
pub fn request(
    problem: String,
    verdict: Option<&str>,
    since_text: Option<&str>,
    jobs: Option<&str>,
    priority: Option<String>,
) -> Result<pb::RejudgeRequest> {
    if problem.is_empty() {
        bail!("--problem: give the problem whose submissions to judge again");
    }
    Ok(pb::RejudgeRequest {
        problem_id: problem,
        verdicts: verdict.map(verdicts).transpose()?.unwrap_or_default(),
        since_ms: since_text.map(|t| since(t, now_ms())).transpose()?,
        job_ids: jobs.map(job_ids).transpose()?.unwrap_or_default(),
        priority: priority.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_times_parse_or_name_the_problem() {
        assert_eq!(verdicts("wa, TLE").unwrap(), [2, 3]);
        assert!(verdicts("WA,XX").unwrap_err().to_string().contains("XX"));
        assert_eq!(job_ids("1,2, 3").unwrap(), [1, 2, 3]);
        assert!(job_ids("1,x").is_err());
        assert_eq!(since("2h", 10_000_000).unwrap(), 10_000_000 - 7_200_000);
        assert_eq!(since("1970-01-01T00:00:01Z", 0).unwrap(), 1000);
        assert!(since("yesterday", 0).is_err());
        assert!(since("99999999999999999d", 0).is_err());
    }
}
