//! Workers in real virtual machines: Debian 12 guests under qemu on pure cgroup v2 and
//! systemd, installed by cloud-init from `deploy/cloud-init/worker.yaml`, dialing the
//! scheduler through a user-mode NAT that lets them reach nothing else.
//!
//! These tests run where KVM runs a guest, or anywhere with `JUDGE_VM_ACCEL=tcg` (software
//! emulation: slow, and its timings mean nothing). Elsewhere each says SKIPPED, and
//! `JUDGE_REQUIRE_VM=1` turns that into a failure. They take turns: one VM at a time.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use judge_common::pb::{self, Verdict};
use judge_tests::vm::worker::{Options, WorkerVm};
use judge_tests::vm::{self, Accel, Image};
use judge_tests::*;

/// One VM test at a time: two machines' worth of emulation on two cores helps nobody.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Boot and cloud-init under software emulation take a minute or two; under KVM seconds.
fn boot_timeout(accel: Accel) -> Duration {
    match accel {
        Accel::Kvm => Duration::from_secs(180),
        Accel::Tcg => Duration::from_secs(600),
    }
}

/// The image and the accelerator, or `None` after saying SKIPPED (or failing, if
/// `JUDGE_REQUIRE_VM=1`).
async fn vm_or_skip(test: &str) -> Result<Option<(Image, Accel)>> {
    let skip = |why: String| -> Result<Option<(Image, Accel)>> {
        if std::env::var("JUDGE_REQUIRE_VM").as_deref() == Ok("1") {
            bail!("{test}: JUDGE_REQUIRE_VM=1 but {why}");
        }
        // Past the test harness's capture (it takes only the print macros): a skip is seen
        // even where the test passes quietly.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "\n*** SKIPPED {test}: {why} ***\n");
        Ok(None)
    };
    for tool in [
        "qemu-system-x86_64",
        "qemu-img",
        "mmdebstrap",
        "mkfs.vfat",
        "mcopy",
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
            .unwrap_or(false);
        if !found {
            return skip(format!(
                "{tool} is not installed (qemu-system-x86, qemu-utils, mmdebstrap, dosfstools, mtools)"
            ));
        }
    }
    let forced_tcg = std::env::var("JUDGE_VM_ACCEL").as_deref() == Ok("tcg");
    if !forced_tcg
        && std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_err()
    {
        return skip(
            "/dev/kvm is not usable (JUDGE_VM_ACCEL=tcg runs them under emulation)".into(),
        );
    }
    let image = vm::image().await.context("building the VM image")?;
    if !image.built_in.is_zero() {
        eprintln!("built the VM image in {:.0?}", image.built_in);
    }
    let accel = vm::accel(&image).await?;
    if accel == Accel::Tcg && !forced_tcg {
        return skip(
            "KVM does not run a guest here (JUDGE_VM_ACCEL=tcg runs them under emulation)".into(),
        );
    }
    eprintln!("{test}: guests run under {}", accel.name());
    Ok(Some((image, accel)))
}

/// The time limit a problem gets in a guest: under emulation everything is many times
/// slower, a JVM's start most of all.
fn limit_s(accel: Accel) -> f64 {
    match accel {
        Accel::Kvm => 2.0,
        Accel::Tcg => 10.0,
    }
}

