//! Programs with known verdicts, shared by the tests that judge them on this host and in a
//! VM: the same set must give the same verdicts wherever a worker runs.

use judge_common::pb::{self, Verdict};
use judgectl::Authed;

use crate::{submit, wait_finished};

type Judge = pb::judge_service_client::JudgeServiceClient<Authed>;

/// Solves `aplusb` in Python.
const SOLVE: &str = "a, b = map(int, input().split())\nprint(a + b)\n";

pub const C: &[(&str, Verdict)] = &[
    ("#include <stdio.h>\nint main(void){long long a,b;scanf(\"%lld %lld\",&a,&b);printf(\"%lld\\n\",a+b);return 0;}\n", Verdict::Ac),
    ("#include <stdio.h>\nint main(void){long long a,b;scanf(\"%lld %lld\",&a,&b);printf(\"%lld\\n\",a-b);return 0;}\n", Verdict::Wa),
    ("int main(void){volatile unsigned long x=0;for(;;)x++;}\n", Verdict::Tle),
    // volatile: gcc -O2 would otherwise drop an allocation whose contents nobody reads.
    ("#include <stdlib.h>\nint main(void){volatile char*p=malloc(1L<<30);for(long i=0;i<(1L<<30);i+=4096)p[i]=1;return 0;}\n", Verdict::Mle),
    ("#include <stdio.h>\nint main(void){for(;;)puts(\"spam spam spam spam\");}\n", Verdict::Ole),
    ("int main(void){int*p=0;return *p;}\n", Verdict::Rte),
    ("int main(void){ return nope; }\n", Verdict::Ce),
    // POSIX and ONLINE_JUDGE, as contests compile C (the GNU dialect, not strict ISO C).
    ("#include <stdio.h>\n#include <time.h>\n#include <unistd.h>\n#include <sys/types.h>\n#ifndef ONLINE_JUDGE\n#error no ONLINE_JUDGE\n#endif\nint main(int argc,char**argv){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);pid_t p=getpid();if(argc>5){setsid();fork();}long long a,b;scanf(\"%lld %lld\",&a,&b);printf(\"%lld\\n\",a+b);return p<0;}\n", Verdict::Ac),
];

pub const CPP: &[(&str, Verdict)] = &[
    ("#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}\n", Verdict::Ac),
    ("#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a*b+1<<\"\\n\";}\n", Verdict::Wa),
    ("int main(){volatile unsigned long x=0;for(;;)x++;}\n", Verdict::Tle),
    ("#include <vector>\n#include <cstdio>\nint main(){std::vector<char> v(1<<30,7);std::printf(\"%d\\n\",v[9]);}\n", Verdict::Mle),
    ("#include <cstdio>\nint main(){for(;;)std::puts(\"spam spam spam spam\");}\n", Verdict::Ole),
    ("#include <stdexcept>\nint main(){throw std::runtime_error(\"boom\");}\n", Verdict::Rte),
    ("int main(){ std::cout << 1; }\n", Verdict::Ce),
    ("#include <iostream>\n#ifndef ONLINE_JUDGE\n#error no ONLINE_JUDGE\n#endif\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}\n", Verdict::Ac),
];

pub const PYTHON: &[(&str, Verdict)] = &[
    (
        "a, b = map(int, input().split())\nprint(a + b)\n",
        Verdict::Ac,
    ),
    ("print(42)\n", Verdict::Wa),
    ("while True:\n    pass\n", Verdict::Tle),
    ("x = b'x' * (1 << 30)\nprint(len(x))\n", Verdict::Mle),
    (
        "while True:\n    print('spam spam spam spam')\n",
        Verdict::Ole,
    ),
    ("raise SystemExit(3)\n", Verdict::Rte),
    ("def broken(:\n    pass\n", Verdict::Ce),
];

pub const RUST: &[(&str, Verdict)] = &[
    ("use std::io::Read;\nfn main(){let mut s=String::new();std::io::stdin().read_to_string(&mut s).unwrap();let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();println!(\"{}\",v[0]+v[1]);}\n", Verdict::Ac),
    ("fn main(){println!(\"-1\");}\n", Verdict::Wa),
    ("fn main(){let mut x:u64=0;loop{x=x.wrapping_add(std::env::args().count() as u64);if x==u64::MAX{println!(\"{}\",x);}}}\n", Verdict::Tle),
    ("fn main(){let v=vec![7u8;1<<30];println!(\"{}\",v[std::env::args().count()*4096]);}\n", Verdict::Mle),
    ("fn main(){loop{println!(\"spam spam spam spam\");}}\n", Verdict::Ole),
    ("fn main(){let v:Vec<u8>=Vec::new();println!(\"{}\",v[std::env::args().count()+2]);}\n", Verdict::Rte),
    ("fn main(){ let x: u8 = \"no\"; }\n", Verdict::Ce),
];

