"""Static syscall data: every name some Linux architecture knows, capabilities, architectures.

The name list is the union over all architectures of libseccomp 2.5.4's tables plus syscalls
added to Linux after it (6.x: mseal, statmount, lsm_*, …), so that validation does not depend
on the libseccomp installed and does not flag names newer than it.
"""

from __future__ import annotations

KNOWN_SYSCALLS: frozenset[str] = frozenset(
    """
    _llseek _newselect _sysctl accept accept4 access acct add_key adjtimex afs_syscall alarm
    arch_prctl arm_fadvise64_64 arm_sync_file_range bdflush bind bpf break brk cachectl
    cacheflush cachestat capget capset chdir chmod chown chown32 chroot clock_adjtime
    clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
    clock_nanosleep clock_nanosleep_time64 clock_settime clock_settime64 clone clone3 close
    close_range connect copy_file_range creat create_module delete_module dup dup2 dup3
    epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
    epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2
    fadvise64 fadvise64_64 fallocate fanotify_init fanotify_mark fchdir fchmod fchmodat
    fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr file_getattr
    file_setattr finit_module flistxattr flock fork fremovexattr fsconfig fsetxattr fsmount
    fsopen fspick fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftime ftruncate
    ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat
    get_kernel_syms get_mempolicy get_robust_list get_thread_area get_tls getcpu getcwd
    getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
    getgroups32 getitimer getpeername getpgid getpgrp getpid getpmsg getppid getpriority
    getrandom getresgid getresgid32 getresuid getresuid32 getrlimit getrusage getsid
    getsockname getsockopt gettid gettimeofday getuid getuid32 getxattr getxattrat gtty idle
    init_module inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
    io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit
    io_uring_enter io_uring_register io_uring_setup ioctl ioperm iopl ioprio_get ioprio_set
    ipc kcmp kexec_file_load kexec_load keyctl kill landlock_add_rule
    landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat
    listen listmount listxattr listxattrat llistxattr lock lookup_dcookie lremovexattr lseek
    lsetxattr lsm_get_self_attr lsm_list_modules lsm_set_self_attr lstat lstat64 madvise
    map_shadow_stack mbind membarrier memfd_create memfd_secret migrate_pages mincore mkdir
    mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 modify_ldt mount mount_setattr
    move_mount move_pages mprotect mpx mq_getsetattr mq_notify mq_open mq_timedreceive
    mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl
    msgget msgrcv msgsnd msync multiplexer munlock munlockall munmap name_to_handle_at
    nanosleep newfstatat nfsservctl nice oldfstat oldlstat oldolduname oldstat olduname open
    open_by_handle_at open_tree open_tree_attr openat openat2 pause pciconfig_iobase
    pciconfig_read pciconfig_write perf_event_open personality pidfd_getfd pidfd_open
    pidfd_send_signal pipe pipe2 pivot_root pkey_alloc pkey_free pkey_mprotect poll ppoll
    ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_madvise process_mrelease
    process_vm_readv process_vm_writev prof profil pselect6 pselect6_time64 ptrace putpmsg
    pwrite64 pwritev pwritev2 query_module quotactl quotactl_fd read readahead readdir
    readlink readlinkat readv reboot recv recvfrom recvmmsg recvmmsg_time64 recvmsg
    remap_file_pages removexattr removexattrat rename renameat renameat2 request_key
    restart_syscall riscv_flush_icache riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending
    rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
    rt_sigtimedwait_time64 rt_tgsigqueueinfo rtas s390_guarded_storage s390_pci_mmio_read
    s390_pci_mmio_write s390_runtime_instr s390_sthyi sched_get_priority_max
    sched_get_priority_min sched_getaffinity sched_getattr sched_getparam sched_getscheduler
    sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
    sched_setparam sched_setscheduler sched_yield seccomp security select semctl semget
    semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto
    set_mempolicy set_mempolicy_home_node set_robust_list set_thread_area set_tid_address
    set_tls setdomainname setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups
    setgroups32 sethostname setitimer setns setpgid setpriority setregid setregid32
    setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid
    setsockopt settimeofday setuid setuid32 setxattr setxattrat sgetmask shmat shmctl shmdt
    shmget shutdown sigaction sigaltstack signal signalfd signalfd4 sigpending sigprocmask
    sigreturn sigsuspend socket socketcall socketpair splice spu_create spu_run ssetmask
    stat stat64 statfs statfs64 statmount statx stime stty subpage_prot swapcontext swapoff
    swapon switch_endian symlink symlinkat sync sync_file_range sync_file_range2 syncfs
    sys_debug_setcontext syscall sysfs sysinfo syslog sysmips tee tgkill time timer_create
    timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
    timer_settime64 timerfd timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
    timerfd_settime64 times tkill truncate truncate64 tuxcall ugetrlimit ulimit umask umount
    umount2 uname unlink unlinkat unshare uretprobe uselib userfaultfd usr26 usr32 ustat
    utime utimensat utimensat_time64 utimes vfork vhangup vm86 vm86old vmsplice vserver
    wait4 waitid waitpid write breakpoint writev
    """.split()  # noqa: SIM905 - a word list reads better than 500 quoted strings
)

