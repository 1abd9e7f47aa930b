//! An SQLite VFS over the default one that hands a commit's WAL frames to the kernel in one write.
//!
//! SQLite writes every WAL frame as two `pwrite`s: its 24-byte header, then the page (wal.c,
//! `walWriteOneFrame`). Each lands across two of the kernel's 4 KiB page-cache pages, and on Linux
//! the file system's per-call and per-page work costs several times the copy itself: ~4.3 µs a
//! frame written that way against ~1.3 µs for the same bytes in one `pwrite` (ext4, this project's
//! machines; docs/PERFORMANCE.md). This VFS keeps the frames of a transaction in memory, in file
//! order, and writes them out at once when the commit is complete.
//!
//! Only WAL files are wrapped; the database file and everything else go straight to the default
//! VFS. The connection must run the pragmas in [`CONNECTION_PRAGMAS`]:
//! - `synchronous = FULL`: SQLite then syncs the WAL at every commit, *before* it publishes the
//!   commit in the wal-index (wal.c, `walFrames`), so the frames are in the file before any other
//!   connection can look for them. Such a sync carries `SQLITE_SYNC_NORMAL`, and here it only
//!   writes the frames out: making them durable is the caller's job (cardhook's WAL syncer fsyncs
//!   before it answers). The last frame of a commit (its header names the database size) flushes
//!   the buffer as well, so a commit is never left in memory even without the sync.
//! - `checkpoint_fullfsync = ON`: a checkpoint's syncs then carry `SQLITE_SYNC_FULL`, and those are
//!   real: the WAL must be on disk before its pages are copied into the database file.
//! - `cache_spill = OFF`: WAL frames are then written only by commits. A frame spilled in the middle
//!   of a transaction that is then rolled back could otherwise stay in memory and later overwrite
//!   a frame another connection committed at the same place. The price: a transaction's dirty
//!   pages stay in SQLite's cache until it commits, so transactions must be of bounded size.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// The VFS's name, for `sqlite3_open_v2` (rusqlite: `Connection::open_with_flags_and_vfs`).
pub const VFS_NAME: &CStr = c"wal-coalesce";

/// What a connection over this VFS must run before its first transaction (see the module doc).
pub const CONNECTION_PRAGMAS: &str =
    "PRAGMA synchronous = FULL; PRAGMA checkpoint_fullfsync = ON; PRAGMA cache_spill = OFF;";

/// Register the VFS (once per process; not as the default). Returns SQLite's error code if it
/// cannot: the default VFS is missing or registration failed.
pub fn register() -> Result<&'static CStr, c_int> {
    static REGISTERED: OnceLock<Result<(), c_int>> = OnceLock::new();
    REGISTERED.get_or_init(register_once).map(|()| VFS_NAME)
}

/// How many writes SQLite asked of WAL files, and how many reached the file system, since the
/// process started (all connections over this VFS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub requested: u64,
    pub issued: u64,
}

pub fn stats() -> Stats {
    Stats {
        requested: REQUESTED.load(Ordering::Relaxed),
        issued: ISSUED.load(Ordering::Relaxed),
    }
}

static REQUESTED: AtomicU64 = AtomicU64::new(0);
static ISSUED: AtomicU64 = AtomicU64::new(0);

/// The default VFS this one forwards to.
struct Inner(*mut ffi::sqlite3_vfs);
// SAFETY: a registered VFS is immutable and SQLite calls it from any thread.
unsafe impl Send for Inner {}
// SAFETY: as above.
unsafe impl Sync for Inner {}

static INNER: OnceLock<Inner> = OnceLock::new();

