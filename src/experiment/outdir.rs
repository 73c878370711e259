//! The experiment's output directory: built aside, swapped in whole at the end, so an
//! interrupted run never leaves a mix of old and new results and a refused or failed run
//! never touches the previous report.

use std::path::{Path, PathBuf};

use super::ExperimentError;

/// The file whose presence marks a finished experiment directory.
pub const REPORT_JSON: &str = "report.json";

/// A directory being filled for `target`.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    dir: PathBuf,
}

fn io_err(path: &Path, e: std::io::Error) -> ExperimentError {
    ExperimentError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The parent directory and file name of `target`.
fn split(target: &Path) -> Result<(PathBuf, String), ExperimentError> {
    let name = target
        .file_name()
        .ok_or_else(|| {
            ExperimentError::Output(format!("{} is not a directory path", target.display()))
        })?
        .to_string_lossy()
        .to_string();
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((parent.to_path_buf(), name))
}

impl Staging {
    /// Checks that `target` may receive the results, before any work is done: a missing
    /// or empty directory always may; a previous experiment only with `force`; anything
    /// else never (it is not ours to delete).
    pub fn begin(target: &Path, force: bool) -> Result<Staging, ExperimentError> {
        let (parent, name) = split(target)?;
        // What killed runs left: their partial directories go, and a previous report moved
        // aside by a run killed before its replacement was in place comes back.
        crate::fsutil::clean_stale(&parent, &name);
        if let Ok(meta) = std::fs::symlink_metadata(target) {
            if !meta.is_dir() {
                return Err(ExperimentError::Output(format!(
                    "{} exists and is not a directory; choose another --output",
                    target.display()
                )));
            }
            let empty = std::fs::read_dir(target)
                .map_err(|e| io_err(target, e))?
                .next()
                .is_none();
            if !empty {
                if !target.join(REPORT_JSON).is_file() {
                    return Err(ExperimentError::Output(format!(
                        "{} holds files that are not an experiment report; choose another --output",
                        target.display()
                    )));
                }
                if !force {
                    return Err(ExperimentError::Output(format!(
                        "refusing to replace the previous report in {}; pass --force to replace it or choose another --output",
                        target.display()
                    )));
                }
            }
        }
        let dir = parent.join(crate::fsutil::temp_name(&name, "partial"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        Ok(Staging {
            target: target.to_path_buf(),
            dir,
        })
    }

    /// Where files go while the run lasts.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Moves the finished directory into place: swapped with the previous one in one
    /// rename where the system can, so a kill leaves the old report or the new one.
    pub fn commit(self) -> Result<PathBuf, ExperimentError> {
        let old = crate::fsutil::install_dir(&self.dir, &self.target)
            .map_err(|e| io_err(&self.target, e))?;
        crate::fsutil::kill_point("experiment-installed");
        if let Some(old) = old {
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(self.target.clone())
    }
}

impl Drop for Staging {
    /// A failed run removes its partial results (a committed run has moved them).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ferrolite-outdir-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn refuses_previous_report_without_force_and_keeps_it_on_failure() {
        let root = scratch("refuse");
        let target = root.join("out");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join(REPORT_JSON), "{\"old\": true}").unwrap();
        let err = Staging::begin(&target, false).unwrap_err().to_string();
        assert!(err.contains("--force"), "{err}");
        // With force, a run that fails (staging dropped) leaves the old report intact.
        {
            let staging = Staging::begin(&target, true).unwrap();
            std::fs::write(staging.path().join(REPORT_JSON), "{\"new\": true}").unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(target.join(REPORT_JSON)).unwrap(),
            "{\"old\": true}"
        );
        // A committed run replaces it whole and leaves no staging directories.
        let staging = Staging::begin(&target, true).unwrap();
        std::fs::write(staging.path().join(REPORT_JSON), "{\"new\": true}").unwrap();
        staging.commit().unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join(REPORT_JSON)).unwrap(),
            "{\"new\": true}"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "out")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn never_replaces_a_directory_that_is_not_a_report() {
        let root = scratch("foreign");
        let target = root.join("photos");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join("cat.jpg"), "x").unwrap();
        let err = Staging::begin(&target, true).unwrap_err().to_string();
        assert!(err.contains("not an experiment report"), "{err}");
        let file = root.join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(Staging::begin(&file, true).is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_killed_runs_leftovers_are_cleaned_and_a_report_moved_aside_comes_back() {
        let root = scratch("stale");
        let target = root.join("out");
        // A run killed between moving the old report aside and moving its own in (pid
        // 999999999 is above Linux's pid_max, so no such process lives).
        let old = root.join(".out.ferrolite-999999999.old");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join(REPORT_JSON), "{\"old\": true}").unwrap();
        let partial = root.join(".out.ferrolite-999999999.partial");
        std::fs::create_dir_all(&partial).unwrap();
        std::fs::write(partial.join("half.tflite"), "x").unwrap();
        let err = Staging::begin(&target, false).unwrap_err().to_string();
        assert!(
            err.contains("--force"),
            "the restored report is protected: {err}"
        );
        assert_eq!(
            std::fs::read_to_string(target.join(REPORT_JSON)).unwrap(),
            "{\"old\": true}"
        );
        assert!(!old.exists() && !partial.exists());
        let _ = std::fs::remove_dir_all(&root);
    }
}
