//! `share`: the sharing simulation (`judge_tests::sharesim`) with a million events, fair share
//! and the oldest-first baseline on the same load: the rules checked on every step, the
//! waits per class, and Jain's index over the students of equal demand.

use judge_scheduler::core::QueueOrder;
use judge_tests::sharesim::{self, ShareConfig, ShareReport, Waits, STUDENTS};

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn waits(w: &Waits) -> String {
    format!(
        "{:>7} {:>8.1} {:>8.1} {:>8.1}",
        w.count,
        secs(w.p50),
        secs(w.p99),
        secs(w.max)
    )
}

fn print(name: &str, r: &ShareReport, seconds: f64) {
    println!(
        "== {name}: {} events in {seconds:.1} s of CPU ({:.2} us an event), {:.1} simulated hours",
        r.events,
        seconds * 1e6 / r.events as f64,
        r.simulated_ms as f64 / 3.6e6
    );
    println!(
        "   jobs {}, judgings {}, rejudged {}, superseded {}, cancelled {}, consoles {} ({} refused), workers lost {}",
        r.jobs, r.judgings, r.rejudged, r.superseded, r.cancelled, r.consoles, r.consoles_refused, r.workers_lost
    );
    println!(
        "   most jobs one owner held on workers: {} (limit 4); most consoles one owner had open: {} (limit 2)",
        r.max_held, r.max_consoles
    );
    println!("   class     waits   p50 s    p99 s    max s   (with room under the owner's running limit)");
    for (i, class) in ["contest", "normal", "bulk"].iter().enumerate() {
        println!(
            "   {class:<8} {}   {}",
            waits(&r.waits[i]),
            waits(&r.eligible_waits[i])
        );
    }
    let students: i64 = r.service[..STUDENTS].iter().map(|(_, s)| s).sum();
    let floods: Vec<&(String, i64)> = r
        .service
        .iter()
        .filter(|(n, _)| n.starts_with("flood"))
        .collect();
    let flood: i64 = floods.iter().map(|(_, s)| s).sum();
    println!(
        "   Jain's index over the {STUDENTS} students: {:.4}; a flooder's slot time / a student's: {:.2}",
        r.jain_students,
        (flood as f64 / floods.len() as f64) / (students as f64 / STUDENTS as f64)
    );
    println!("   rules broken: {}", r.violations.len());
    for v in &r.violations {
        println!("     {v}");
    }
}

pub fn run(events: u64, seed: u64) -> anyhow::Result<()> {
    let mut broken = 0;
    for order in [QueueOrder::FairShare, QueueOrder::OldestFirst] {
        let started = std::time::Instant::now();
        let r = sharesim::run(ShareConfig {
            events,
            seed,
            order,
            ..ShareConfig::default()
        });
        print(order.as_str(), &r, started.elapsed().as_secs_f64());
        broken += r.violations.len();
    }
    if broken > 0 {
        anyhow::bail!("{broken} rules broken");
    }
    Ok(())
}
