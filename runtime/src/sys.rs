//! Thin wrappers over the syscalls nix does not wrap safely. Every `unsafe` block of the crate
//! lives here (DESIGN.md §3), each with its `// SAFETY:` argument.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Result, RuntimeError};

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| RuntimeError::InvalidArgument(format!("path {} contains NUL", p.display())))
}

fn last_os_error(what: String) -> RuntimeError {
    RuntimeError::Sys {
        what,
        source: nix::Error::last(),
    }
}

/// `lsetxattr(path, name, value)`.
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<()> {
    let p = cpath(path)?;
    let n = CString::new(name).map_err(|_| RuntimeError::InvalidArgument(name.into()))?;
    // SAFETY: p and n are valid NUL-terminated strings and value a valid buffer of value.len()
    // bytes, all alive for the call; the kernel only reads them.
    let r = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r != 0 {
        return Err(last_os_error(format!(
            "setxattr {name} on {}",
            path.display()
        )));
    }
    Ok(())
}

/// Creates an overlayfs whiteout (a 0/0 character device) at `path`.
pub fn mknod_whiteout(path: &Path) -> Result<()> {
    nix::sys::stat::mknod(
        path,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .map_err(|source| RuntimeError::Sys {
        what: format!("mknod whiteout {}", path.display()),
        source,
    })
}

/// `fork()`. Only call while the process is single-threaded (the shim and helper modes are),
/// so the child may run arbitrary code.
pub fn fork() -> Result<nix::unistd::ForkResult> {
    // SAFETY: callers (shim and nsexec modes) are single-threaded when they fork, so the child
    // does not inherit locks held by other threads and may allocate and run normal Rust code.
    unsafe { nix::unistd::fork() }.map_err(|source| RuntimeError::Sys {
        what: "fork".into(),
        source,
    })
}

/// Drops `cap` from the bounding set (`PR_CAPBSET_DROP`).
pub fn capbset_drop(cap: u32) -> Result<()> {
    // SAFETY: prctl(PR_CAPBSET_DROP, cap) takes integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
    if r != 0 {
        return Err(last_os_error(format!(
            "drop capability {cap} from bounding set"
        )));
    }
    Ok(())
}

/// Sets effective, permitted and inheritable capability sets to `mask` (bit n = capability n).
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let split = |m: u64| (m as u32, (m >> 32) as u32);
    let (e0, e1) = split(effective);
    let (p0, p1) = split(permitted);
    let (i0, i1) = split(inheritable);
    let data = [
        Data {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        Data {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: header and data are repr(C) structs matching the kernel's
    // __user_cap_header_struct / two __user_cap_data_struct (version 3), alive for the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    if r != 0 {
        return Err(last_os_error("capset".into()));
    }
    Ok(())
}

/// Clears the ambient capability set.
pub fn clear_ambient() {
    // SAFETY: integer-only prctl; failure (old kernels) is harmless and ignored.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
    }
}

/// Asks for SIGKILL when the parent dies (`PR_SET_PDEATHSIG`).
pub fn set_parent_death_signal() {
    // SAFETY: integer-only prctl.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    }
}

/// Installs an async-signal-safe handler that stores `true` into `flag` on `signal`.
pub fn flag_on_signal(
    signal: nix::sys::signal::Signal,
    flag: &'static std::sync::atomic::AtomicBool,
) {
    use std::sync::atomic::{AtomicPtr, Ordering};
    static FLAG: AtomicPtr<std::sync::atomic::AtomicBool> = AtomicPtr::new(std::ptr::null_mut());
    FLAG.store(flag as *const _ as *mut _, Ordering::SeqCst);
    extern "C" fn handler(_: libc::c_int) {
        let p = FLAG.load(Ordering::SeqCst);
        if !p.is_null() {
            // SAFETY: p points to a 'static AtomicBool stored before the handler was installed;
            // an atomic store is async-signal-safe.
            unsafe { (*p).store(true, Ordering::SeqCst) };
        }
    }
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(handler),
        nix::sys::signal::SaFlags::SA_RESTART,
        nix::sys::signal::SigSet::empty(),
    );
    // SAFETY: the handler only performs an atomic store, which is async-signal-safe.
    let _ = unsafe { nix::sys::signal::sigaction(signal, &action) };
}

/// Filesystem magic of the mount holding `path` (`statfs.f_type`).
pub fn fs_magic(path: &Path) -> Option<i64> {
    nix::sys::statfs::statfs(path)
        .ok()
        .map(|s| s.filesystem_type().0)
}

/// `NSFS_MAGIC`: a bind-mounted namespace file.
pub const NSFS_MAGIC: i64 = 0x6e73_6673;

/// A pseudo-terminal pair: the master the daemon reads and writes, the slave the exec'd
/// process gets as its stdin, stdout and stderr.
#[derive(Debug)]
pub struct Pty {
    pub master: std::os::fd::OwnedFd,
    pub slave: std::os::fd::OwnedFd,
}