pub const JAVA: &[(&str, Verdict)] = &[
    ("import java.util.Scanner;\npublic class Main{public static void main(String[] a){Scanner s=new Scanner(System.in);long x=s.nextLong(),y=s.nextLong();System.out.println(x+y);}}\n", Verdict::Ac),
    ("public class Main{public static void main(String[] a){System.out.println(0);}}\n", Verdict::Wa),
    ("public class Main{public static void main(String[] a){long x=0;while(true){x++;}}}\n", Verdict::Tle),
    // The heap is capped at the memory limit; the JVM's own OutOfMemoryError is MLE.
    ("public class Main{public static void main(String[] a){byte[][] k=new byte[4096][];for(int i=0;i<4096;i++){k[i]=new byte[1<<20];}System.out.println(k.length);}}\n", Verdict::Mle),
    ("public class Main{public static void main(String[] a){while(true){System.out.println(\"spam spam spam spam\");}}}\n", Verdict::Ole),
    ("public class Main{public static void main(String[] a){throw new RuntimeException(\"boom\");}}\n", Verdict::Rte),
    ("public class Main{public static void main(String[] a){int x = \"no\";}}\n", Verdict::Ce),
];

pub const JAVASCRIPT: &[(&str, Verdict)] = &[
    ("const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(BigInt);\nconsole.log(String(a + b));\n", Verdict::Ac),
    ("console.log(7);\n", Verdict::Wa),
    ("for (;;) {}\n", Verdict::Tle),
    // V8's heap is capped at the memory limit; running out of it is MLE.
    ("const k = [];\nfor (;;) k.push(new Array(1 << 20).fill(7));\n", Verdict::Mle),
    ("const fs = require('fs');\nfor (;;) fs.writeSync(1, 'spam spam spam spam\\n');\n", Verdict::Ole),
    ("throw new Error('boom');\n", Verdict::Rte),
    ("const x = ;\n", Verdict::Ce),
];

/// Every language's cases, by language id.
pub const VERDICTS: &[(&str, &[(&str, Verdict)])] = &[
    ("c", C),
    ("cpp", CPP),
    ("python3", PYTHON),
    ("rust", RUST),
    ("java", JAVA),
    ("javascript", JAVASCRIPT),
];

/// Hostile Python submissions for `aplusb` with a short time limit, and the verdict each must
/// get (`None`: anything but AC and JE). `port` is a port on the worker's host that a run must
/// not reach.
pub fn attacks(port: u16) -> Vec<(&'static str, String, Option<Verdict>)> {
    let solve = SOLVE;
    vec![
        (
            "fork bomb",
            "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n".into(),
            None,
        ),
        (
            "kill(-1)",
            // ESRCH: there is nobody it may signal.
            format!("import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept ProcessLookupError:\n    pass\n{solve}"),
            Some(Verdict::Ac),
        ),
        (
            "a detached child",
            format!("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\nelse:\n    {}", solve.replace('\n', "\n    ")),
            Some(Verdict::Ac),
        ),
        (
            "a network connect",
            format!("import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n{solve}"),
            Some(Verdict::Rte),
        ),
        (
            "unshare, mount, ptrace",
            format!("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nrefused = [libc.unshare(0x20000) != 0, libc.mount(b'none', b'/box', b'tmpfs', 0, None) != 0, libc.ptrace(0, 0, None, None) != 0]\nif not all(refused):\n    raise SystemExit('escaped')\n{solve}"),
            Some(Verdict::Ac),
        ),
        (
            "filling /tmp",
            format!("try:\n    with open('/tmp/fill', 'wb') as f:\n        while True:\n            f.write(b'x' * (1 << 20))\nexcept OSError:\n    pass\n{solve}"),
            Some(Verdict::Ac),
        ),
        ("sleeping forever", "import time\ntime.sleep(10 ** 6)\n".into(), Some(Verdict::Tle)),
        ("a memory bomb", "x = b'x' * (1 << 31)\n".into(), Some(Verdict::Mle)),
        ("endless output", "while True:\n    print('spam' * 64)\n".into(), Some(Verdict::Ole)),
    ]
}

/// A Python submission for `aplusb` looking for what a run must not see: any of `paths`
/// (the worker's cache of inputs and answers, its files, the scheduler's data), and the
/// worker's `token` in any process's command line or environment. It prints the right sum
/// only if it finds nothing (AC), else what it found (WA).
pub fn hidden_data_probe(paths: &[String], token: &str) -> String {
    format!(
        r#"import os
a, b = map(int, input().split())
found = [p for p in {paths:?} if os.path.exists(p)]
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        text = open(f'/proc/{{pid}}/cmdline').read() + open(f'/proc/{{pid}}/environ').read()
    except OSError:
        continue
    if {token:?} in text:
        found.append('the token, in /proc/' + pid)
found += [k for k, v in os.environ.items() if {token:?} in v]
print(a + b if not found else 'FOUND ' + ' '.join(found))
"#
    )
}

/// What a cgroup case checks beyond its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Only the verdict.
    Verdict,
    /// The reported peak memory of some test is at least this many MiB.
    PeakAtLeastMib(u64),
    /// The reported peak memory of every test is below this many MiB: a run's peak is its
    /// own, not an earlier run's in a reused group.
    PeakBelowMib(u64),
}

