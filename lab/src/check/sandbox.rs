//! The sandbox of one submission under `--class` (Linux).
//!
//! The class run starts one checker per submission through util-linux's
//! `unshare`, in namespaces of its own:
//!
//! - a network namespace, where the checker brings up loopback and
//!   nothing else: the submission reaches no other host and no other
//!   submission, and ports never collide, so checks run side by side;
//! - a PID namespace (with its own /proc), where that checker is process
//!   1: when it ends, the kernel kills every process left in it;
//! - a mount namespace, where /tmp, /var/tmp and /dev/shm are read-only,
//!   and the submission's folder is a small tmpfs that vanishes with it.
//!
//! As root, that is all `unshare` needs; otherwise it also makes a user
//! namespace (`--user --map-root-user`) where the kernel allows it. Inside,
//! the checker runs each program of the submission ([`confine`]) in its
//! own working folder, which is also its HOME and TMPDIR, with limits on
//! CPU time, memory, processes and file size, and, when the checker is
//! really root, as a user of its own that may write nowhere else.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Seconds of CPU time a program may use.
const CPU_SECONDS: u64 = 30;
/// Bytes of writable memory a program may map (RLIMIT_DATA, which since
/// Linux 4.7 counts every private writable mapping: the heap, anonymous
/// mmap, thread stacks; not the address space that malloc only reserves
/// for its arenas, which RLIMIT_AS would count).
const MEMORY: u64 = 512 * 1024 * 1024;
/// Processes (and threads) its user may have at once.
const PROCESSES: u64 = 256;
/// The largest file it may write.
const FILE_SIZE: u64 = 64 * 1024 * 1024;
/// The size of each tmpfs folder in the sandbox.
const TMPFS: &str = "size=64m,mode=1777";
/// The first user id given to a submission when the checker is root; the
/// class run adds a thousand times a number drawn from its process id,
/// and the submission's number.
pub const FIRST_UID: u32 = 200_000;

/// How each program of the submission is confined.
struct Confinement {
    home: PathBuf,
    /// The user to run as (root only).
    uid: Option<u32>,
}

static CONFINEMENT: OnceLock<Confinement> = OnceLock::new();

/// How this machine can sandbox a submission, found by trying.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Mode {
    /// `unshare` as root.
    Root,
    /// `unshare` in a user namespace.
    UserNamespace,
}

impl Mode {
    /// Tries each way on a process that does nothing; `Err` says why
    /// neither works.
    pub fn probe() -> Result<Mode, String> {
        let mut why = String::new();
        for mode in [Mode::Root, Mode::UserNamespace] {
            let mut command = mode.command();
            command.arg("true");
            match command.output() {
                Ok(output) if output.status.success() => return Ok(mode),
                Ok(output) => {
                    why = String::from_utf8_lossy(&output.stderr)
                        .lines()
                        .next()
                        .unwrap_or("it failed")
                        .to_string();
                }
                Err(error) => why = format!("cannot run `unshare`: {error}"),
            }
        }
        Err(why)
    }

    /// `unshare` with the namespaces of one submission; the command to
    /// run inside follows.
    pub fn command(self) -> Command {
        let mut command = Command::new("unshare");
        command.args([
            "--net",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
        ]);
        if self == Mode::UserNamespace {
            command.args(["--user", "--map-root-user"]);
        }
        command.arg("--");
        command
    }

    /// Whether each submission gets a user id of its own.
    pub fn own_users(self) -> bool {
        self == Mode::Root
    }
}