/// Waits until worker `name` is connected, with the VM's console in the error.
async fn joined(c: &Cluster, w: &WorkerVm, timeout: Duration) -> Result<()> {
    let judge = c.judge().await?;
    workers_where(&judge, &format!("{} connected", w.vm.name), timeout, |l| {
        l.iter().any(|x| x.name == w.vm.name && x.connected)
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}\n{}", w.vm.report(), c.sched.log()))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_worker_joins_through_cloud_init_behind_nat_and_judges_as_this_host_does() -> Result<()>
{
    let _turn = TURN.lock().await;
    let Some((image, accel)) = vm_or_skip("vm::joins_and_judges").await? else {
        return Ok(());
    };
    let c = Cluster::start(&[]).await?;
    let limit = limit_s(accel);
    c.push_example("aplusb", "aplusb-vm", Some(limit)).await?;
    let dir = c.dir.path().join("vm1");
    let w = WorkerVm::boot(
        &image,
        accel,
        Options::new("vm1", c.sched.addr, &c.worker_token),
        &dir,
    )
    .await?;
    joined(&c, &w, boot_timeout(accel)).await?;
    let connected = w.vm.started.elapsed();
    let mut judge = c.judge().await?;
    let first = submit(&mut judge, "aplusb-vm", "python3", AC_PY).await?;
    let job = wait_finished(&mut judge, first).await?;
    assert_eq!(
        job.verdict,
        Verdict::Ac as i32,
        "{job:?}\n{}",
        w.vm.report()
    );
    assert_eq!(job.worker, "vm1");
    eprintln!(
        "figures ({}): boot to connected {:.1} s, to the first verdict {:.1} s",
        accel.name(),
        connected.as_secs_f64(),
        w.vm.started.elapsed().as_secs_f64()
    );

    // The guest as a distribution boots it: pure cgroup v2, the worker in its delegated
    // unit, its runs' groups below it.
    let agent = w.vm.agent();
    let t = Duration::from_secs(60);
    let init = agent.check("cloud-init status --long", t).await?;
    assert!(
        init.contains("status: done"),
        "the user-data ran without an error: {init}"
    );
    let fs = agent.check("stat -fc %T /sys/fs/cgroup", t).await?;
    assert_eq!(fs.trim(), "cgroup2fs", "the guest mounts only cgroup v2");
    let unit = agent
        .check("systemctl show -p ActiveState,Delegate judge-worker@vm1", t)
        .await?;
    assert!(
        unit.contains("ActiveState=active") && unit.contains("Delegate=yes"),
        "{unit}"
    );
    let groups = agent
        .check("ls /sys/fs/cgroup/system.slice/system-judge\\\\x2dworker.slice/judge-worker@vm1.service/", t)
        .await?;
    assert!(
        groups.contains("judge-worker-"),
        "run groups below the unit: {groups}"
    );
    // Behind the NAT: the guest reaches the forwarded scheduler and nothing else of the host.
    let reach = format!(
        "curl -s -o /dev/null --max-time 5 http://10.0.2.2:{port}/ && echo reached-gateway; \
         curl -s -o /dev/null --max-time 5 http://{g}:7071/ && echo reached-other-port; echo done",
        port = c.sched.addr.port(),
        g = vm::HOST_IN_GUEST
    );
    let out = agent.sh(&reach, t).await?;
    assert_eq!(
        out.stdout.trim(),
        "done",
        "the guest reached more than its one forward"
    );

    // Hidden data: the worker's cache (inputs and answers, filled by the first job), its
    // files, its token and install settings are all out of a run's sight.
    let mut hidden: Vec<String> = agent
        .check("find /var/lib/judge-worker /etc/judge -type f", t)
        .await?
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        hidden.iter().any(|f| f.contains("/cache/"))
            && hidden.iter().any(|f| f.ends_with("worker.token")),
        "the cache and the token are there to look for: {hidden:?}"
    );
    hidden.extend([
        "/var/lib/judge-worker".to_string(),
        "/etc/judge".to_string(),
    ]);
    let cheat = cases::hidden_data_probe(&hidden, &c.worker_token);
    let id = submit(&mut judge, "aplusb-vm", "python3", &cheat).await?;
    let job = wait_finished(&mut judge, id).await?;
    assert_eq!(job.verdict, Verdict::Ac as i32, "{job:?}");

    // The same verdicts as on this host: every language's verdict set, the cgroup cases,
    // the attacks.
    let mut cases = cases::verdict_cases();
    cases.extend(cases::cgroup_cases(limit));
    let wrong = cases::judge_all(&mut judge, "aplusb-vm", cases).await?;
    assert!(wrong.is_empty(), "{wrong:#?}\n{}", w.vm.report());
    let attacks: Vec<cases::Case> = cases::attacks(c.sched.addr.port())
        .into_iter()
        .filter_map(|(name, src, want)| Some((name, "python3", src, want?, cases::Check::Verdict)))
        .collect();
    let wrong = cases::judge_all(&mut judge, "aplusb-vm", attacks).await?;
    assert!(wrong.is_empty(), "{wrong:#?}\n{}", w.vm.report());
    // The fork bomb: anything but AC or JE, and the worker still judges after it.
    let bomb = &cases::attacks(0)[0];
    let id = submit(&mut judge, "aplusb-vm", "python3", &bomb.1).await?;
    let job = wait_finished(&mut judge, id).await?;
    assert!(
        job.verdict != Verdict::Ac as i32 && job.verdict != Verdict::Je as i32,
        "{job:?}"
    );
    // Nothing of any run is left in the guest: every group was killed whole.
    let left = agent
        .check("ps -eo uid= | awk '$1 >= 60000' | wc -l", t)
        .await?;
    assert_eq!(left.trim(), "0", "sandboxed processes left in the guest");
    let after = submit(&mut judge, "aplusb-vm", "python3", AC_PY).await?;
    assert_eq!(
        wait_finished(&mut judge, after).await?.verdict,
        Verdict::Ac as i32
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_with_a_wrong_checksum_stops_the_install_and_says_so() -> Result<()> {
    let _turn = TURN.lock().await;
    let Some((image, accel)) = vm_or_skip("vm::wrong_checksum").await? else {
        return Ok(());
    };
    let c = Cluster::start(&[]).await?;
    let mut opts = Options::new("vmbad", c.sched.addr, &c.worker_token);
    opts.wrong_sha256 = Some("0".repeat(64));
    let mut w = WorkerVm::boot(&image, accel, opts, &c.dir.path().join("vmbad")).await?;
    // cloud-init's last word on the console: every stage has run.
    w.vm.wait_console(" finished at ", boot_timeout(accel))
        .await?;
    let agent = w.vm.agent();
    agent.wait(boot_timeout(accel)).await?;
    let status = agent
        .sh("cloud-init status --long", Duration::from_secs(60))
        .await?;
    assert!(
        status.stdout.contains("error"),
        "cloud-init reports the failure: {status:?}"
    );
    let log = agent
        .check(
            "cat /var/log/cloud-init-output.log",
            Duration::from_secs(30),
        )
        .await?;
    assert!(
        log.contains("FAILED"),
        "sha256sum says the download failed its check:\n{log}"
    );
    let installed = agent
        .sh("test -e /usr/local/bin/judge-worker && echo installed; systemctl is-active judge-worker@vmbad", Duration::from_secs(30))
        .await?;
    assert!(!installed.stdout.contains("installed"), "{installed:?}");
    assert!(
        !installed.stdout.lines().any(|l| l == "active"),
        "{installed:?}"
    );
    let judge = c.judge().await?;
    let list = judge
        .clone()
        .list_workers(pb::ListWorkersRequest {})
        .await?
        .into_inner();
    assert!(
        list.workers.iter().all(|x| x.name != "vmbad"),
        "it never joined"
    );
    Ok(())
}

/// A Python submission for `aplusb-vm` sleeping `seconds` on each test, once a worker runs it.
async fn start_sleeper(
    judge: &mut pb::judge_service_client::JudgeServiceClient<judgectl::Authed>,
    seconds: f64,
) -> Result<u64> {
    let id = submit(judge, "aplusb-vm", "python3", &slow_aplusb(seconds)).await?;
    wait_state(judge, id, "running", |j| {
        j.state == pb::JobState::Running as i32
    })
    .await?;
    Ok(id)
}

/// Waits until worker `name` is shown disconnected.
async fn left(c: &Cluster, name: &str, timeout: Duration) -> Result<()> {
    let judge = c.judge().await?;
    workers_where(&judge, &format!("{name} disconnected"), timeout, |l| {
        l.iter().all(|x| x.name != name || !x.connected)
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_worker_survives_its_kill_a_reboot_and_a_scheduler_restart_and_its_jobs_survive_the_vm(
) -> Result<()> {
    let _turn = TURN.lock().await;
    let Some((image, accel)) = vm_or_skip("vm::faults").await? else {
        return Ok(());
    };
    let mut c = Cluster::start(&[]).await?;
    let limit = limit_s(accel);
    c.push_example("aplusb", "aplusb-vm", Some(limit)).await?;
    let mut w = WorkerVm::boot(
        &image,
        accel,
        Options::new("vmf", c.sched.addr, &c.worker_token),
        &c.dir.path().join("vmf"),
    )
    .await?;
    let boot = boot_timeout(accel);
    joined(&c, &w, boot).await?;
    let mut judge = c.judge().await?;
    let t = Duration::from_secs(60);

    // The worker killed: systemd starts it again, and the job it had ends well.
    let job = start_sleeper(&mut judge, limit * 0.3).await?;
    w.vm.agent()
        .check("systemctl kill -s KILL judge-worker@vmf", t)
        .await?;
    let done = wait_finished(&mut judge, job).await?;
    assert_eq!(
        done.verdict,
        Verdict::Ac as i32,
        "{done:?}\n{}",
        c.sched.log()
    );
    assert_eq!(done.worker, "vmf");
    let restarts =
        w.vm.agent()
            .check("systemctl show -p NRestarts --value judge-worker@vmf", t)
            .await?;
    assert_eq!(
        restarts.trim(),
        "1",
        "systemd restarted the killed worker once"
    );

    // The VM rebooted: the unit is enabled, the worker comes back and judges.
    w.vm.agent().spawn("systemctl reboot").await?;
    left(&c, "vmf", boot).await?;
    joined(&c, &w, boot).await?;
    let id = submit(&mut judge, "aplusb-vm", "python3", AC_PY).await?;
    let done = wait_finished(&mut judge, id).await?;
    assert_eq!(
        (done.verdict, done.worker.as_str()),
        (Verdict::Ac as i32, "vmf")
    );

    // The scheduler restarted while the VM's worker is connected: it dials again.
    let addr = c.sched.addr.to_string();
    let running = start_sleeper(&mut judge, limit * 0.3).await?;
    c.sched.kill().await;
    c.sched = SchedulerProc::start_on(&c.sched.data_dir.clone(), &addr, &[]).await?;
    let mut judge = c.judge().await?;
    joined(&c, &w, boot).await?;
    let done = wait_finished(&mut judge, running).await?;
    assert_eq!(
        done.verdict,
        Verdict::Ac as i32,
        "{done:?}\n{}",
        c.sched.log()
    );

    // The VM killed outright: its job is queued again and judged by the worker left.
    let lost = start_sleeper(&mut judge, limit * 0.3).await?;
    w.vm.kill().await;
    c.add_worker("host", 1)?;
    let done = wait_finished(&mut judge, lost).await?;
    assert_eq!(
        (done.verdict, done.worker.as_str()),
        (Verdict::Ac as i32, "host"),
        "{}",
        c.logs()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_worker_with_a_broken_compiler_is_quarantined_and_every_job_ends_well_elsewhere(
) -> Result<()> {
    let _turn = TURN.lock().await;
    let Some((image, accel)) = vm_or_skip("vm::quarantine").await? else {
        return Ok(());
    };
    // No probe during the test: the cool-down outlasts it.
    let mut c = Cluster::start(&["--quarantine-cooldown-seconds", "3600"]).await?;
    c.push_example("aplusb", "aplusb-vm", Some(limit_s(accel)))
        .await?;
    let w = WorkerVm::boot(
        &image,
        accel,
        Options::new("vmq", c.sched.addr, &c.worker_token),
        &c.dir.path().join("vmq"),
    )
    .await?;
    joined(&c, &w, boot_timeout(accel)).await?;
    // Its toolchains break under the running worker (a botched upgrade, say): the C compiler
    // and the Python interpreter no longer start.
    w.vm.agent()
        .check(
            "chmod 000 \"$(readlink -f \"$(command -v gcc)\")\" \"$(readlink -f \"$(command -v python3)\")\"",
            Duration::from_secs(60),
        )
        .await?;
    // Beside a healthy worker of one slot: a judge error is judged again there, and when the
    // healthy one accepts, the error counts against the VM's worker. A sleeper keeps the
    // healthy one busy first (judged again there if the VM's worker took it), so the C jobs
    // go to the VM's worker, fail there, and wait for the healthy one.
    c.add_worker("healthy", 1)?;
    c.wait_workers(2).await?;
    let mut judge = c.judge().await?;
    let sleeper = submit(
        &mut judge,
        "aplusb-vm",
        "python3",
        &slow_aplusb(limit_s(accel) * 0.6),
    )
    .await?;
    wait_state(
        &mut judge,
        sleeper,
        "the sleeper running on the healthy worker",
        |j| j.state == pb::JobState::Running as i32 && j.worker == "healthy",
    )
    .await?;
    let c_ac = cases::C[0].0;
    let mut jobs = vec![sleeper];
    for _ in 0..6 {
        jobs.push(submit(&mut judge, "aplusb-vm", "c", c_ac).await?);
    }
    let info = eventually("vmq quarantined", boot_timeout(accel), || {
        let c = &c;
        async move {
            let w = c.worker_info("vmq").await.ok()?;
            (!w.quarantined.is_empty()).then_some(w)
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", c.sched.log()))?;
    assert!(
        info.quarantined.contains("judge error"),
        "{}",
        info.quarantined
    );
    // Every job ends AC on the healthy one, none failed for the broken one.
    for id in jobs {
        let job = wait_finished(&mut judge, id).await?;
        assert_eq!(
            (job.verdict, job.worker.as_str()),
            (Verdict::Ac as i32, "healthy"),
            "{job:?}"
        );
    }
    let listed = String::from_utf8_lossy(&c.judgectl(&["workers"])?.stdout).into_owned();
    assert!(
        listed
            .lines()
            .any(|l| l.contains("vmq") && l.contains("quarantined")),
        "{listed}"
    );
    Ok(())
}

/// Kills the VMs `deploy/scale/qemu-up.sh` started under `state` (by their pid files), so a
/// failing test leaves none running.
struct StartedVms(std::path::PathBuf);

impl Drop for StartedVms {
    fn drop(&mut self) {
        for entry in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            if let Some(pid) = std::fs::read_to_string(entry.path().join("qemu.pid"))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_starts_a_worker_vm_with_the_qemu_example_and_an_idle_one_is_stopped() -> Result<()>
{
    use judge_tests::vm::worker::{scheduler_url, Download};
    let _turn = TURN.lock().await;
    let Some((image, accel)) = vm_or_skip("vm::autoscale").await? else {
        return Ok(());
    };
    let scale = tempfile::tempdir()?;
    let d = scale.path().display().to_string();
    let state = scale.path().join("vms");
    let _vms = StartedVms(state.clone());
    // The teacher's copy of worker.yaml: the download filled in; the script fills the
    // scheduler and the token it is given.
    let download = Download::start().await?;
    let user_data = vm::seed::user_data(&vm::seed::Variables {
        worker_url: download.url.clone(),
        worker_sha256: download.sha256.clone(),
        scheduler: "http://judge.example.org:7070".into(),
        token: vm::seed::TOKEN_PLACEHOLDER.into(),
    })?;
    std::fs::write(scale.path().join("worker.yaml"), user_data)?;
    let scripts = workspace().join("deploy/scale");
    let up_cmd = format!(
        "JUDGE_VM_IMAGE={disk} JUDGE_VM_IMAGE_FORMAT=raw JUDGE_VM_USER_DATA={d}/worker.yaml \
         JUDGE_VM_SCHEDULER={sched} JUDGE_VM_STATE={state} JUDGE_VM_MEMORY_MIB=3072 \
         JUDGE_VM_ACCEL={accel} JUDGE_VM_KERNEL={kernel} JUDGE_VM_INITRD={initrd} \
         JUDGE_VM_NETDEV=\"$(cat {d}/netdev)\" sh {up} && echo \"$JUDGE_SCALE_REASON\" > {d}/reason",
        disk = image.disk.display(),
        sched = scheduler_url(),
        state = state.display(),
        accel = accel.name(),
        kernel = image.kernel.display(),
        initrd = image.initrd.display(),
        up = scripts.join("qemu-up.sh").display(),
    );
    let down_cmd = format!(
        "JUDGE_VM_STATE={} sh {}",
        state.display(),
        scripts.join("qemu-down.sh").display()
    );
    let token_file = scale.path().join("token");
    let mut c = Cluster::start_scaling(
        &token_file,
        &[
            "--scale-up-command",
            &up_cmd,
            "--scale-down-command",
            &down_cmd,
            "--min-workers",
            "1",
            "--max-workers",
            "2",
            "--scale-backlog-seconds",
            "1",
            "--scale-sustain-seconds",
            "1",
            "--scale-idle-seconds",
            "5",
            "--scale-cooldown-seconds",
            "1",
            "--grace-seconds",
            "2",
        ],
    )
    .await?;
    std::fs::write(
        scale.path().join("netdev"),
        vm::netdev(&download.forwards(c.sched.addr)),
    )?;
    let limit = limit_s(accel);
    c.push_example("aplusb", "aplusb-vm", Some(limit)).await?;
    c.add_worker("w0", 1)?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    // Minutes of work for w0 alone: the VM has time to boot, join and take some.
    let burst = tokio::time::Instant::now();
    let mut ids = Vec::new();
    for _ in 0..16 {
        ids.push(
            submit(
                &mut judge,
                "aplusb-vm",
                "python3",
                &slow_aplusb(limit * 0.3),
            )
            .await?,
        );
    }
    let name = eventually("the up command started a VM", WAIT, || {
        let state = state.clone();
        async move {
            let entry = std::fs::read_dir(&state).ok()?.flatten().next()?;
            entry
                .path()
                .join("qemu.pid")
                .exists()
                .then(|| entry.file_name().to_string_lossy().into_owned())
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", c.sched.log()))?;
    assert!(name.starts_with("auto-"), "{name}");
    let pid: i32 = std::fs::read_to_string(state.join(&name).join("qemu.pid"))?
        .trim()
        .parse()?;
    let first = eventually(
        &format!("a job assigned to {name}"),
        boot_timeout(accel),
        || {
            let (judge, ids, name) = (judge.clone(), ids.clone(), name.clone());
            async move {
                for id in ids {
                    let job = judge
                        .clone()
                        .get_job(pb::GetJobRequest { job_id: id })
                        .await
                        .ok()?
                        .into_inner();
                    if job.worker == name {
                        return Some(());
                    }
                }
                None
            }
        },
    )
    .await;
    first.map_err(|e| {
        let console =
            std::fs::read_to_string(state.join(&name).join("console.log")).unwrap_or_default();
        let tail: Vec<&str> = console.lines().rev().take(40).collect();
        anyhow::anyhow!("{e}\n{}\n{}", tail.join("\n"), c.sched.log())
    })?;
    let assigned = burst.elapsed();
    // When the VM is gone, by the wall clock (the jobs' ends are stamped with it).
    let stopped = tokio::spawn(async move {
        while nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::time::SystemTime::now()
    });
    let mut on_vm = 0;
    let mut vm_idle_since = 0;
    for id in &ids {
        let job = wait_finished(&mut judge, *id).await?;
        assert_eq!(job.verdict, Verdict::Ac as i32, "{job:?}");
        if job.worker == name {
            on_vm += 1;
            vm_idle_since = vm_idle_since.max(job.finished_at_ms);
        }
    }
    assert!(on_vm > 0, "the VM's worker judged none");
    // Idle past its timeout: drained, then the down command stops the VM.
    let stopped = tokio::time::timeout(Duration::from_secs(120), stopped)
        .await
        .map_err(|_| anyhow::anyhow!("the VM did not stop\n{}", c.sched.log()))??;
    let stopped_ms = stopped.duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    eprintln!(
        "figures ({}): burst to the started worker's first assignment {:.1} s; its last job's \
         end to its VM stopped {:.1} s (idle timeout 5 s)",
        accel.name(),
        assigned.as_secs_f64(),
        (stopped_ms - vm_idle_since) as f64 / 1000.0
    );
    assert!(
        !state.join(&name).exists(),
        "the down command removed its disk"
    );
    let reason = std::fs::read_to_string(scale.path().join("reason"))?;
    assert!(reason.contains("queued"), "{reason}");
    let m = judge_tests::curl::curl(&c, "GET", "/metrics", None, &[]);
    for needle in [
        "judge_scale_decisions_total{direction=\"up\",outcome=\"decided\"} 1",
        "judge_scale_decisions_total{direction=\"down\",outcome=\"decided\"} 1",
    ] {
        assert!(m.body.contains(needle), "{needle}:\n{}", m.body);
    }
    c.workers.clear();
    Ok(())
}
