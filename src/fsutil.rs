//! Files in and out, when anyone may have chosen the paths.
//!
//! Inputs are read only from regular files and only up to a size cap per kind of file
//! ([`InputLimit`]): a FIFO would block forever, `/dev/zero` would be read until memory
//! runs out, and a directory would give a confusing "not found". The kind is checked
//! before opening (so nothing blocks), the file is opened non-blocking, and checked
//! again on the open handle (so a file swapped in between is caught too).
//!
//! Outputs never replace anything but a regular file: a FIFO, a device, a socket or a
//! directory at the output path is refused, and so is a symbolic link (ferrolite does
//! not write through links: the link's target may be anywhere, e.g. a system file when
//! run as root; pass the target's path instead). Files are written to a temporary file
//! in the same directory and renamed over the output ([`write_atomic`]); model
//! directories are built beside the old one and swapped in whole ([`replace_dir`]).
//! Temporaries are named `.NAME.ferrolite-PID.tmp` (`.partial`, `.old` for
//! directories): a run that is killed leaves them behind, and the next write to the
//! same output removes those whose process is gone.

use std::fs::{File, Metadata};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The most a file of one kind may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputLimit {
    /// What the file is, for messages: ".tflite model", ".npy array", ...
    pub kind: &'static str,
    pub max_bytes: u64,
    /// Why the limit is what it is, or how to raise it.
    pub why: &'static str,
}

impl InputLimit {
    pub const TFLITE: InputLimit = InputLimit {
        kind: ".tflite model",
        max_bytes: 1 << 31,
        why: "a TFLite flatbuffer cannot be larger",
    };
    pub const NPY: InputLimit = InputLimit {
        kind: ".npy array",
        max_bytes: 1 << 31,
        why: "split the array into several files",
    };
    pub const NPZ: InputLimit = InputLimit {
        kind: ".npz archive",
        max_bytes: 1 << 31,
        why: "split the arrays into several files",
    };
    pub const JSON: InputLimit = InputLimit {
        kind: "JSON file",
        max_bytes: 64 << 20,
        why: "an architecture or model.json is a few kilobytes",
    };
    /// The file on disk, compressed or not; the IDX reader bounds the decompressed
    /// payload separately.
    pub const IDX: InputLimit = InputLimit {
        kind: "MNIST IDX file",
        max_bytes: 1 << 31,
        why: "the MNIST training images are 47 MB uncompressed",
    };
}

/// Why an input file could not be read. Each message names the file once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("{path} not found")]
    NotFound { path: String },
    #[error("cannot read {path}: permission denied")]
    PermissionDenied { path: String },
    #[error("{path} is a directory, not a {kind}")]
    Directory { path: String, kind: &'static str },
    #[error(
        "{path} is a {file_type}, not a regular file; a {kind} is read only from a regular file"
    )]
    NotRegular {
        path: String,
        file_type: &'static str,
        kind: &'static str,
    },
    #[error("{path} is {size} bytes, more than the {limit} bytes a {kind} may have ({why})")]
    TooLarge {
        path: String,
        kind: &'static str,
        size: u64,
        limit: u64,
        why: &'static str,
    },
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
}

impl InputError {
    fn from_io(path: &Path, e: &std::io::Error) -> InputError {
        let path = path.display().to_string();
        match e.kind() {
            std::io::ErrorKind::NotFound => InputError::NotFound { path },
            std::io::ErrorKind::PermissionDenied => InputError::PermissionDenied { path },
            _ => InputError::Io {
                path,
                message: e.to_string(),
            },
        }
    }
}

/// What kind of file `meta` describes, for messages ("FIFO", "character device", ...).
pub fn file_type_name(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_file() {
        return "regular file";
    }
    if t.is_dir() {
        return "directory";
    }
    if t.is_symlink() {
        return "symbolic link";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "character device";
        }
        if t.is_block_device() {
            return "block device";
        }
        if t.is_socket() {
            return "socket";
        }
    }
    "special file"
}

fn check_input_meta(path: &Path, meta: &Metadata, limit: &InputLimit) -> Result<(), InputError> {
    if meta.is_dir() {
        return Err(InputError::Directory {
            path: path.display().to_string(),
            kind: limit.kind,
        });
    }
    if !meta.is_file() {
        return Err(InputError::NotRegular {
            path: path.display().to_string(),
            file_type: file_type_name(meta),
            kind: limit.kind,
        });
    }
    if meta.len() > limit.max_bytes {
        return Err(InputError::TooLarge {
            path: path.display().to_string(),
            kind: limit.kind,
            size: meta.len(),
            limit: limit.max_bytes,
            why: limit.why,
        });
    }
    Ok(())
}

