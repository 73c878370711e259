//! Writing outputs safely: never over an input, always atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an output file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(
        "refusing to write {output}: it is the input file {input}; choose another output path"
    )]
    WouldOverwriteInput { input: String, output: String },
    #[error("cannot write {path}: {message}")]
    Io { path: String, message: String },
}

/// Fails if `output` names the same file as any of `inputs` (also through links or
/// relative paths).
pub fn refuse_overwrite(inputs: &[&Path], output: &Path) -> Result<(), OutputError> {
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
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(parent).ok()?;
    Some(dir.join(path.file_name()?))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a
/// rename, so readers never see a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let io = |e: std::io::Error| OutputError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| OutputError::Io {
            path: path.display().to_string(),
            message: "not a file path".into(),
        })?
        .to_string_lossy()
        .to_string();
    let tmp = parent.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_same_file_by_another_name() {
        let dir = std::env::temp_dir().join(format!("ferrolite-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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
}
