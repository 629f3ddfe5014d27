//! Every verdict in every language, judged by the real cluster in its sandbox.

use judge_common::pb::{self, Verdict};
use judge_tests::*;

const C: &[(&str, Verdict)] = &[
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

const CPP: &[(&str, Verdict)] = &[
    ("#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}\n", Verdict::Ac),
    ("#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a*b+1<<\"\\n\";}\n", Verdict::Wa),
    ("int main(){volatile unsigned long x=0;for(;;)x++;}\n", Verdict::Tle),
    ("#include <vector>\n#include <cstdio>\nint main(){std::vector<char> v(1<<30,7);std::printf(\"%d\\n\",v[9]);}\n", Verdict::Mle),
    ("#include <cstdio>\nint main(){for(;;)std::puts(\"spam spam spam spam\");}\n", Verdict::Ole),
    ("#include <stdexcept>\nint main(){throw std::runtime_error(\"boom\");}\n", Verdict::Rte),
    ("int main(){ std::cout << 1; }\n", Verdict::Ce),
    ("#include <iostream>\n#ifndef ONLINE_JUDGE\n#error no ONLINE_JUDGE\n#endif\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}\n", Verdict::Ac),
];

const PYTHON: &[(&str, Verdict)] = &[
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

const RUST: &[(&str, Verdict)] = &[
    ("use std::io::Read;\nfn main(){let mut s=String::new();std::io::stdin().read_to_string(&mut s).unwrap();let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();println!(\"{}\",v[0]+v[1]);}\n", Verdict::Ac),
    ("fn main(){println!(\"-1\");}\n", Verdict::Wa),
    ("fn main(){let mut x:u64=0;loop{x=std::hint::black_box(x+1);}}\n", Verdict::Tle),
    ("fn main(){let v=vec![7u8;1<<30];println!(\"{}\",std::hint::black_box(&v)[9]);}\n", Verdict::Mle),
    ("fn main(){loop{println!(\"spam spam spam spam\");}}\n", Verdict::Ole),
    ("fn main(){let v:Vec<u8>=Vec::new();println!(\"{}\",v[std::hint::black_box(3)]);}\n", Verdict::Rte),
    ("fn main(){ let x: u8 = \"no\"; }\n", Verdict::Ce),
];

const JAVA: &[(&str, Verdict)] = &[
    ("import java.util.Scanner;\npublic class Main{public static void main(String[] a){Scanner s=new Scanner(System.in);long x=s.nextLong(),y=s.nextLong();System.out.println(x+y);}}\n", Verdict::Ac),
    ("public class Main{public static void main(String[] a){System.out.println(0);}}\n", Verdict::Wa),
    ("public class Main{public static void main(String[] a){long x=0;while(true){x++;}}}\n", Verdict::Tle),
    // The heap is capped at the memory limit; the JVM's own OutOfMemoryError is MLE.
    ("public class Main{public static void main(String[] a){byte[][] k=new byte[4096][];for(int i=0;i<4096;i++){k[i]=new byte[1<<20];}System.out.println(k.length);}}\n", Verdict::Mle),
    ("public class Main{public static void main(String[] a){while(true){System.out.println(\"spam spam spam spam\");}}}\n", Verdict::Ole),
    ("public class Main{public static void main(String[] a){throw new RuntimeException(\"boom\");}}\n", Verdict::Rte),
    ("public class Main{public static void main(String[] a){int x = \"no\";}}\n", Verdict::Ce),
];

const JAVASCRIPT: &[(&str, Verdict)] = &[
    ("const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(BigInt);\nconsole.log(String(a + b));\n", Verdict::Ac),
    ("console.log(7);\n", Verdict::Wa),
    ("for (;;) {}\n", Verdict::Tle),
    // V8's heap is capped at the memory limit; running out of it is MLE.
    ("const k = [];\nfor (;;) k.push(new Array(1 << 20).fill(7));\n", Verdict::Mle),
    ("const fs = require('fs');\nfor (;;) fs.writeSync(1, 'spam spam spam spam\\n');\n", Verdict::Ole),
    ("throw new Error('boom');\n", Verdict::Rte),
    ("const x = ;\n", Verdict::Ce),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verdict_in_every_language() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    // The same problem with a 2 s limit, so the TLE cases end soon.
    c.push_example("aplusb", "aplusb2s", Some(2.0)).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    let mut jobs = Vec::new();
    for (lang, cases) in [
        ("c", C),
        ("cpp", CPP),
        ("python3", PYTHON),
        ("rust", RUST),
        ("java", JAVA),
        ("javascript", JAVASCRIPT),
    ] {
        for (src, want) in cases {
            jobs.push((
                lang,
                *want,
                submit(&mut judge, "aplusb2s", lang, src).await?,
            ));
        }
    }
    let mut wrong = Vec::new();
    for (lang, want, id) in jobs {
        let job = wait_finished(&mut judge, id).await?;
        if job.verdict != want as i32 {
            let got = pb::Verdict::try_from(job.verdict)
                .map(|v| v.as_str_name())
                .unwrap_or("?");
            wrong.push(format!(
                "{lang} {}: got {got} ({})",
                want.as_str_name(),
                job.message
            ));
        }
    }
    // The logs first: CI shows the end of the output.
    assert!(wrong.is_empty(), "{}\n{wrong:#?}", c.logs());
    Ok(())
}