/// Opens `path` for reading if it is a regular file within `limit`; returns the file
/// and its size.
pub fn open_input(path: &Path, limit: &InputLimit) -> Result<(File, u64), InputError> {
    let err = |e: std::io::Error| InputError::from_io(path, &e);
    check_input_meta(path, &std::fs::metadata(path).map_err(err)?, limit)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO without O_NONBLOCK waits for a writer; one put there after
        // the check above must not hang us either.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(err)?;
    let meta = file.metadata().map_err(err)?;
    check_input_meta(path, &meta, limit)?;
    Ok((file, meta.len()))
}

/// The whole of `path`, a regular file within `limit`.
pub fn read_input(path: &Path, limit: &InputLimit) -> Result<Vec<u8>, InputError> {
    let (file, size) = open_input(path, limit)?;
    // The size is a hint; a file growing while read is still stopped at the limit.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| InputError::from_io(path, &e))?;
    if bytes.len() as u64 > limit.max_bytes {
        return Err(InputError::TooLarge {
            path: path.display().to_string(),
            kind: limit.kind,
            size: bytes.len() as u64,
            limit: limit.max_bytes,
            why: limit.why,
        });
    }
    Ok(bytes)
}

/// [`read_input`] as UTF-8 text.
pub fn read_input_text(path: &Path, limit: &InputLimit) -> Result<String, InputError> {
    String::from_utf8(read_input(path, limit)?).map_err(|e| InputError::Io {
        path: path.display().to_string(),
        message: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })
}

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(
        "refusing to write {output}: it is the input file {input}; choose another output path"
    )]
    WouldOverwriteInput { input: String, output: String },
    #[error("refusing to write {path}: it is a {file_type}, and only a regular file is replaced; choose another output path")]
    NotRegular {
        path: String,
        file_type: &'static str,
    },
    #[error("refusing to write {path}: it is a symbolic link (to {target}), and ferrolite does not write through links; pass the path it points to")]
    Symlink { path: String, target: String },
    #[error("refusing to write {path}: it is a {file_type}, not a directory; choose another output directory")]
    NotADirectory {
        path: String,
        file_type: &'static str,
    },
    #[error("refusing to replace {path}: it holds {found}, which is not part of a model directory; choose another output directory")]
    ForeignFiles { path: String, found: String },
    #[error("cannot write {path}: {message}")]
    Io { path: String, message: String },
}

fn out_io(path: &Path) -> impl Fn(std::io::Error) -> OutputError + '_ {
    move |e| OutputError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Fails if `output` names the same file as any of `inputs` (also through links or
/// relative paths), or if a link or a special file (FIFO, device, socket) is there. A
/// directory passes: the caller knows whether it wants one.
pub fn refuse_overwrite(inputs: &[&Path], output: &Path) -> Result<(), OutputError> {
    if !output.is_dir() || std::fs::symlink_metadata(output).is_ok_and(|m| m.is_symlink()) {
        check_output_file(output)?;
    }
    let canon_out = canonical_even_if_missing(output);
    for input in inputs {
        let same = match (std::fs::canonicalize(input), &canon_out) {
            (Ok(a), Some(b)) => &a == b,
            _ => false,
        };
        if same {
            return Err(OutputError::WouldOverwriteInput {
                input: input.display().to_string(),
                output: output.display().to_string(),
            });
        }
    }
    Ok(())
}

fn canonical_even_if_missing(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::fs::canonicalize(path) {
        return Some(p);
    }
    let (parent, name) = split(path).ok()?;
    Some(std::fs::canonicalize(parent).ok()?.join(name))
}

/// Fails unless `path` is missing or a regular file (not a link to one).
pub fn check_output_file(path: &Path) -> Result<(), OutputError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(out_io(path)(e)),
        Ok(meta) if meta.file_type().is_symlink() => Err(symlink_err(path)),
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) => Err(OutputError::NotRegular {
            path: path.display().to_string(),
            file_type: file_type_name(&meta),
        }),
    }
}

fn symlink_err(path: &Path) -> OutputError {
    OutputError::Symlink {
        path: path.display().to_string(),
        target: std::fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into()),
    }
}

/// The directory and file name of `path` ("." for a bare name).
fn split(path: &Path) -> Result<(&Path, String), OutputError> {
    let name = path.file_name().ok_or_else(|| OutputError::Io {
        path: path.display().to_string(),
        message: "not a file path".into(),
    })?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((parent, name.to_string_lossy().into_owned()))
}

