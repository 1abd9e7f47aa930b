//! A disk that loses what was not fsynced, for the power-loss tests: a FUSE filesystem over a
//! backing directory (the platters) in which every file's written pages stay in memory (the page
//! cache) until that file is fsynced. A power cut kills the process using it, unmounts without
//! writing anything back, and mounts a fresh instance over the same backing directory: whatever was
//! not fsynced is gone, as after a real power loss.
//!
//! The model is strict about data and lenient about metadata: writes, extensions and truncations of
//! a file reach the backing file only at its fsync; creating, removing and renaming a file reach it
//! at once. It can also make fsync fail (EIO, dropping the pages it could not write, as Linux does)
//! and counts the fsyncs of `*.db` files (SQLite's checkpoints) so a test can cut right after one.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
    TimeOrNow, WriteFlags,
};

const PAGE: u64 = 4096;

/// What a test can see and switch while the disk is mounted; shared by every instance.
#[derive(Default)]
pub struct Probes {
    /// fsyncs of files named `*.db` so far (a SQLite checkpoint ends with one).
    pub db_syncs: AtomicU64,
    /// fsyncs of any file so far.
    pub syncs: AtomicU64,
    /// While set, fsync fails with EIO and drops the file's unsynced pages.
    pub fail_fsync: AtomicBool,
}

/// The mounted disk.
pub struct Disk {
    backing: PathBuf,
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
    pub probes: Arc<Probes>,
}

impl Disk {
    /// Mount a disk at `mountpoint` over the (existing) directory `backing`. Needs root and Debian's
    /// fuse3 (`fusermount3`), as `.ci/run` provides.
    pub fn mount(backing: &Path, mountpoint: &Path) -> Self {
        let mut disk = Self {
            backing: backing.to_owned(),
            mountpoint: mountpoint.to_owned(),
            session: None,
            probes: Arc::default(),
        };
        disk.session = Some(disk.spawn());
        disk
    }

    fn spawn(&self) -> BackgroundSession {
        let fs = PowerCutFs {
            backing: self.backing.clone(),
            state: Mutex::new(State::default()),
            probes: self.probes.clone(),
        };
        let mut config = Config::default();
        config
            .mount_options
            .push(MountOption::FSName("powercut".into()));
        fuser::spawn_mount(fs, &self.mountpoint, &config).unwrap_or_else(|e| {
            panic!(
                "the power-loss test mounts a FUSE filesystem: it needs root, /dev/fuse and Debian's fuse3 (.ci/run installs it): {e}"
            )
        })
    }

    /// The power cut: everything not fsynced is gone. Kill the processes using the disk first.
    pub fn cut(&mut self) {
        if let Some(session) = self.session.take() {
            // Unmounting drops the instance with its unsynced pages; nothing is written back.
            let _ = session.umount_and_join();
        }
        self.session = Some(self.spawn());
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        // A test that failed may leave a process — or a thread of this one, closing a database —
        // waiting on this disk. The filesystem's own thread dies with this process, so a waiter would
        // hang for good (an unkillable test binary): abort the connection first, failing every
        // request, then unmount.
        abort_connection(&self.mountpoint);
        if let Some(session) = self.session.take() {
            let _ = session.umount_and_join();
        }
    }
}

/// Abort the FUSE connection of the filesystem mounted at `mountpoint` (fusectl, mounted if needed).
fn abort_connection(mountpoint: &Path) {
    use std::os::unix::fs::MetadataExt;
    let connections = Path::new("/sys/fs/fuse/connections");
    let mounted = std::fs::read_dir(connections).is_ok_and(|mut d| d.next().is_some());
    if !mounted {
        let _ = std::process::Command::new("mount")
            .args(["-t", "fusectl", "fusectl"])
            .arg(connections)
            .status();
    }
    if let Ok(meta) = std::fs::metadata(mountpoint) {
        // The connection is named by the mount's device number (major 0: the minor alone).
        let _ = std::fs::write(connections.join(meta.dev().to_string()).join("abort"), "1");
    }
}

struct PowerCutFs {
    backing: PathBuf,
    state: Mutex<State>,
    probes: Arc<Probes>,
}

#[derive(Default)]
struct State {
    nodes: HashMap<u64, Node>,
    names: HashMap<OsString, u64>,
    next_ino: u64,
}

/// A file: its backing file (kept open, so an unlinked file stays readable while open), its size
/// as the processes see it, and the pages written since its last fsync.
struct Node {
    name: OsString,
    file: File,
    size: u64,
    dirty: BTreeMap<u64, Vec<u8>>,
    /// Bytes from here on in the backing file are stale (a truncation not yet synced).
    stale_from: u64,
}

