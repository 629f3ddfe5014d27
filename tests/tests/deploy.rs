//! Every file in `deploy/` is checked: the systemd units by `systemd-analyze verify`, the
//! cloud-init user-data by `cloud-init schema`, the compose file and Dockerfiles by what they
//! name, and the example configs by the binaries' own `--check-config`.
//!
//! `systemd-analyze` and `cloud-init` are Debian packages that `.ci/run` installs; where one
//! is missing, its test says so and passes, unless `JUDGE_REQUIRE_TOOLS=1` (set by `.ci/run`)
//! makes a missing tool a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use judge_tests::{bin, workspace};

fn deploy(path: &str) -> PathBuf {
    workspace().join("deploy").join(path)
}

/// Whether `tool` can run here; panics when it cannot but must (in CI).
fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("JUDGE_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{tool} is required (JUDGE_REQUIRE_TOOLS=1) but not installed"
        );
        eprintln!("SKIPPED: {tool} is not installed (apt-get install it, or run .ci/run)");
    }
    found
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A unit with its binary pointed at the one just built.
fn unit_in(dir: &Path, name: &str, binary: &str) -> PathBuf {
    let unit = std::fs::read_to_string(deploy(&format!("systemd/{name}"))).unwrap();
    let built = bin(binary);
    let unit = unit.replace(&format!("/usr/local/bin/{binary}"), built.to_str().unwrap());
    assert!(
        unit.contains(built.to_str().unwrap()),
        "{name} runs {binary}"
    );
    let path = dir.join(name);
    std::fs::write(&path, unit).unwrap();
    path
}

#[test]
fn systemd_units_verify() {
    if !have("systemd-analyze") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    unit_in(dir.path(), "judge-scheduler.service", "judge-scheduler");
    unit_in(dir.path(), "judge-worker@.service", "judge-worker");
    // A template is verified through an instance; the instance is the worker's name.
    for unit in ["judge-scheduler.service", "judge-worker@vm1.service"] {
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(dir.path().join(unit))
            .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.path().display()))
            .output()
            .unwrap();
        let said = text(&out);
        assert!(out.status.success(), "{unit}: {said}");
        // verify exits 0 on some warnings; none is acceptable for our units.
        let ours: Vec<&str> = said.lines().filter(|l| l.contains("judge-")).collect();
        assert!(ours.is_empty(), "{unit}: {said}");
    }
    let worker = std::fs::read_to_string(deploy("systemd/judge-worker@.service")).unwrap();
    for line in [
        "Restart=on-failure",
        "Delegate=yes",
        "EnvironmentFile=/etc/judge/worker.env",
        "Environment=JUDGE_WORKER_NAME=%i",
        "ExecStart=/usr/local/bin/judge-worker",
    ] {
        assert!(worker.contains(line), "the worker unit has {line}");
    }
}