/// The temporary name beside output `name` for this process; `what` is tmp, partial
/// or old.
pub(crate) fn temp_name(name: &str, what: &str) -> String {
    format!(".{name}.ferrolite-{}.{what}", std::process::id())
}

/// For a directory entry beside output `name`: the process id and kind (tmp, partial,
/// old) if it is one of our temporaries. Also matches `.NAME.PID.tmp`, the name older
/// versions used.
fn parse_temp_name<'a>(entry: &'a str, name: &str) -> Option<(u32, &'a str)> {
    let rest = entry
        .strip_prefix('.')?
        .strip_prefix(name)?
        .strip_prefix('.')?;
    let rest = rest.strip_prefix("ferrolite-").unwrap_or(rest);
    let (pid, what) = rest.split_once('.')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let what = match what {
        "tmp" | "partial" | "old" => what,
        _ => return None,
    };
    Some((pid.parse().ok()?, what))
}

/// Whether process `pid` may still be running (and so still own its temporaries).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return true;
        };
        if pid <= 0 {
            return true;
        }
        // Signal 0 only asks whether the process exists.
        // SAFETY: kill with signal 0 sends nothing and touches no memory.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// Removes the temporaries that killed runs left beside output `name` in `dir`. A
/// model directory moved aside (`.old`) while its replacement was not yet in place is
/// moved back instead: it is the last complete output.
pub fn clean_stale(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let target = dir.join(name);
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some((pid, what)) = parse_temp_name(&file_name, name) else {
            continue;
        };
        if process_alive(pid) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        match what {
            "tmp" if meta.is_file() => {
                let _ = std::fs::remove_file(&path);
            }
            "old" if meta.is_dir() && std::fs::symlink_metadata(&target).is_err() => {
                let _ = std::fs::rename(&path, &target);
            }
            "partial" | "old" if meta.is_dir() => {
                let _ = std::fs::remove_dir_all(&path);
            }
            _ => {}
        }
    }
}

/// Test hook: a process whose `FERROLITE_KILL_AT` names `point` dies there at once,
/// without unwinding or cleanup, as `kill -9` would. The crash tests use it to stop a
/// write between each step and check that the old or the new output is intact.
pub fn kill_point(point: &str) {
    if std::env::var_os("FERROLITE_KILL_AT").is_some_and(|v| v == point) {
        std::process::abort();
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a
/// rename, so readers never see a half-written file. Refuses to replace anything but
/// a regular file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    check_output_file(path)?;
    let (parent, name) = split(path)?;
    clean_stale(parent, &name);
    let tmp = parent.join(temp_name(&name, "tmp"));
    let io = out_io(path);
    // Only a dead process with our id (recycled) can have left this name behind.
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        // create_new: never follows a link or reuses a file planted at the temp name.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        kill_point("file-written");
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)?;
    sync_dir(parent);
    Ok(())
}

/// Makes renames in `dir` durable; failure only weakens durability, so it is ignored.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// What is at a model directory's path now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirState {
    Missing,
    /// An empty directory (stale temporaries aside).
    Empty,
    /// A directory holding only files the output owns.
    Owned,
}

/// Fails unless `target` is missing, an empty directory, or a directory holding only
/// the files named in `owned` (and our temporaries); says which.
pub fn check_output_dir(target: &Path, owned: &[&str]) -> Result<DirState, OutputError> {
    let meta = match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DirState::Missing),
        Err(e) => return Err(out_io(target)(e)),
        Ok(m) => m,
    };
    if meta.file_type().is_symlink() {
        return Err(symlink_err(target));
    }
    if !meta.is_dir() {
        return Err(OutputError::NotADirectory {
            path: target.display().to_string(),
            file_type: file_type_name(&meta),
        });
    }
    let mut foreign = Vec::new();
    let mut any = false;
    for entry in std::fs::read_dir(target).map_err(out_io(target))? {
        let entry = entry.map_err(out_io(target))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if owned.iter().any(|o| parse_temp_name(&name, o).is_some()) {
            continue;
        }
        if owned.contains(&name.as_str()) {
            any = true;
        } else {
            foreign.push(name);
        }
    }
    if !foreign.is_empty() {
        foreign.sort();
        let shown: Vec<&str> = foreign.iter().take(3).map(String::as_str).collect();
        let more = foreign.len().saturating_sub(shown.len());
        return Err(OutputError::ForeignFiles {
            path: target.display().to_string(),
            found: if more > 0 {
                format!("{} and {more} more", shown.join(", "))
            } else {
                shown.join(", ")
            },
        });
    }
    Ok(if any {
        DirState::Owned
    } else {
        DirState::Empty
    })
}