impl Node {
    fn open(path: &Path, name: &OsStr, create: bool) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            name: name.to_owned(),
            file,
            size,
            dirty: BTreeMap::new(),
            stale_from: u64::MAX,
        })
    }

    /// Page `index` as the processes see it (before clipping to the size).
    fn page(&self, index: u64) -> Vec<u8> {
        if let Some(page) = self.dirty.get(&index) {
            return page.clone();
        }
        let mut page = vec![0; PAGE as usize];
        let start = index * PAGE;
        if start < self.stale_from {
            let mut read = 0;
            while read < page.len() {
                match self.file.read_at(&mut page[read..], start + read as u64) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
            let stale = self.stale_from.saturating_sub(start).min(PAGE) as usize;
            page[stale..].fill(0);
        }
        page
    }

    fn read(&self, offset: u64, size: u64) -> Vec<u8> {
        let end = (offset + size).min(self.size);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let (index, within) = (at / PAGE, at % PAGE);
            let take = (PAGE - within).min(end - at);
            let page = self.page(index);
            out.extend_from_slice(&page[within as usize..(within + take) as usize]);
            at += take;
        }
        out
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let (index, within) = (at / PAGE, at % PAGE);
            let take = ((PAGE - within) as usize).min(data.len() - done);
            let mut page = self.page(index);
            page[within as usize..within as usize + take].copy_from_slice(&data[done..done + take]);
            self.dirty.insert(index, page);
            done += take;
        }
        self.size = self.size.max(offset + data.len() as u64);
    }

    fn truncate(&mut self, size: u64) {
        if size < self.size {
            // Keep the part of the last page below the new size; everything after reads as zeros.
            let index = size / PAGE;
            let mut page = self.page(index);
            page[(size % PAGE) as usize..].fill(0);
            self.dirty.retain(|&i, _| i < index);
            if !size.is_multiple_of(PAGE) {
                self.dirty.insert(index, page);
            }
            self.stale_from = self.stale_from.min(size);
        }
        self.size = size;
    }

    /// Write the unsynced pages to the backing file: now they survive a power cut.
    fn sync(&mut self) -> std::io::Result<()> {
        if self.stale_from != u64::MAX {
            self.file.set_len(self.stale_from.min(self.size))?;
        }
        for (index, page) in std::mem::take(&mut self.dirty) {
            let start = index * PAGE;
            if start >= self.size {
                continue;
            }
            let len = (self.size - start).min(PAGE) as usize;
            self.file.write_all_at(&page[..len], start)?;
        }
        self.file.set_len(self.size)?;
        self.stale_from = u64::MAX;
        Ok(())
    }

    /// Lose the unsynced pages (a failed fsync: the kernel marked them clean without writing them).
    fn drop_unsynced(&mut self) {
        self.dirty.clear();
        self.stale_from = u64::MAX;
        self.size = self.file.metadata().map(|m| m.len()).unwrap_or(0);
    }
}

const TTL: Duration = Duration::ZERO;

fn attr(ino: u64, kind: FileType, size: u64) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind,
        perm: if kind == FileType::Directory {
            0o755
        } else {
            0o644
        },
        nlink: if kind == FileType::Directory { 2 } else { 1 },
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: PAGE as u32,
        flags: 0,
    }
}

const ROOT: u64 = 1;

impl PowerCutFs {
    fn with_node<T>(&self, ino: INodeNo, work: impl FnOnce(&mut Node) -> T) -> Result<T, Errno> {
        let mut state = self.state.lock().map_err(|_| Errno::EIO)?;
        state
            .nodes
            .get_mut(&u64::from(ino))
            .map(work)
            .ok_or(Errno::ENOENT)
    }

    /// The node of `name` in the root directory, opened from the backing file if it exists.
    fn find(&self, name: &OsStr, create: bool) -> Result<(u64, u64), Errno> {
        let mut state = self.state.lock().map_err(|_| Errno::EIO)?;
        if let Some(&ino) = state.names.get(name) {
            let size = state.nodes.get(&ino).map_or(0, |n| n.size);
            return Ok((ino, size));
        }
        let path = self.backing.join(name);
        let node = Node::open(&path, name, create).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Errno::ENOENT,
            _ => Errno::EIO,
        })?;
        state.next_ino = state.next_ino.max(ROOT) + 1;
        let ino = state.next_ino;
        let size = node.size;
        state.names.insert(name.to_owned(), ino);
        state.nodes.insert(ino, node);
        Ok((ino, size))
    }
}