#[test]
fn cloud_init_user_data_is_valid_and_carries_the_unit() {
    let path = deploy("cloud-init/worker.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let files = doc["write_files"].as_sequence().expect("write_files");
    let file = |p: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str() == Some(p))
            .unwrap_or_else(|| panic!("{p} is written"))
    };
    let token = file("/etc/judge/worker.token");
    assert_eq!(token["permissions"].as_str(), Some("0600"));
    // The unit it installs is the one in deploy/systemd, byte for byte.
    let unit = file("/etc/systemd/system/judge-worker@.service")["content"]
        .as_str()
        .unwrap();
    let ours = std::fs::read_to_string(deploy("systemd/judge-worker@.service")).unwrap();
    assert_eq!(
        unit, ours,
        "cloud-init/worker.yaml embeds systemd/judge-worker@.service"
    );
    assert!(file("/etc/judge/install.env")["content"]
        .as_str()
        .unwrap()
        .contains("JUDGE_WORKER_URL="));
    let packages: Vec<&str> = doc["packages"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    for p in ["gcc", "g++", "python3", "default-jdk-headless", "rustc"] {
        assert!(packages.contains(&p), "installs {p}");
    }
    assert!(
        yaml.contains("judge-worker@$(hostname -s)"),
        "enables the unit by host name"
    );
    if !have("cloud-init") {
        return;
    }
    let out = Command::new("cloud-init")
        .args(["schema", "--config-file"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// The sources of a Dockerfile's `COPY` lines that come from the build context.
fn copied(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() != Some(&"COPY") || words.iter().any(|w| w.starts_with("--from")) {
            continue;
        }
        let args: Vec<&str> = words[1..]
            .iter()
            .copied()
            .filter(|w| !w.starts_with("--"))
            .collect();
        if let Some((_dest, sources)) = args.split_last() {
            out.extend(sources.iter().map(|s| s.to_string()));
        }
    }
    out
}

#[test]
fn dockerfiles_copy_only_what_exists() {
    for name in ["Dockerfile.scheduler", "Dockerfile.worker"] {
        let text = std::fs::read_to_string(deploy(&format!("docker/{name}"))).unwrap();
        let sources = copied(&text);
        assert!(
            sources.len() > 5,
            "{name} copies the workspace: {sources:?}"
        );
        for s in sources {
            assert!(
                workspace().join(&s).exists(),
                "{name} copies {s}, which does not exist"
            );
        }
        // Every workspace member is copied: cargo needs them all.
        for member in [
            "common",
            "scheduler",
            "worker",
            "cli",
            "tests",
            "proto",
            "migrations",
        ] {
            assert!(
                text.contains(&format!("COPY {member} {member}")),
                "{name} copies {member}"
            );
        }
    }
    let worker = std::fs::read_to_string(deploy("docker/Dockerfile.worker")).unwrap();
    assert!(
        worker.contains("--privileged"),
        "the worker image says what it needs"
    );
    assert!(
        worker.contains("JUDGE_REQUIRE_SANDBOX=true"),
        "and checks it at start"
    );
}

#[test]
fn compose_file_names_its_services_and_what_they_build() {
    let compose = deploy("compose.yaml");
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&compose).unwrap()).unwrap();
    let services = doc["services"].as_mapping().expect("services");
    let names: Vec<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    for s in ["postgres", "scheduler", "scheduler2", "worker1", "worker2"] {
        assert!(names.contains(&s), "compose has {s}: {names:?}");
    }
    for (name, service) in services {
        let Some(build) = service.get("build") else {
            continue;
        };
        let context = deploy("").join(build["context"].as_str().unwrap());
        let dockerfile = context.join(build["dockerfile"].as_str().unwrap());
        assert!(
            dockerfile.exists(),
            "{name:?} builds {}",
            dockerfile.display()
        );
    }
    for name in ["scheduler", "scheduler2"] {
        let env = &doc["services"][name]["environment"];
        assert!(env["JUDGE_DATABASE_URL"]
            .as_str()
            .unwrap()
            .starts_with("postgres://"));
        // Each advertises itself under its own name, as the workers dial it.
        assert_eq!(
            env["JUDGE_ADVERTISE_URL"].as_str(),
            Some(format!("http://{name}:7070").as_str())
        );
    }
    for w in ["worker1", "worker2"] {
        assert_eq!(
            doc["services"][w]["privileged"].as_bool(),
            Some(true),
            "{w}"
        );
        assert_eq!(
            doc["services"][w]["environment"]["JUDGE_SCHEDULER"].as_str(),
            Some("http://scheduler:7070,http://scheduler2:7070")
        );
    }
}

/// `--check-config` of a binary (`judge-scheduler serve` or `judge-worker`).
fn check_config(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin(binary));
    if binary == "judge-scheduler" {
        cmd.arg("serve");
    }
    cmd.args(args).arg("--check-config");
    // Nothing from the test's own environment leaks into the check.
    for (k, _) in std::env::vars() {
        if k.starts_with("JUDGE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

fn table(out: &Output) -> toml::Table {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout)
        .parse()
        .unwrap_or_else(|e| panic!("--check-config prints TOML: {e}: {}", text(out)))
}

#[test]
fn example_configs_hold_every_key_at_its_default() {
    for (binary, file) in [
        ("judge-scheduler", "config/scheduler.toml"),
        ("judge-worker", "config/worker.toml"),
    ] {
        let path = deploy(file);
        let defaults = table(&check_config(binary, &[], &[]));
        let example: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        assert_eq!(example, defaults, "{file} sets every key to its default");
        let with_file = table(&check_config(
            binary,
            &["--config", path.to_str().unwrap()],
            &[],
        ));
        assert_eq!(with_file, defaults, "{binary} accepts {file}");
    }
}

#[test]
fn a_config_file_with_an_unknown_key_or_a_bad_value_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (binary, good, bad_key, bad_value) in [
        (
            "judge-scheduler",
            "max_queued = 5\n",
            "max_qeued = 5\n",
            "max_attempts = 0\n",
        ),
        ("judge-worker", "slots = 2\n", "slot = 2\n", "slots = 0\n"),
    ] {
        let run = |body: &str| {
            let path = dir.path().join(format!("{binary}.toml"));
            std::fs::write(&path, body).unwrap();
            check_config(binary, &["--config", path.to_str().unwrap()], &[])
        };
        assert!(run(good).status.success(), "{}", text(&run(good)));
        let out = run(bad_key);
        let key = bad_key.split(' ').next().unwrap();
        assert!(!out.status.success(), "{binary} refuses {key}");
        assert!(text(&out).contains(key), "names {key}: {}", text(&out));
        let out = run(bad_value);
        let key = bad_value.split(' ').next().unwrap();
        assert!(!out.status.success(), "{binary} refuses {bad_value}");
        assert!(text(&out).contains(key), "names {key}: {}", text(&out));
        let out = run("slots = \"many\"\nmax_queued = \"many\"\n");
        assert!(
            !out.status.success(),
            "a wrong type is refused: {}",
            text(&out)
        );
    }
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("worker.toml");
    std::fs::write(
        &path,
        "slots = 2\ncache_size = \"1GiB\"\nname = \"from-file\"\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let t = table(&check_config(
        "judge-worker",
        &["--config", file],
        &[("JUDGE_SLOTS", "3")],
    ));
    assert_eq!(t["slots"].as_integer(), Some(3), "environment over file");
    assert_eq!(t["cache_size"].as_str(), Some("1GiB"), "file over default");
    assert_eq!(t["name"].as_str(), Some("from-file"));
    let t = table(&check_config(
        "judge-worker",
        &["--config", file, "--slots", "4"],
        &[("JUDGE_SLOTS", "3")],
    ));
    assert_eq!(t["slots"].as_integer(), Some(4), "flag over environment");
    // The config file may come from the environment too.
    let t = table(&check_config(
        "judge-worker",
        &[],
        &[("JUDGE_WORKER_CONFIG", file)],
    ));
    assert_eq!(t["slots"].as_integer(), Some(2));
}