/// Sets up the inside of the sandbox: loopback up, the shared temporary
/// folders read-only, and `home` (an empty folder that the class run
/// made) a fresh tmpfs, the one place the submission may write. Called
/// once by the checker that `unshare` started, before any check.
pub fn enter(home: &Path, uid: Option<u32>) -> Result<(), String> {
    loopback_up().map_err(|error| format!("cannot bring up lo: {error}"))?;
    for folder in ["/tmp", "/var/tmp", "/dev/shm"] {
        if Path::new(folder).is_dir() {
            read_only(folder)
                .map_err(|error| format!("cannot protect {folder}: {error}"))?;
        }
    }
    mount_tmpfs(home).map_err(|error| {
        format!("cannot mount a tmpfs on {}: {error}", home.display())
    })?;
    if let Some(uid) = uid {
        std::os::unix::fs::chown(home, Some(uid), Some(uid))
            .map_err(|error| format!("cannot give away the folder: {error}"))?;
    }
    // SAFETY: the checker is still single-threaded here. umask only
    // changes this process's file mode mask: the checker's own files (the
    // web exercise's folder) must stay readable by the submission's user;
    // TMPDIR puts them in the tmpfs.
    unsafe {
        libc::umask(0o022);
        std::env::set_var("TMPDIR", home);
    }
    let _ = CONFINEMENT.set(Confinement {
        home: home.to_path_buf(),
        uid,
    });
    Ok(())
}

/// Applies the sandbox to a program the checker is about to start; does
/// nothing outside a sandbox.
pub fn confine(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let Some(confinement) = CONFINEMENT.get() else {
        return;
    };
    command
        .current_dir(&confinement.home)
        .env("HOME", &confinement.home)
        .env("TMPDIR", &confinement.home);
    let uid = confinement.uid;
    // SAFETY: the closure runs in the child between fork and exec, and
    // calls only async-signal-safe functions (setrlimit, setgroups,
    // setgid, setuid) on plain integers.
    unsafe {
        command.pre_exec(move || {
            // The count of processes is per user: it is only the
            // submission's own under a user of its own.
            let processes = if uid.is_some() { PROCESSES } else { u64::MAX };
            let limits = [
                (libc::RLIMIT_CPU, CPU_SECONDS),
                (libc::RLIMIT_DATA, MEMORY),
                (libc::RLIMIT_NPROC, processes),
                (libc::RLIMIT_FSIZE, FILE_SIZE),
                (libc::RLIMIT_CORE, 0),
            ];
            for (resource, value) in limits {
                if value == u64::MAX {
                    continue;
                }
                let limit = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                if libc::setrlimit(resource, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if let Some(uid) = uid
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(uid) != 0
                    || libc::setuid(uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn mount_tmpfs(folder: &Path) -> std::io::Result<()> {
    let flags = libc::MS_NOSUID | libc::MS_NODEV;
    mount(Path::new("tmpfs"), folder, c"tmpfs", flags, TMPFS)
}

/// Binds `folder` onto itself, then makes that view read-only.
fn read_only(folder: &str) -> std::io::Result<()> {
    let folder = Path::new(folder);
    mount(folder, folder, c"none", libc::MS_BIND | libc::MS_REC, "")?;
    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
    mount(folder, folder, c"none", flags, "")
}

/// mount(2), in this process's own mount namespace.
fn mount(
    source: &Path,
    target: &Path,
    kind: &std::ffi::CStr,
    flags: libc::c_ulong,
    options: &str,
) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let source = std::ffi::CString::new(source.as_os_str().as_bytes())?;
    let target = std::ffi::CString::new(target.as_os_str().as_bytes())?;
    let options = std::ffi::CString::new(options)?;
    // SAFETY: NUL-terminated strings that outlive the call.
    let done = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            kind.as_ptr(),
            flags,
            options.as_ptr().cast(),
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sets the flag IFF_UP on `lo`, as `ip link set lo up` does.
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: a socket only to carry ioctls, closed below; the ifreq is
    // zeroed, then given the name "lo" and the flags read back by
    // SIOCGIFFLAGS.
    unsafe {
        let socket = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if socket < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (to, from) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *to = *from as libc::c_char;
        }
        let mut result = libc::ioctl(socket, libc::SIOCGIFFLAGS, &mut request);
        if result == 0 {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            result = libc::ioctl(socket, libc::SIOCSIFFLAGS, &request);
        }
        let error = std::io::Error::last_os_error();
        libc::close(socket);
        if result == 0 { Ok(()) } else { Err(error) }
    }
}