/// Renames `a` and `b` into each other's place in one step, where the system can.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    const RENAME_EXCHANGE: libc::c_uint = 1 << 1;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        // Kernels or file systems without the exchange flag.
        Some(libc::ENOSYS) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// Removes the staging directory unless the swap consumed it.
struct StagingGuard(Option<PathBuf>);

impl Drop for StagingGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Replaces the directory `target` by one that `fill` writes, so that `target` holds
/// the old contents or the new ones, never a mix, wherever the process is stopped.
///
/// `target` may be missing, empty, or hold only the files in `owned` (anything else is
/// refused: it is not ours to delete). A missing or empty target is filled by a rename
/// of the staged directory or, when it exists, by writing into it (there is nothing to
/// mix with, and a mount point or the working directory keeps its identity). A target
/// holding an older output is swapped with the staged directory in one
/// `renameat2(RENAME_EXCHANGE)`; where that is not available, the old directory is
/// renamed aside first (a run killed between the two renames leaves it as `.old`, and
/// the next run puts it back).
pub fn replace_dir<E: From<OutputError>>(
    target: &Path,
    owned: &[&str],
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let (parent, name) = split(target)?;
    if !parent.as_os_str().is_empty() {
        std::fs::create_dir_all(parent).map_err(out_io(parent))?;
    }
    clean_stale(parent, &name);
    let state = check_output_dir(target, owned)?;
    if state == DirState::Empty {
        return fill(target);
    }
    let stage = parent.join(temp_name(&name, "partial"));
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir(&stage).map_err(out_io(&stage))?;
    let mut guard = StagingGuard(Some(stage.clone()));
    fill(&stage)?;
    sync_dir(&stage);
    kill_point("dir-staged");
    let leftover = swap_in(&stage, target, state, true).map_err(out_io(target))?;
    // What is left is the old output (or nothing); the guard deletes it.
    guard.0 = leftover;
    sync_dir(parent);
    Ok(())
}

/// Puts the finished directory `stage` in place of `target` (missing or a directory of an
/// earlier output the caller has checked) with one exchange where the system has it, else by
/// renaming the old one aside first (a kill in between leaves it as `.old`, which
/// [`clean_stale`] puts back). Returns the directory now holding the old output, to delete.
pub fn install_dir(stage: &Path, target: &Path) -> std::io::Result<Option<PathBuf>> {
    let state = if std::fs::symlink_metadata(target).is_ok() {
        DirState::Owned
    } else {
        DirState::Missing
    };
    swap_in(stage, target, state, true)
}