#: Linux capabilities by their ``CAP_`` names (as Docker writes them in seccomp conditions).
ALL_CAPABILITIES: frozenset[str] = frozenset(
    "CAP_" + c
    for c in """
        CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
        LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
        SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE
        SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP
        MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF
        CHECKPOINT_RESTORE
    """.split()  # noqa: SIM905
)

#: The bounding set Docker gives a container unless told otherwise (``docker run`` defaults).
DOCKER_DEFAULT_CAPABILITIES: frozenset[str] = frozenset(
    "CAP_" + c
    for c in """
        CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP
        NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE
    """.split()  # noqa: SIM905
)

#: libseccomp architecture tokens accepted in ``architectures`` / ``archMap``.
SCMP_ARCHES: frozenset[str] = frozenset(
    "SCMP_ARCH_" + a
    for a in [
        "X86",
        "X86_64",
        "X32",
        "ARM",
        "AARCH64",
        "MIPS",
        "MIPS64",
        "MIPS64N32",
        "MIPSEL",
        "MIPSEL64",
        "MIPSEL64N32",
        "PPC",
        "PPC64",
        "PPC64LE",
        "S390",
        "S390X",
        "PARISC",
        "PARISC64",
        "RISCV64",
        "LOONGARCH64",
    ]
)

#: Architecture names moby compares ``includes.arches`` / ``excludes.arches`` with (its
#: "libseccomp strings", derived from GOARCH), plus spellings found in published profiles.
CONDITION_ARCHES: frozenset[str] = frozenset(
    """
    x86 386 amd64 x32 arm arm64 mips mipsle mipsel mips64 mips64le mipsel64 mips64n32
    mipsel64n32 mips3l64n32 ppc ppc64 ppc64le s390 s390x parisc parisc64 riscv64 loong64
    loongarch64
    """.split()  # noqa: SIM905 - a word list reads better than 500 quoted strings
)

#: Condition arch name -> the libseccomp token of that native architecture.
NATIVE_SCMP_ARCH: dict[str, str] = {
    "x86": "SCMP_ARCH_X86",
    "amd64": "SCMP_ARCH_X86_64",
    "arm": "SCMP_ARCH_ARM",
    "arm64": "SCMP_ARCH_AARCH64",
    "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mipsel": "SCMP_ARCH_MIPSEL",
    "ppc": "SCMP_ARCH_PPC",
    "ppc64": "SCMP_ARCH_PPC64",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "s390": "SCMP_ARCH_S390",
    "s390x": "SCMP_ARCH_S390X",
    "riscv64": "SCMP_ARCH_RISCV64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
}

#: ``uname -m`` -> moby's condition arch name.
MACHINE_TO_ARCH: dict[str, str] = {
    "x86_64": "amd64",
    "i386": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loong64",
    "mips64": "mips64",
}