impl Filesystem for PowerCutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if u64::from(parent) != ROOT {
            return reply.error(Errno::ENOENT);
        }
        match self.find(name, false) {
            Ok((ino, size)) => {
                reply.entry(&TTL, &attr(ino, FileType::RegularFile, size), Generation(0))
            }
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if u64::from(ino) == ROOT {
            return reply.attr(&TTL, &attr(ROOT, FileType::Directory, 0));
        }
        match self.with_node(ino, |n| n.size) {
            Ok(size) => reply.attr(&TTL, &attr(ino.into(), FileType::RegularFile, size)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if u64::from(ino) == ROOT {
            return reply.attr(&TTL, &attr(ROOT, FileType::Directory, 0));
        }
        let resized = self.with_node(ino, |n| {
            if let Some(size) = size {
                n.truncate(size);
            }
            n.size
        });
        match resized {
            Ok(size) => reply.attr(&TTL, &attr(ino.into(), FileType::RegularFile, size)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if u64::from(parent) != ROOT {
            return reply.error(Errno::ENOENT);
        }
        let Ok(mut state) = self.state.lock() else {
            return reply.error(Errno::EIO);
        };
        state.names.remove(name);
        match std::fs::remove_file(self.backing.join(name)) {
            Ok(()) => reply.ok(),
            Err(_) => reply.error(Errno::ENOENT),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        name: &OsStr,
        _newparent: INodeNo,
        newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let Ok(mut state) = self.state.lock() else {
            return reply.error(Errno::EIO);
        };
        if std::fs::rename(self.backing.join(name), self.backing.join(newname)).is_err() {
            return reply.error(Errno::ENOENT);
        }
        if let Some(ino) = state.names.remove(name) {
            if let Some(node) = state.nodes.get_mut(&ino) {
                node.name = newname.to_owned();
            }
            state.names.insert(newname.to_owned(), ino);
        }
        reply.ok();
    }

    fn open(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.opened(FileHandle(0), FopenFlags::empty());
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.with_node(ino, |n| n.read(offset, u64::from(size))) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.with_node(ino, |n| n.write(offset, data)) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // A close is not a sync.
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let fail = self.probes.fail_fsync.load(Ordering::SeqCst);
        let synced = self.with_node(ino, |n| {
            if fail {
                n.drop_unsynced();
                return Err(Errno::EIO);
            }
            n.sync().map_err(|_| Errno::EIO)?;
            Ok(n.name.to_string_lossy().ends_with(".db"))
        });
        match synced.and_then(|r| r) {
            Ok(database) => {
                self.probes.syncs.fetch_add(1, Ordering::SeqCst);
                if database {
                    self.probes.db_syncs.fetch_add(1, Ordering::SeqCst);
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.opened(FileHandle(0), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if u64::from(ino) != ROOT {
            return reply.error(Errno::ENOENT);
        }
        let mut entries = vec![
            (ROOT, FileType::Directory, OsString::from(".")),
            (ROOT, FileType::Directory, OsString::from("..")),
        ];
        if let Ok(dir) = std::fs::read_dir(&self.backing) {
            for entry in dir.flatten() {
                if let Ok((ino, _)) = self.find(&entry.file_name(), false) {
                    entries.push((ino, FileType::RegularFile, entry.file_name()));
                }
            }
        }
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Directory entries reach the disk at once in this model.
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(
            1 << 24,
            1 << 23,
            1 << 23,
            1 << 20,
            1 << 19,
            PAGE as u32,
            255,
            PAGE as u32,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        if u64::from(parent) != ROOT {
            return reply.error(Errno::ENOENT);
        }
        match self.find(name, true) {
            Ok((ino, size)) => reply.created(
                &TTL,
                &attr(ino, FileType::RegularFile, size),
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(dir: &Path) -> Node {
        Node::open(&dir.join("f"), OsStr::new("f"), true).unwrap()
    }

    #[test]
    fn unsynced_writes_are_lost_and_synced_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = node(dir.path());
        f.write(0, b"hello");
        f.sync().unwrap();
        f.write(3, b"p!!! and more");
        assert_eq!(f.read(0, 100), b"help!!! and more");
        // A fresh instance sees the disk: what was synced.
        let again = node(dir.path());
        assert_eq!(again.read(0, 100), b"hello");
    }

    #[test]
    fn a_truncation_reaches_the_disk_with_the_next_sync_and_reads_as_zeros_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = node(dir.path());
        f.write(0, &[7; 10_000]);
        f.sync().unwrap();
        f.truncate(5000);
        f.write(9000, b"x");
        let read = f.read(0, 20_000);
        assert_eq!(read.len(), 9001);
        assert!(read[..5000].iter().all(|&b| b == 7));
        assert!(read[5000..9000].iter().all(|&b| b == 0));
        assert_eq!(node(dir.path()).size, 10_000, "not synced yet");
        f.sync().unwrap();
        let synced = node(dir.path());
        assert_eq!(synced.read(0, 20_000), read);
    }

    #[test]
    fn a_failed_fsync_loses_the_unsynced_pages() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = node(dir.path());
        f.write(0, b"kept");
        f.sync().unwrap();
        f.write(4, b" and lost");
        f.drop_unsynced();
        assert_eq!(f.read(0, 100), b"kept");
    }
}