/// What the sandbox's cgroups must enforce and report, on v1 and v2 alike, as programs for
/// `aplusb` with a time limit of `limit_s` seconds: (name, language, source, verdict, check).
pub fn cgroup_cases(limit_s: f64) -> Vec<(&'static str, &'static str, String, Verdict, Check)> {
    // Each of four threads or processes burns 40 % of the limit: only their sum is over it.
    let share_ms = (limit_s * 400.0) as u64;
    let burn = format!(
        "static void burn(clockid_t c){{struct timespec t;for(;;){{clock_gettime(c,&t);if(t.tv_sec*1000+t.tv_nsec/1000000>={share_ms})return;}}}}\n"
    );
    vec![
        (
            "one process of many killed for memory",
            "python3",
            format!("import os\nkids = []\nfor i in range(3):\n    pid = os.fork()\n    if pid == 0:\n        if i == 1:\n            x = bytearray(1 << 30)\n        os._exit(0)\n    kids.append(pid)\nfor pid in kids:\n    os.waitpid(pid, 0)\n{SOLVE}"),
            Verdict::Mle,
            Check::Verdict,
        ),
        (
            "the process limit refuses forks past it",
            "python3",
            format!("import os, time\nrefused = False\nfor _ in range(2000):\n    try:\n        if os.fork() == 0:\n            time.sleep(30)\n            os._exit(0)\n    except OSError:\n        refused = True\n        break\nif refused:\n    {}", SOLVE.trim_end().replace('\n', "\n    ")),
            Verdict::Ac,
            Check::Verdict,
        ),
        (
            "CPU time summed over threads",
            "c",
            format!("#include <pthread.h>\n#include <stdio.h>\n#include <time.h>\n{burn}static void*run(void*a){{(void)a;burn(CLOCK_THREAD_CPUTIME_ID);return 0;}}\nint main(void){{pthread_t t[4];for(int i=0;i<4;i++)pthread_create(&t[i],0,run,0);for(int i=0;i<4;i++)pthread_join(t[i],0);long long a,b;if(scanf(\"%lld %lld\",&a,&b)!=2)return 1;printf(\"%lld\\n\",a+b);return 0;}}\n"),
            Verdict::Tle,
            Check::Verdict,
        ),
        (
            "CPU time summed over processes",
            "c",
            format!("#include <stdio.h>\n#include <time.h>\n#include <unistd.h>\n#include <sys/wait.h>\n{burn}int main(void){{for(int i=0;i<4;i++)if(fork()==0){{burn(CLOCK_PROCESS_CPUTIME_ID);_exit(0);}}while(wait(0)>0);long long a,b;if(scanf(\"%lld %lld\",&a,&b)!=2)return 1;printf(\"%lld\\n\",a+b);return 0;}}\n"),
            Verdict::Tle,
            Check::Verdict,
        ),
        (
            "peak memory reported",
            "python3",
            format!("x = bytearray(120 << 20)\n{SOLVE}"),
            Verdict::Ac,
            Check::PeakAtLeastMib(120),
        ),
        (
            "a small program's peak is its own",
            "python3",
            SOLVE.to_string(),
            Verdict::Ac,
            Check::PeakBelowMib(100),
        ),
    ]
}

/// One case to judge: name, language, source, the verdict it must get, what else to check.
pub type Case = (&'static str, &'static str, String, Verdict, Check);

/// Every language's verdict cases as [`Case`]s.
pub fn verdict_cases() -> Vec<Case> {
    VERDICTS
        .iter()
        .flat_map(|(lang, cases)| {
            cases
                .iter()
                .map(move |(src, want)| (*lang, *lang, src.to_string(), *want, Check::Verdict))
        })
        .collect()
}

/// Submits every case to `problem` at once, waits for all, and lists those judged otherwise
/// than they must be (empty: all as expected).
pub async fn judge_all(
    judge: &mut Judge,
    problem: &str,
    cases: Vec<Case>,
) -> anyhow::Result<Vec<String>> {
    let mut jobs = Vec::new();
    for case in cases {
        let id = submit(judge, problem, case.1, &case.2).await?;
        jobs.push((case, id));
    }
    let mut wrong = Vec::new();
    for ((name, lang, _, want, check), id) in jobs {
        let job = wait_finished(judge, id).await?;
        let got = Verdict::try_from(job.verdict).map_or("?", |v| v.as_str_name());
        if job.verdict != want as i32 {
            wrong.push(format!(
                "{lang} {name}: {} wanted, got {got} ({})",
                want.as_str_name(),
                job.message
            ));
            continue;
        }
        let peak = job.tests.iter().map(|t| t.memory_kb).max().unwrap_or(0);
        match check {
            Check::Verdict => {}
            Check::PeakAtLeastMib(mib) if peak < mib * 1024 => wrong.push(format!(
                "{lang} {name}: a peak of {peak} KiB reported, {mib} MiB or more wanted"
            )),
            Check::PeakBelowMib(mib) if peak >= mib * 1024 => wrong.push(format!(
                "{lang} {name}: a peak of {peak} KiB reported, below {mib} MiB wanted"
            )),
            Check::PeakAtLeastMib(_) | Check::PeakBelowMib(_) => {}
        }
    }
    Ok(wrong)
}