#: Sub-architectures Docker's default profile pairs with each native architecture.
SUB_ARCHES: dict[str, tuple[str, ...]] = {
    "SCMP_ARCH_X86_64": ("SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "SCMP_ARCH_AARCH64": ("SCMP_ARCH_ARM",),
    "SCMP_ARCH_S390X": ("SCMP_ARCH_S390",),
    "SCMP_ARCH_MIPS64": ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"),
    "SCMP_ARCH_MIPSEL64": ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"),
}

SECCOMP_FLAGS: frozenset[str] = frozenset(
    {
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    }
)

ENOSYS = 38
EPERM = 1


#: Syscalls Docker's default profile never allows or allows only behind a gate, with that
#: gate, a severity and why it matters.  Encoded here (not read from a reference profile) so
#: that the linter works on its own.
GATED_SYSCALLS: tuple[tuple[str, str, str, str], ...] = (
    # name, gate in Docker's default, severity, why
    ("mount", "CAP_SYS_ADMIN", "HIGH", "mounting filesystems"),
    ("umount", "CAP_SYS_ADMIN", "HIGH", "unmounting filesystems"),
    ("umount2", "CAP_SYS_ADMIN", "HIGH", "unmounting filesystems"),
    ("fsopen", "CAP_SYS_ADMIN", "HIGH", "new mount API"),
    ("fsmount", "CAP_SYS_ADMIN", "HIGH", "new mount API"),
    ("fsconfig", "CAP_SYS_ADMIN", "HIGH", "new mount API"),
    ("fspick", "CAP_SYS_ADMIN", "HIGH", "new mount API"),
    ("move_mount", "CAP_SYS_ADMIN", "HIGH", "new mount API"),
    ("open_tree", "CAP_SYS_ADMIN", "HIGH", "new mount API"),
    ("mount_setattr", "CAP_SYS_ADMIN", "HIGH", "changing mount attributes"),
    ("pivot_root", "CAP_SYS_ADMIN", "HIGH", "changing the root filesystem"),
    (
        "unshare",
        "CAP_SYS_ADMIN",
        "HIGH",
        "creating namespaces (user namespaces expose kernel attack surface)",
    ),
    ("setns", "CAP_SYS_ADMIN", "HIGH", "joining other namespaces"),
    ("bpf", "CAP_SYS_ADMIN or CAP_BPF", "HIGH", "loading eBPF programs into the kernel"),
    ("clone3", "CAP_SYS_ADMIN", "MEDIUM", "creating namespaces; its flags cannot be filtered"),
    ("init_module", "CAP_SYS_MODULE", "HIGH", "loading kernel modules"),
    ("finit_module", "CAP_SYS_MODULE", "HIGH", "loading kernel modules"),
    ("delete_module", "CAP_SYS_MODULE", "HIGH", "unloading kernel modules"),
    ("kexec_load", "never allowed", "HIGH", "loading a new kernel"),
    ("kexec_file_load", "never allowed", "HIGH", "loading a new kernel"),
    (
        "open_by_handle_at",
        "CAP_DAC_READ_SEARCH",
        "HIGH",
        "opening host files by handle (the 'shocker' escape)",
    ),
    (
        "ptrace",
        "CAP_SYS_PTRACE, or kernel ≥ 4.8",
        "HIGH",
        "before Linux 4.8 ptrace bypasses seccomp",
    ),
    (
        "process_vm_writev",
        "CAP_SYS_PTRACE, or kernel ≥ 4.8",
        "MEDIUM",
        "writing other processes' memory",
    ),
    (
        "process_vm_readv",
        "CAP_SYS_PTRACE, or kernel ≥ 4.8",
        "MEDIUM",
        "reading other processes' memory",
    ),
    ("pidfd_getfd", "CAP_SYS_PTRACE", "MEDIUM", "stealing file descriptors from other processes"),
    ("kcmp", "CAP_SYS_PTRACE", "LOW", "comparing kernel objects of other processes"),
    ("iopl", "CAP_SYS_RAWIO", "HIGH", "raw I/O port access"),
    ("ioperm", "CAP_SYS_RAWIO", "HIGH", "raw I/O port access"),
    ("reboot", "CAP_SYS_BOOT", "MEDIUM", "rebooting the host"),
    ("swapon", "never allowed", "MEDIUM", "changing host swap"),
    ("swapoff", "never allowed", "MEDIUM", "changing host swap"),
    ("keyctl", "never allowed", "MEDIUM", "the kernel keyring is not namespaced"),
    ("add_key", "never allowed", "MEDIUM", "the kernel keyring is not namespaced"),
    ("request_key", "never allowed", "MEDIUM", "the kernel keyring is not namespaced"),
    ("userfaultfd", "never allowed", "MEDIUM", "a common kernel-exploit primitive"),
    (
        "perf_event_open",
        "CAP_SYS_ADMIN or CAP_PERFMON",
        "MEDIUM",
        "leaks kernel and host information",
    ),
    (
        "io_uring_setup",
        "never allowed",
        "MEDIUM",
        "large kernel attack surface, bypasses seccomp for its operations",
    ),
    (
        "io_uring_enter",
        "never allowed",
        "MEDIUM",
        "large kernel attack surface, bypasses seccomp for its operations",
    ),
    (
        "io_uring_register",
        "never allowed",
        "MEDIUM",
        "large kernel attack surface, bypasses seccomp for its operations",
    ),
    ("fanotify_init", "CAP_SYS_ADMIN", "LOW", "watching filesystem events"),
    ("lookup_dcookie", "CAP_SYS_ADMIN", "LOW", "kernel profiling interface"),
    ("quotactl", "CAP_SYS_ADMIN", "LOW", "changing disk quotas"),
    ("quotactl_fd", "CAP_SYS_ADMIN", "LOW", "changing disk quotas"),
    ("syslog", "CAP_SYSLOG or CAP_SYS_ADMIN", "LOW", "reading the kernel log"),
    ("acct", "CAP_SYS_PACCT", "LOW", "process accounting on the host"),
    ("settimeofday", "CAP_SYS_TIME", "LOW", "setting the host clock"),
    ("clock_settime", "CAP_SYS_TIME", "LOW", "setting the host clock"),
    ("stime", "CAP_SYS_TIME", "LOW", "setting the host clock"),
    ("vhangup", "CAP_SYS_TTY_CONFIG", "LOW", "hanging up terminals"),
    ("nfsservctl", "never allowed", "LOW", "obsolete kernel interface"),
    ("uselib", "never allowed", "LOW", "obsolete kernel interface"),
    ("_sysctl", "never allowed", "LOW", "obsolete kernel interface"),
    ("create_module", "never allowed", "LOW", "obsolete kernel interface"),
    ("get_kernel_syms", "never allowed", "LOW", "obsolete kernel interface"),
    ("query_module", "never allowed", "LOW", "obsolete kernel interface"),
    ("move_pages", "CAP_SYS_NICE", "LOW", "moving other processes' memory pages"),
    ("mbind", "CAP_SYS_NICE", "LOW", "NUMA memory policy"),
    ("set_mempolicy", "CAP_SYS_NICE", "LOW", "NUMA memory policy"),
)

#: Syscalls glibc tries first and falls back from only when they fail with ENOSYS.
MODERN_SYSCALLS: tuple[str, ...] = ("statx", "faccessat2", "openat2", "rseq", "close_range")