#[test]
fn every_default_is_in_help() {
    for (binary, args) in [
        ("judge-scheduler", &["serve", "--help"][..]),
        ("judge-worker", &["--help"][..]),
    ] {
        let out = Command::new(bin(binary)).args(args).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        let defaults = table(&check_config(binary, &[], &[]));
        for (key, value) in defaults {
            let flag = format!("--{}", key.replace('_', "-"));
            let shown = match &value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                // clap shows 10.0 as 10, as Rust prints it.
                toml::Value::Float(f) => f.to_string(),
                other => other.to_string(),
            };
            let start = help
                .find(&format!("{flag} <"))
                .unwrap_or_else(|| panic!("{binary} --help lists {flag}"));
            let rest = &help[start + flag.len()..];
            let end = rest
                .find("\n      -")
                .or(rest.find("\n  -"))
                .unwrap_or(rest.len());
            let entry = &rest[..end];
            assert!(
                entry.contains(&format!("[default: {shown}]")),
                "{binary} --help shows {flag}'s default {shown}: {entry}"
            );
        }
    }
}

#[test]
fn a_worker_that_requires_the_sandbox_refuses_to_start_without_it() {
    use std::os::unix::process::CommandExt;
    // Started as nobody (when we are root): no isolation and no cgroup of its own to write.
    let dir = tempfile::tempdir().unwrap();
    let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o777);
    std::fs::set_permissions(dir.path(), perms).unwrap();
    let mut cmd = Command::new(bin("judge-worker"));
    cmd.args([
        "--token",
        "unused",
        "--require-sandbox",
        "true",
        "--work-dir",
    ])
    .arg(dir.path().join("work"))
    .env_remove("RUST_BACKTRACE")
    .current_dir(dir.path());
    if nix::unistd::geteuid().is_root() {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("the sandbox is required (require_sandbox) but incomplete")
            && said.contains("not root, so no isolation"),
        "{said}"
    );
}

#[test]
fn env_examples_set_only_variables_the_binaries_read() {
    for (file, binary, args) in [
        (
            "systemd/worker.env.example",
            "judge-worker",
            &["--help"][..],
        ),
        (
            "systemd/scheduler.env.example",
            "judge-scheduler",
            &["serve", "--help"][..],
        ),
    ] {
        let help = text(&Command::new(bin(binary)).args(args).output().unwrap());
        let body = std::fs::read_to_string(deploy(file)).unwrap();
        let mut seen = 0;
        for line in body.lines().map(|l| l.trim_start_matches("# ").trim()) {
            let Some((key, _)) = line.split_once('=') else {
                continue;
            };
            if !key.chars().all(|c| c.is_ascii_uppercase() || c == '_') || key.is_empty() {
                continue;
            }
            seen += 1;
            assert!(
                key == "RUST_LOG" || help.contains(&format!("[env: {key}")),
                "{file} sets {key}, which {binary} does not read"
            );
        }
        assert!(seen > 0, "{file} sets something");
    }
}

#[test]
fn every_deploy_file_is_in_the_guide() {
    let guide = std::fs::read_to_string(deploy("README.md")).unwrap();
    let mut stack = vec![deploy("")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(deploy(""))
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            if rel == "README.md" {
                continue;
            }
            let listed = guide.contains(&format!("`{rel}`"))
                || (rel.ends_with(".env.example") && guide.contains("`systemd/*.env.example`"));
            assert!(listed, "deploy/README.md lists {rel}");
        }
    }
}
