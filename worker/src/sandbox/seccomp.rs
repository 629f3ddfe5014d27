//! The seccomp filter of every run: what a submission, compiler or validator never needs
//! fails, so that a kernel bug behind those calls is out of reach.
//!
//! Above all, no new namespaces: a user namespace would give the run every capability inside
//! it, and with them mounts and much more of the kernel. `unshare` and `setns` are refused,
//! and so is `clone` with any namespace flag. `clone3` passes its flags in memory, which a
//! filter cannot read, so it fails with ENOSYS: libc then falls back to `clone` (threads and
//! processes still start, through the flags the filter sees).

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

/// Syscalls a submission, compiler or validator never needs; they fail with EPERM.
const DENIED: &[libc::c_long] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_open_by_handle_at,
    libc::SYS_userfaultfd,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    // The new mount API.
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
];

/// `clone` flags that make a namespace; `clone` with any of them fails with EPERM.
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

/// `seccomp_data.nr`'s offset, the first field.
const NR_OFFSET: u32 = 0;

/// The compiled filter.
pub fn filter() -> Result<BpfProgram, String> {
    let arch =
        TargetArch::try_from(std::env::consts::ARCH).map_err(|e| format!("seccomp: {e:?}"))?;
    // `c_long` is `i64` only on 64-bit targets; the conversion is needed elsewhere.
    #[allow(clippy::useless_conversion)]
    let mut rules: std::collections::BTreeMap<i64, Vec<SeccompRule>> = DENIED
        .iter()
        .map(|nr| (i64::from(*nr), Vec::new()))
        .collect();
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|flag| {
            let flag = *flag as u64;
            SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )
            .and_then(|c| SeccompRule::new(vec![c]))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("seccomp: {e}"))?;
    #[allow(clippy::useless_conversion)]
    rules.insert(i64::from(libc::SYS_clone), clone_rules);
    let compiled: BpfProgram = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .and_then(TryInto::try_into)
    .map_err(|e| format!("seccomp: {e}"))?;
    // seccompiler gives one action to every rule; clone3's ENOSYS comes first, in three
    // instructions of our own (clone3 has one number on every architecture). The program
    // after them only jumps forward within itself, so it runs unchanged.
    let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    let mut program = vec![
        insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, NR_OFFSET, 0, 0),
        insn(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            libc::SYS_clone3 as u32,
            0,
            1,
        ),
        insn(libc::BPF_RET | libc::BPF_K, enosys, 0, 0),
    ];
    program.extend(compiled);
    Ok(program)
}

/// One classic BPF instruction.
fn insn(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}