/// Moves the filled `stage` to `target` (in the given state); returns the directory
/// that now holds the old output, if any.
fn swap_in(
    stage: &Path,
    target: &Path,
    state: DirState,
    try_exchange: bool,
) -> std::io::Result<Option<PathBuf>> {
    if state == DirState::Missing {
        std::fs::rename(stage, target)?;
        return Ok(None);
    }
    if try_exchange && exchange(stage, target)? {
        kill_point("dir-exchanged");
        return Ok(Some(stage.to_path_buf()));
    }
    let (parent, name) = split(target).map_err(|e| std::io::Error::other(e.to_string()))?;
    let old = parent.join(temp_name(&name, "old"));
    std::fs::rename(target, &old)?;
    kill_point("dir-moved-aside");
    if let Err(e) = std::fs::rename(stage, target) {
        let _ = std::fs::rename(&old, target);
        return Err(e);
    }
    Ok(Some(old))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ferrolite-fsutil-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn refuses_same_file_by_another_name() {
        let dir = scratch("same");
        let input = dir.join("a.tflite");
        std::fs::write(&input, b"x").unwrap();
        let alias = dir.join(".").join("a.tflite");
        assert!(refuse_overwrite(&[&input], &alias).is_err());
        assert!(refuse_overwrite(&[&input], &dir.join("b.tflite")).is_ok());
        write_atomic(&dir.join("b.tflite"), b"hello").unwrap();
        assert_eq!(std::fs::read(dir.join("b.tflite")).unwrap(), b"hello");
        assert_eq!(std::fs::read(&input).unwrap(), b"x");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temp_names_parse_back_and_nothing_else_does() {
        let ours = temp_name("m.tflite", "tmp");
        assert_eq!(
            parse_temp_name(&ours, "m.tflite"),
            Some((std::process::id(), "tmp"))
        );
        assert_eq!(
            parse_temp_name(".m.tflite.123.tmp", "m.tflite"),
            Some((123, "tmp"))
        );
        assert_eq!(
            parse_temp_name(".out.ferrolite-9.partial", "out"),
            Some((9, "partial"))
        );
        for other in [
            "m.tflite",
            ".m.tflite.tmp",
            ".m.tflite.12x.tmp",
            ".m.tflite.12.bak",
            ".other.12.tmp",
            ".m.tflite.ferrolite-.tmp",
        ] {
            assert_eq!(parse_temp_name(other, "m.tflite"), None, "{other}");
        }
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = scratch("stale");
        // A process id that cannot be running: beyond the kernel's pid_max.
        let dead = ".m.tflite.ferrolite-2147483647.tmp";
        let legacy = ".m.tflite.2147483646.tmp";
        let mine = temp_name("m.tflite", "tmp");
        let unrelated = ".m.tflite.notes";
        for f in [dead, legacy, &mine, unrelated] {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
        write_atomic(&dir.join("m.tflite"), b"new").unwrap();
        assert!(!dir.join(dead).exists() && !dir.join(legacy).exists());
        assert!(dir.join(unrelated).exists());
        // A leftover with this process's id (a recycled pid) does not block the write.
        assert_eq!(std::fs::read(dir.join("m.tflite")).unwrap(), b"new");
        assert!(!dir.join(&mine).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn fill<'a>(
        files: &'a [(&'a str, &'a str)],
    ) -> impl FnOnce(&Path) -> Result<(), OutputError> + 'a {
        move |dir| {
            for (name, text) in files {
                write_atomic(&dir.join(name), text.as_bytes())?;
            }
            Ok(())
        }
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    /// Names in `dir` other than `keep`.
    fn others(dir: &Path, keep: &str) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != keep)
            .collect()
    }

    #[test]
    fn a_model_directory_is_replaced_whole() {
        let root = scratch("dir");
        let target = root.join("m");
        let owned = ["a", "b"];
        replace_dir(&target, &owned, fill(&[("a", "1"), ("b", "1")])).unwrap();
        replace_dir(&target, &owned, fill(&[("a", "2"), ("b", "2")])).unwrap();
        assert_eq!(
            (read(&target, "a"), read(&target, "b")),
            ("2".into(), "2".into())
        );
        assert!(others(&root, "m").is_empty(), "{:?}", others(&root, "m"));
        // A failed fill leaves the old directory and no staging behind.
        let failed = replace_dir(&target, &owned, |dir: &Path| {
            write_atomic(&dir.join("a"), b"3")?;
            Err(OutputError::Io {
                path: "x".into(),
                message: "stop".into(),
            })
        });
        assert!(failed.is_err());
        assert_eq!(
            (read(&target, "a"), read(&target, "b")),
            ("2".into(), "2".into())
        );
        assert!(others(&root, "m").is_empty());
        // Foreign files, a file and a link are refused untouched.
        std::fs::write(target.join("notes.txt"), "mine").unwrap();
        let e = replace_dir(&target, &owned, fill(&[("a", "4")])).unwrap_err();
        assert!(e.to_string().contains("notes.txt"), "{e}");
        assert_eq!(read(&target, "notes.txt"), "mine");
        std::fs::write(root.join("f"), "file").unwrap();
        assert!(replace_dir(&root.join("f"), &owned, fill(&[])).is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&target, root.join("link")).unwrap();
            let e = replace_dir(&root.join("link"), &owned, fill(&[])).unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{e}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// Without renameat2's exchange: the old directory is renamed aside first; a run
    /// killed between the two renames leaves it as `.old`, which the next run restores.
    #[test]
    fn the_two_rename_fallback_and_its_recovery() {
        let root = scratch("fallback");
        let target = root.join("m");
        replace_dir(&target, &["a"], fill(&[("a", "old")])).unwrap();
        let stage = root.join("staged");
        std::fs::create_dir(&stage).unwrap();
        std::fs::write(stage.join("a"), "new").unwrap();
        let old = swap_in(&stage, &target, DirState::Owned, false)
            .unwrap()
            .unwrap();
        assert_eq!(read(&target, "a"), "new");
        assert_eq!(read(&old, "a"), "old");
        std::fs::remove_dir_all(&old).unwrap();
        // The state a kill between the renames leaves, from a process that is gone.
        let aside = root.join(".m.ferrolite-2147483647.old");
        std::fs::rename(&target, &aside).unwrap();
        let partial = root.join(".m.ferrolite-2147483647.partial");
        std::fs::create_dir(&partial).unwrap();
        clean_stale(&root, "m");
        assert_eq!(read(&target, "a"), "new");
        assert!(!aside.exists() && !partial.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
