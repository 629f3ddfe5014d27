//! Every verdict in every language, judged by the real cluster in its sandbox (the same cases
//! run in a VM: `tests/tests/vm.rs`).

use judge_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verdict_in_every_language() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    // The same problem with a 2 s limit, so the TLE cases end soon.
    c.push_example("aplusb", "aplusb2s", Some(2.0)).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    let wrong = cases::judge_all(&mut judge, "aplusb2s", cases::verdict_cases()).await?;
    // The logs first: CI shows the end of the output.
    assert!(wrong.is_empty(), "{}\n{wrong:#?}", c.logs());
    Ok(())
}