fn register_once() -> Result<(), c_int> {
    // SAFETY: sqlite3_vfs_find initializes SQLite if needed and returns the default VFS or null.
    let inner = unsafe { ffi::sqlite3_vfs_find(std::ptr::null()) };
    if inner.is_null() {
        return Err(ffi::SQLITE_ERROR);
    }
    let inner = INNER.get_or_init(|| Inner(inner)).0;
    // SAFETY: `inner` is a registered VFS, valid for the life of the process; we copy it (its
    // functions and app data keep working when called with the copy: they read only its fields).
    let mut vfs: ffi::sqlite3_vfs = unsafe { std::ptr::read(inner) };
    vfs.szOsFile = c_int::try_from(REAL_OFFSET)
        .ok()
        .and_then(|offset| vfs.szOsFile.checked_add(offset))
        .ok_or(ffi::SQLITE_ERROR)?;
    vfs.zName = VFS_NAME.as_ptr();
    vfs.pNext = std::ptr::null_mut();
    vfs.xOpen = Some(open);
    // SQLite keeps the pointer for the life of the process.
    let vfs = Box::into_raw(Box::new(vfs));
    // SAFETY: `vfs` is a complete, leaked sqlite3_vfs.
    match unsafe { ffi::sqlite3_vfs_register(vfs, 0) } {
        ffi::SQLITE_OK => Ok(()),
        rc => Err(rc),
    }
}

/// A wrapped WAL file: our header, then the default VFS's file at `REAL_OFFSET`.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    buffer: *mut Buffer,
}

/// Where the default VFS's file object starts, aligned for anything it holds.
const REAL_OFFSET: usize = std::mem::size_of::<WalFile>().next_multiple_of(16);

/// The longest run kept in memory before it is written out: the default VFS writes at most
/// 128 KiB − 1 bytes in one call (os_unix.c, `seekAndWriteFd`), and reports a longer write whose
/// length is a multiple of 128 KiB as a full disk. ~30 frames of 4 KiB per write.
const BUFFER_LIMIT: usize = 0x1f000;

/// The length of a WAL frame header (WAL file format: bytes 4–7 are the database size in pages
/// after a commit, zero in every other frame).
const FRAME_HEADER: usize = 24;

/// Bytes not yet handed to the file: one contiguous run starting at `start`.
#[derive(Default)]
struct Buffer {
    start: i64,
    bytes: Vec<u8>,
    /// The last frame header buffered was a commit's: its page completes the commit.
    commit_header: bool,
}

impl Buffer {
    fn end(&self) -> i64 {
        self.start + self.bytes.len() as i64
    }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let Some(inner) = INNER.get().map(|inner| inner.0) else {
        return ffi::SQLITE_ERROR;
    };
    // SAFETY: `inner` is the default VFS, which always has xOpen.
    let Some(inner_open) = (unsafe { (*inner).xOpen }) else {
        return ffi::SQLITE_ERROR;
    };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // SAFETY: `file` has room for the default VFS's file (our szOsFile is larger).
        return unsafe { inner_open(inner, name, file, flags, out_flags) };
    }
    let real = real_file(file);
    // SAFETY: `real` lies within the szOsFile bytes SQLite allocated for `file`.
    let rc = unsafe { inner_open(inner, name, real, flags, out_flags) };
    // SAFETY: `file` is ours to initialize; `real` was initialized (or left null) by xOpen.
    unsafe {
        if rc != ffi::SQLITE_OK {
            // xClose is owed when xOpen set pMethods, even on failure; SQLite will not call ours.
            if let Some(close) = (*real).pMethods.as_ref().and_then(|m| m.xClose) {
                close(real);
            }
            (*file).pMethods = std::ptr::null();
            return rc;
        }
        let wal = file.cast::<WalFile>();
        (*wal).buffer = Box::into_raw(Box::default());
        (*wal).base.pMethods = &WAL_METHODS;
    }
    ffi::SQLITE_OK
}

fn real_file(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    file.cast::<u8>().wrapping_add(REAL_OFFSET).cast()
}

/// The wrapped file's buffer and the default VFS's file with its methods.
///
/// # Safety
/// `file` must be a WAL file opened by [`open`] and not yet closed, used by one thread at a time
/// (SQLite's contract for a file object).
unsafe fn parts<'a>(
    file: *mut ffi::sqlite3_file,
) -> (
    &'a mut Buffer,
    *mut ffi::sqlite3_file,
    &'a ffi::sqlite3_io_methods,
) {
    let real = real_file(file);
    // SAFETY: per the contract, `buffer` is live and exclusively ours, and `real` is open.
    unsafe {
        (
            &mut *(*file.cast::<WalFile>()).buffer,
            real,
            &*(*real).pMethods,
        )
    }
}

