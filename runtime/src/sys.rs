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
