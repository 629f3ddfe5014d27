//! Trace-driven simulation of routing: the scheduler's real core, driven in simulated time by
//! a synthetic trace, with simulated workers whose LRU caches fetch what they miss. Policies
//! are compared on the same trace in one run.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

use judge_common::pb;
use judge_scheduler::core::{
    Command, Core, CoreConfig, Effect, Event, JobFiles, JobProgress, NewJob, Policy, WorkerHello,
};

/// Shape of the trace and the simulated fleet.
#[derive(Debug, Clone)]
pub struct TraceConfig {
    pub workers: usize,
    pub slots: u32,
    pub cache_bytes: u64,
    pub problems: usize,
    pub min_bytes: u64,
    pub max_bytes: u64,
    pub zipf_s: f64,
    pub jobs: usize,
    /// Mean time between submissions (exponential).
    pub mean_gap_ms: f64,
    /// Mean judging time once the files are there (exponential).
    pub mean_run_ms: f64,
    /// Download speed from the scheduler to one worker.
    pub bytes_per_ms: f64,
    pub seed: u64,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            workers: 8,
            slots: 2,
            cache_bytes: 2 << 30,
            problems: 60,
            min_bytes: 50_000_000,
            max_bytes: 500_000_000,
            zipf_s: 1.0,
            jobs: 5_000,
            mean_gap_ms: 180.0,
            mean_run_ms: 2_000.0,
            bytes_per_ms: 200_000.0, // 200 MB/s
            seed: 7,
        }
    }
}

/// One submission of the trace.
#[derive(Debug, Clone)]
pub struct TraceJob {
    pub at_ms: i64,
    pub problem: usize,
    pub run_ms: i64,
}

pub struct Trace {
    pub config: TraceConfig,
    pub sizes: Vec<u64>,
    pub jobs: Vec<TraceJob>,
}

/// What one policy did on the trace.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub bytes_fetched: u64,
    pub mean_wait_ms: f64,
    pub p99_wait_ms: f64,
    pub makespan_ms: i64,
}

struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

impl Trace {
    pub fn generate(config: TraceConfig) -> Trace {
        let mut rng = Rng(config.seed.max(1));
        let sizes: Vec<u64> = (0..config.problems)
            .map(|_| {
                config.min_bytes
                    + (rng.unit() * (config.max_bytes - config.min_bytes) as f64) as u64
            })
            .collect();
        // Zipf popularity: problem i (0-based) has weight 1 / (i + 1)^s.
        let weights: Vec<f64> = (0..config.problems)
            .map(|i| 1.0 / ((i + 1) as f64).powf(config.zipf_s))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut at = 0.0;
        let jobs = (0..config.jobs)
            .map(|_| {
                at += rng.exp(config.mean_gap_ms);
                let mut pick = rng.unit() * total;
                let mut problem = config.problems - 1;
                for (i, w) in weights.iter().enumerate() {
                    if pick < *w {
                        problem = i;
                        break;
                    }
                    pick -= w;
                }
                TraceJob {
                    at_ms: at as i64,
                    problem,
                    run_ms: rng.exp(config.mean_run_ms).max(1.0) as i64,
                }
            })
            .collect();
        Trace {
            config,
            sizes,
            jobs,
        }
    }

    /// Offline lower bound on bytes fetched: every problem used must arrive somewhere once.
    pub fn lower_bound(&self) -> u64 {
        let used: HashSet<usize> = self.jobs.iter().map(|j| j.problem).collect();
        used.iter().map(|p| self.sizes[*p]).sum()
    }
}

/// A simulated worker's cache: LRU by bytes, never evicting files of running jobs.
struct SimCache {
    budget: u64,
    used: u64,
    lru: VecDeque<String>,
    sizes: HashMap<String, u64>,
    in_use: HashMap<String, u32>,
}

impl SimCache {
    /// Makes `sha` present; returns (bytes fetched, files added, files evicted).
    fn load(&mut self, sha: &str, size: u64) -> (u64, Vec<String>, Vec<String>) {
        *self.in_use.entry(sha.to_string()).or_default() += 1;
        if self.sizes.contains_key(sha) {
            self.lru.retain(|s| s != sha);
            self.lru.push_back(sha.to_string());
            return (0, vec![], vec![]);
        }
        let mut evicted = Vec::new();
        let mut i = 0;
        while self.used + size > self.budget && i < self.lru.len() {
            let victim = self.lru[i].clone();
            if self.in_use.get(&victim).copied().unwrap_or(0) == 0 {
                self.lru.remove(i);
                self.used -= self.sizes.remove(&victim).unwrap_or(0);
                evicted.push(victim);
            } else {
                i += 1;
            }
        }
        // Over budget only if pinned files fill it; the real cache would wait, the model
        // simply lets it through (the same for every policy).
        self.used += size;
        self.sizes.insert(sha.to_string(), size);
        self.lru.push_back(sha.to_string());
        (size, vec![sha.to_string()], evicted)
    }