/// Write out what is buffered.
///
/// # Safety
/// `real` and `methods` must be an open file of the default VFS and its methods.
unsafe fn flush(
    buffer: &mut Buffer,
    real: *mut ffi::sqlite3_file,
    methods: &ffi::sqlite3_io_methods,
) -> c_int {
    buffer.commit_header = false;
    if buffer.bytes.is_empty() {
        return ffi::SQLITE_OK;
    }
    let Some(write) = methods.xWrite else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    let Ok(len) = c_int::try_from(buffer.bytes.len()) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    ISSUED.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the bytes are valid for `len`; `real` is open.
    let rc = unsafe { write(real, buffer.bytes.as_ptr().cast(), len, buffer.start) };
    // Written or not, these bytes are done with: on an error SQLite fails the transaction.
    buffer.bytes.clear();
    rc
}

unsafe extern "C" fn wal_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    REQUESTED.fetch_add(1, Ordering::Relaxed);
    // SAFETY: SQLite calls this on a file `open` wrapped, with `amount` readable bytes at `data`.
    let (buffer, real, methods) = unsafe { parts(file) };
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    // SAFETY: as above.
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    // Read before any flush below, which forgets the header it wrote out.
    let completes_commit = buffer.commit_header && len != FRAME_HEADER;
    let appends = buffer.bytes.is_empty() || offset == buffer.end();
    // Not the next bytes of the run (a frame header rewritten in place), or more than a run holds:
    // this write goes straight through.
    let through = !appends || len > BUFFER_LIMIT;
    if through || buffer.bytes.len() + len > BUFFER_LIMIT {
        // The run goes out first, so writes reach the file in the order SQLite made them.
        // SAFETY: `real` is open.
        let rc = unsafe { flush(buffer, real, methods) };
        if rc != ffi::SQLITE_OK || through {
            return match (rc, methods.xWrite) {
                // SAFETY: `real` is open; SQLite's arguments are passed on unchanged.
                (ffi::SQLITE_OK, Some(write)) => unsafe {
                    ISSUED.fetch_add(1, Ordering::Relaxed);
                    write(real, data, amount, offset)
                },
                (ffi::SQLITE_OK, None) => ffi::SQLITE_IOERR_WRITE,
                (rc, _) => rc,
            };
        }
    }
    if buffer.bytes.is_empty() {
        buffer.start = offset;
    }
    buffer.bytes.extend_from_slice(bytes);
    buffer.commit_header =
        len == FRAME_HEADER && bytes.get(4..8).is_some_and(|size| size != [0; 4]);
    if completes_commit {
        // SAFETY: `real` is open.
        return unsafe { flush(buffer, real, methods) };
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn wal_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: SQLite calls this on a file `open` wrapped.
    let (buffer, real, methods) = unsafe { parts(file) };
    // SAFETY: `real` is open.
    let rc = unsafe { flush(buffer, real, methods) };
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    // A commit's sync (SQLITE_SYNC_NORMAL) is the caller's to make; a checkpoint's (FULL) is real.
    if flags & 0x0f != ffi::SQLITE_SYNC_FULL {
        return ffi::SQLITE_OK;
    }
    match methods.xSync {
        // SAFETY: `real` is open.
        Some(sync) => unsafe { sync(real, flags) },
        None => ffi::SQLITE_IOERR_FSYNC,
    }
}

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls this once, on a file `open` wrapped; nothing uses it afterwards.
    let (buffer, real, methods) = unsafe { parts(file) };
    // SAFETY: `real` is open until the xClose below.
    let flushed = unsafe { flush(buffer, real, methods) };
    // SAFETY: the buffer came from Box::into_raw in `open` and is dropped once, here.
    unsafe {
        let wal = file.cast::<WalFile>();
        drop(Box::from_raw((*wal).buffer));
        (*wal).buffer = std::ptr::null_mut();
    }
    let closed = match methods.xClose {
        // SAFETY: `real` is open.
        Some(close) => unsafe { close(real) },
        None => ffi::SQLITE_OK,
    };
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

