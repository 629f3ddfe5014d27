/* What each part of a sandboxed run costs the kernel, apart from the worker: the median time
 * to clone and exec /bin/true (CLONE_VM | CLONE_VFORK, as the spawn helper does) with one
 * part added at a time. Needs root. Run: bash tests/probes/run
 * Figures in BENCHMARKS.md ("where the remaining +0.5 ms is"). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS 301
enum { PROC = 1, TMP = 2, FILTER = 4, CGROUPS = 8 };

static struct sock_filter filter[100];
static struct sock_fprog program;
static int cgroup_fds[3], cgroup_count;
static int parts;
static char stack[1 << 16];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int child(void *unused) {
    (void)unused;
    if (parts & CGROUPS)
        for (int i = 0; i < cgroup_count; i++)
            if (write(cgroup_fds[i], "0", 1) != 1) _exit(3);
    if ((parts & TMP) && mount("tmpfs", "/tmp", "tmpfs", 0, "size=1m")) _exit(4);
    if ((parts & PROC) && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0)) _exit(5);
    if (parts & FILTER) {
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program)) _exit(6);
    }
    char *argv[] = {"/bin/true", 0}, *envp[] = {0};
    execve("/bin/true", argv, envp);
    _exit(127);
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void measure(const char *name, int flags, int with) {
    double t[RUNS];
    parts = with;
    for (int i = 0; i < RUNS; i++) {
        double start = now();
        int pid = clone(child, stack + sizeof stack, flags | SIGCHLD | CLONE_VM | CLONE_VFORK, 0);
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || status != 0) {
            fprintf(stderr, "%s: failed (status %x)\n", name, status);
            exit(1);
        }
        t[i] = now() - start;
    }
    qsort(t, RUNS, sizeof t[0], by_value);
    printf("%-34s %.3f ms\n", name, t[RUNS / 2]);
}

/* A filter of the sandbox's size: arch check, then 30 syscalls refused. */
static void build_filter(void) {
    int n = 0, nrs[] = {165, 166, 155, 161, 101, 310, 311, 321, 298, 250, 248, 249, 272, 308, 175,
                        313, 176, 246, 169, 167, 168, 304, 323, 163, 164, 227, 170, 171, 172, 173};
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (int i = 0; i < 30; i++) {
        filter[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nrs[i], 0, 1);
        filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1);
    }
    filter[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    program.len = n;
    program.filter = filter;
}

/* Run groups in the v1 memory, pids and cpuacct hierarchies, if this host has them. */
static void open_cgroups(void) {
    const char *dirs[] = {"/sys/fs/cgroup/memory/judge-probe", "/sys/fs/cgroup/pids/judge-probe",
                          "/sys/fs/cgroup/cpuacct/judge-probe"};
    char path[256];
    for (int i = 0; i < 3; i++) {
        mkdir(dirs[i], 0755);
        snprintf(path, sizeof path, "%s/cgroup.procs", dirs[i]);
        int fd = open(path, O_WRONLY);
        if (fd >= 0) cgroup_fds[cgroup_count++] = fd;
    }
}

static void close_cgroups(void) {
    rmdir("/sys/fs/cgroup/memory/judge-probe");
    rmdir("/sys/fs/cgroup/pids/judge-probe");
    rmdir("/sys/fs/cgroup/cpuacct/judge-probe");
}

int main(void) {
    /* Mounts made by the probes stay in a namespace of this program's own. */
    if (unshare(CLONE_NEWNS) || mount(0, "/", 0, MS_REC | MS_PRIVATE, 0)) {
        perror("needs root: unshare");
        return 1;
    }
    build_filter();
    open_cgroups();
    int all = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
    measure("bare clone + exec", 0, 0);
    measure("+ PID namespace", CLONE_NEWPID, 0);
    measure("+ mount namespace", CLONE_NEWNS, 0);
    measure("+ IPC namespace", CLONE_NEWIPC, 0);
    measure("+ UTS namespace", CLONE_NEWUTS, 0);
    measure("+ all four, /proc and /tmp", all, PROC | TMP);
    if (cgroup_count) {
        printf("(%d cgroup hierarchies)\n", cgroup_count);
        measure("+ joining the cgroups", 0, CGROUPS);
    }
    measure("+ installing the seccomp filter", 0, FILTER);
    measure("bare clone + exec, again", 0, 0);
    measure("everything", all, PROC | TMP | FILTER | (cgroup_count ? CGROUPS : 0));
    close_cgroups();
    return 0;
}