    fn release(&mut self, sha: &str) {
        if let Some(n) = self.in_use.get_mut(sha) {
            *n = n.saturating_sub(1);
        }
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Tick,
    Arrive(usize),
    Complete {
        session: u64,
        job_id: u64,
        attempt: u32,
    },
}

/// Runs the trace through the core under `policy`.
pub fn run(trace: &Trace, policy: Policy, locality_wait_ms: i64) -> Outcome {
    let cfg = &trace.config;
    let config = CoreConfig {
        policy,
        locality_wait_ms,
        max_queued: usize::MAX,
        max_queued_per_owner: usize::MAX,
        report_timeout_ms: i64::MAX / 4,
        ..CoreConfig::default()
    };
    let mut core = Core::new(config);
    let files: Vec<JobFiles> = trace
        .sizes
        .iter()
        .enumerate()
        .map(|(i, s)| vec![(format!("p{i}"), *s)].into())
        .collect();
    let mut caches: HashMap<u64, SimCache> = HashMap::new();
    let mut heap: BinaryHeap<Reverse<(i64, Ev)>> = BinaryHeap::new();
    for s in 1..=cfg.workers as u64 {
        caches.insert(
            s,
            SimCache {
                budget: cfg.cache_bytes,
                used: 0,
                lru: VecDeque::new(),
                sizes: HashMap::new(),
                in_use: HashMap::new(),
            },
        );
        let hello = WorkerHello {
            name: format!("w{s}"),
            slots: cfg.slots,
            job_types: vec!["judge".into()],
            languages: vec!["c".into()],
            ..Default::default()
        };
        core.apply(
            Event::WorkerConnected {
                req: 0,
                session: s,
                hello,
            },
            0,
        );
    }
    for (i, j) in trace.jobs.iter().enumerate() {
        heap.push(Reverse((j.at_ms, Ev::Arrive(i))));
    }
    heap.push(Reverse((0, Ev::Tick)));
    let mut waits = Vec::with_capacity(trace.jobs.len());
    let mut fetched = 0u64;
    let mut finished = 0usize;
    let mut now = 0;
    while let Some(Reverse((t, ev))) = heap.pop() {
        now = t;
        let effects = match ev {
            Ev::Tick => {
                if finished < trace.jobs.len() {
                    heap.push(Reverse((t + 100, Ev::Tick)));
                }
                core.apply(Event::Tick, t)
            }
            Ev::Arrive(i) => {
                let j = &trace.jobs[i];
                let job = NewJob {
                    spec: judge_scheduler::core::JobSpec::Judge {
                        problem: format!("p{}", j.problem),
                        version: 1,
                        run_all_tests: false,
                    },
                    language: "c".into(),
                    owner: "alice".into(),
                    request_id: None,
                    supersede_key: None,
                    priority: Default::default(),
                };
                core.apply(
                    Event::Submit {
                        req: i as u64,
                        job,
                        files: files[j.problem].clone(),
                        // Simulated workers always finish: no deadline ever matters here.
                        worst_case_ms: i64::MAX / 8,
                    },
                    t,
                )
            }
            Ev::Complete {
                session,
                job_id,
                attempt,
            } => {
                finished += 1;
                let j = &trace.jobs[(job_id - 1) as usize];
                if let Some(cache) = caches.get_mut(&session) {
                    cache.release(&format!("p{}", j.problem));
                }
                let mut fx = core.apply(
                    Event::Progress {
                        session,
                        job_id,
                        attempt,
                        progress: JobProgress::Accepted,
                    },
                    t,
                );
                let done = JobProgress::Finished {
                    verdict: pb::Verdict::Ac,
                    message: String::new(),
                    cancelled: false,
                    score: None,
                    run: None,
                };
                fx.extend(core.apply(
                    Event::Progress {
                        session,
                        job_id,
                        attempt,
                        progress: done,
                    },
                    t,
                ));
                fx
            }
        };
        // Any event may dispatch, so effects of events raised here are handled here too.
        let mut effects: VecDeque<Effect> = effects.into();
        while let Some(e) = effects.pop_front() {
            let Effect::Send {
                session,
                command: Command::Assign { job_id, attempt },
            } = e
            else {
                continue;
            };
            let j = &trace.jobs[(job_id - 1) as usize];
            waits.push((t - j.at_ms) as f64);
            let sha = format!("p{}", j.problem);
            let Some(cache) = caches.get_mut(&session) else {
                continue;
            };
            let (bytes, added, removed) = cache.load(&sha, trace.sizes[j.problem]);
            fetched += bytes;
            if !added.is_empty() || !removed.is_empty() {
                let stats = pb::CacheStats::default();
                effects.extend(core.apply(
                    Event::CacheChanged {
                        session,
                        added,
                        removed,
                        stats,
                    },
                    t,
                ));
            }
            let fetch_ms = (bytes as f64 / cfg.bytes_per_ms) as i64;
            heap.push(Reverse((
                t + fetch_ms + j.run_ms,
                Ev::Complete {
                    session,
                    job_id,
                    attempt,
                },
            )));
        }
    }
    waits.sort_by(|a, b| a.total_cmp(b));
    let mean = waits.iter().sum::<f64>() / waits.len().max(1) as f64;
    let p99 = waits
        .get(((waits.len().max(1) - 1) as f64 * 0.99) as usize)
        .copied()
        .unwrap_or(0.0);
    Outcome {
        bytes_fetched: fetched,
        mean_wait_ms: mean,
        p99_wait_ms: p99,
        makespan_ms: now,
    }
}