/// The other methods that take a file and answer a status: write out what is buffered, then
/// forward to the default VFS's file. (Reads and sizes must see every write; locks and the rest
/// do not touch the buffer, but flushing an empty one costs nothing.)
macro_rules! flush_then_forward {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: SQLite calls this on a file `open` wrapped.
            let (buffer, real, methods) = unsafe { parts(file) };
            // SAFETY: `real` is open.
            let rc = unsafe { flush(buffer, real, methods) };
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            match methods.$method {
                // SAFETY: `real` is open; the arguments are SQLite's, passed on unchanged.
                Some(method) => unsafe { method(real $(, $arg)*) },
                None => $missing,
            }
        }
    };
}

flush_then_forward!(wal_read, xRead, (data: *mut c_void, amount: c_int, offset: i64), ffi::SQLITE_IOERR_READ);
flush_then_forward!(wal_truncate, xTruncate, (size: i64), ffi::SQLITE_IOERR_TRUNCATE);
flush_then_forward!(wal_file_size, xFileSize, (size: *mut i64), ffi::SQLITE_IOERR_FSTAT);
flush_then_forward!(wal_lock, xLock, (level: c_int), ffi::SQLITE_IOERR_LOCK);
flush_then_forward!(wal_unlock, xUnlock, (level: c_int), ffi::SQLITE_IOERR_UNLOCK);
flush_then_forward!(wal_check_reserved_lock, xCheckReservedLock, (out: *mut c_int), ffi::SQLITE_IOERR_CHECKRESERVEDLOCK);
flush_then_forward!(wal_file_control, xFileControl, (op: c_int, arg: *mut c_void), ffi::SQLITE_NOTFOUND);
flush_then_forward!(wal_shm_map, xShmMap, (region: c_int, size: c_int, extend: c_int, out: *mut *mut c_void), ffi::SQLITE_IOERR_SHMMAP);
flush_then_forward!(wal_shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int), ffi::SQLITE_IOERR_SHMLOCK);
flush_then_forward!(wal_shm_unmap, xShmUnmap, (delete: c_int), ffi::SQLITE_OK);
flush_then_forward!(wal_fetch, xFetch, (offset: i64, amount: c_int, out: *mut *mut c_void), {
    // SAFETY: SQLite passes a valid out-pointer; null means "no mapping, read instead".
    unsafe { *out = std::ptr::null_mut() };
    ffi::SQLITE_OK
});
flush_then_forward!(wal_unfetch, xUnfetch, (offset: i64, page: *mut c_void), ffi::SQLITE_OK);

unsafe extern "C" fn wal_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls this on a file `open` wrapped.
    let (_, real, methods) = unsafe { parts(file) };
    // SAFETY: `real` is open.
    methods
        .xSectorSize
        .map_or(4096, |size| unsafe { size(real) })
}

unsafe extern "C" fn wal_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls this on a file `open` wrapped.
    let (_, real, methods) = unsafe { parts(file) };
    // SAFETY: `real` is open.
    methods
        .xDeviceCharacteristics
        .map_or(0, |device| unsafe { device(real) })
}

unsafe extern "C" fn wal_shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: SQLite calls this on a file `open` wrapped.
    let (_, real, methods) = unsafe { parts(file) };
    if let Some(barrier) = methods.xShmBarrier {
        // SAFETY: `real` is open.
        unsafe { barrier(real) }
    }
}

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(wal_close),
    xRead: Some(wal_read),
    xWrite: Some(wal_write),
    xTruncate: Some(wal_truncate),
    xSync: Some(wal_sync),
    xFileSize: Some(wal_file_size),
    xLock: Some(wal_lock),
    xUnlock: Some(wal_unlock),
    xCheckReservedLock: Some(wal_check_reserved_lock),
    xFileControl: Some(wal_file_control),
    xSectorSize: Some(wal_sector_size),
    xDeviceCharacteristics: Some(wal_device_characteristics),
    xShmMap: Some(wal_shm_map),
    xShmLock: Some(wal_shm_lock),
    xShmBarrier: Some(wal_shm_barrier),
    xShmUnmap: Some(wal_shm_unmap),
    xFetch: Some(wal_fetch),
    xUnfetch: Some(wal_unfetch),
};