/// Allocates a pty from the devpts instance whose multiplexer is `ptmx` (a container's own
/// `/dev/pts/ptmx`, reached through `/proc/<pid>/root`), so the process inside sees its
/// terminal as `/dev/pts/N` of its own `/dev`. The slave comes from `TIOCGPTPEER`, which
/// opens the peer of this very master without a path lookup.
pub fn open_pty(ptmx: &Path) -> Result<Pty> {
    use nix::fcntl::OFlag;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let master = nix::fcntl::open(
        ptmx,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|source| RuntimeError::Sys {
        what: format!("open {}", ptmx.display()),
        source,
    })?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one c_int through the pointer, which points to a live local;
    // master is an open pty master.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    if r != 0 {
        return Err(last_os_error(format!("unlock pty {}", ptmx.display())));
    }
    // SAFETY: TIOCGPTPEER takes integer open flags and returns a new file descriptor (or -1);
    // master is an open pty master.
    let fd = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(last_os_error(format!(
            "open the peer of {}",
            ptmx.display()
        )));
    }
    // SAFETY: fd was just returned by the kernel as a new descriptor nobody else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(Pty { master, slave })
}

/// Sets the window size of the terminal `fd` (`TIOCSWINSZ`); the kernel sends SIGWINCH to
/// its foreground process group.
pub fn set_window_size(fd: std::os::fd::BorrowedFd<'_>, rows: u16, cols: u16) -> Result<()> {
    use std::os::fd::AsRawFd;
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one struct winsize through the pointer, which points to a live
    // local; a bad fd only makes the call fail.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    if r != 0 {
        return Err(last_os_error("set terminal window size".into()));
    }
    Ok(())
}

/// Makes the terminal on stdin the controlling terminal of the calling process, which must
/// be a session leader (`TIOCSCTTY`), so the shell gets job control and ^C reaches it.
pub fn set_controlling_terminal() -> Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal from another session).
    let r = unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY, 0) };
    if r != 0 {
        return Err(last_os_error("make stdin the controlling terminal".into()));
    }
    Ok(())
}

/// Puts `fd` in non-blocking mode and registers it with tokio's reactor, for a pty master the
/// daemon reads and writes without tying up a thread.
pub fn async_fd(
    fd: std::os::fd::OwnedFd,
) -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    // SAFETY: an OwnedFd owns its descriptor: it stays open, and as_raw_fd returns that same
    // descriptor, until the OwnedFd (moved into the AsyncFd) is dropped.
    unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(std::io::Error::from)
}

/// Connects to `address` from inside the network namespace at `netns` (a pod's, for
/// PortForward). The `setns` happens on a thread of its own that ends right after, so no
/// thread that runs anything else ever changes namespace; the socket stays in the namespace
/// it was created in. Blocks for up to `timeout` plus the thread's start.
pub fn connect_in_netns(
    netns: &Path,
    address: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> std::io::Result<std::net::TcpStream> {
    let netns = netns.to_path_buf();
    std::thread::Builder::new()
        .name("netns-connect".into())
        .spawn(move || {
            let namespace = std::fs::File::open(&netns)?;
            nix::sched::setns(&namespace, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(std::io::Error::from)?;
            std::net::TcpStream::connect_timeout(&address, timeout)
        })?
        .join()
        .map_err(|_| std::io::Error::other("the netns connect thread panicked"))?
}

/// Sends `fd` over the unix socket `socket` (`SCM_RIGHTS`), with one byte of data so the
/// message is never empty.
pub fn send_fd(
    socket: &std::os::unix::net::UnixStream,
    fd: std::os::fd::BorrowedFd<'_>,
) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    use std::os::fd::AsRawFd;
    let fds = [fd.as_raw_fd()];
    let data = [std::io::IoSlice::new(b"t")];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &data,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|source| RuntimeError::Sys {
        what: "pass the terminal to the shim".into(),
        source,
    })?;
    Ok(())
}

/// Receives one descriptor sent by [`send_fd`]; `None` when the peer closed the socket
/// without sending one.
pub fn recv_fd(socket: &std::os::unix::net::UnixStream) -> Result<Option<std::os::fd::OwnedFd>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut byte = [0u8; 1];
    let mut data = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let message = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut data,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|source| RuntimeError::Sys {
        what: "receive the container's terminal".into(),
        source,
    })?;
    let mut received = None;
    for cmsg in message.cmsgs().map_err(|source| RuntimeError::Sys {
        what: "read the container's terminal message".into(),
        source,
    })? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for fd in fds {
                // SAFETY: SCM_RIGHTS installed fd as a new descriptor of this process, owned
                // by nobody else; every one received is wrapped exactly once (extra ones are
                // closed when their OwnedFd drops).
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                received.get_or_insert(owned);
            }
        }
    }
    Ok(received)
}

/// The size of the terminal `fd` (`TIOCGWINSZ`) as (rows, columns); `None` when `fd` is not
/// a terminal.
pub fn window_size(fd: std::os::fd::BorrowedFd<'_>) -> Option<(u16, u16)> {
    use std::os::fd::AsRawFd;
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one struct winsize through the pointer, which points to a
    // live local; a bad fd only makes the call fail.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (r == 0).then_some((size.ws_row, size.ws_col))
}
