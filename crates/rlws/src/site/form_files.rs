//! [`SaveFiles`]: the file parts of a [`super::Form`] written to a
//! directory as they stream, under names of rlws' choosing, within a limit.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::form::{FormError, FormEvent};

/// A file part [`SaveFiles`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedFile {
    /// The form field's name.
    pub field: String,
    /// The file name the client gave (not a path to trust).
    pub filename: String,
    /// Its `Content-Type` as the client gave it.
    pub content_type: String,
    /// Where it was written: in the directory, named after the client's
    /// file name made safe (letters, digits, `.`, `-`, `_`), with `-N` added
    /// when that name is taken.
    pub path: PathBuf,
    /// Bytes written.
    pub size: u64,
}

/// Writes the file parts of a form to a directory as they arrive (what lws'
/// "spa" file callback and its `deaddrop` plugin do): give it every
/// [`FormEvent`] of a [`super::Form`]; text fields pass it by.
///
/// A file is made only in the directory, never where the client's file name
/// points, and never over an existing file. Past `max_files` files or
/// `max_total` bytes of files in one form the form is refused with
/// [`FormError::TooLarge`] (`413`); [`super::FormLimits::max_file`] bounds
/// each file. Only a form taken whole keeps its files: unless
/// [`SaveFiles::into_saved`] took them, every file the saver wrote is
/// removed when it is dropped (the form was refused, or the client went
/// away), as by [`SaveFiles::discard`].
///
/// The writes are plain blocking writes on the service thread, as lws'
/// are: put the directory on a local file system.
#[derive(Debug)]
#[doc(alias = "lws_spa")]
pub struct SaveFiles {
    dir: PathBuf,
    max_total: u64,
    max_files: usize,
    total: u64,
    current: Option<(File, SavedFile)>,
    saved: Vec<SavedFile>,
}

/// Names tried with `-N` added before random ones.
const NUMBERED_TRIES: u32 = 10;
/// Random names tried after those.
const RANDOM_TRIES: u32 = 10;

impl SaveFiles {
    /// Saves into `dir` (which must exist): at most 100 files and 1 GiB of
    /// them per form.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SaveFiles {
            dir: dir.into(),
            max_total: 1 << 30,
            max_files: 100,
            total: 0,
            current: None,
            saved: Vec::new(),
        }
    }

    /// At most `bytes` of files in one form.
    pub fn max_total(mut self, bytes: u64) -> Self {
        self.max_total = bytes;
        self
    }

    /// At most `n` files in one form.
    pub fn max_files(mut self, n: usize) -> Self {
        self.max_files = n;
        self
    }

    /// Handles one event of the form: starts, writes or ends a file.
    pub fn on(&mut self, event: &FormEvent<'_>) -> Result<(), FormError> {
        match *event {
            FormEvent::Field { .. } => Ok(()),
            FormEvent::FileStart {
                name,
                filename,
                content_type,
            } => {
                self.abandon_current();
                if self.saved.len() >= self.max_files {
                    return Err(FormError::TooLarge("files in the form"));
                }
                let (file, path) = create(&self.dir, filename)?;
                self.current = Some((
                    file,
                    SavedFile {
                        field: name.to_string(),
                        filename: filename.to_string(),
                        content_type: content_type.to_string(),
                        path,
                        size: 0,
                    },
                ));
                Ok(())
            }
            FormEvent::FileData(data) => {
                let Some((file, saved)) = self.current.as_mut() else {
                    return Ok(());
                };
                self.total += data.len() as u64;
                if self.total > self.max_total {
                    return Err(FormError::TooLarge("files in the form"));
                }
                file.write_all(data)
                    .map_err(|e| cannot("write", &saved.path, &e))?;
                saved.size += data.len() as u64;
                Ok(())
            }
            FormEvent::FileEnd { .. } => {
                if let Some((file, saved)) = self.current.take() {
                    if let Err(e) = file.sync_data() {
                        let _ = std::fs::remove_file(&saved.path);
                        return Err(cannot("write", &saved.path, &e));
                    }
                    self.saved.push(saved);
                }
                Ok(())
            }
        }
    }

    /// The files written whole so far.
    pub fn saved(&self) -> &[SavedFile] {
        &self.saved
    }

    /// The files written whole; they stay. A part still being written is removed.
    pub fn into_saved(mut self) -> Vec<SavedFile> {
        self.abandon_current();
        std::mem::take(&mut self.saved)
    }

    /// Removes every file this form wrote (after the form was refused);
    /// dropping the saver does the same.
    pub fn discard(self) {
        drop(self);
    }

    fn abandon_current(&mut self) {
        if let Some((file, saved)) = self.current.take() {
            drop(file);
            let _ = std::fs::remove_file(&saved.path);
        }
    }
}

impl Drop for SaveFiles {
    fn drop(&mut self) {
        self.abandon_current();
        for f in self.saved.drain(..) {
            let _ = std::fs::remove_file(&f.path);
        }
    }
}

fn cannot(what: &str, path: &Path, e: &std::io::Error) -> FormError {
    tracing::warn!(path = %path.display(), error = %e, "cannot {what} an uploaded file");
    FormError::Storage(format!("cannot {what} {}: {e}", path.display()))
}

/// The client's file name as a plain name in one directory: its last
/// component, with anything but letters, digits, `.`, `-` and `_` made `_`,
/// no leading dot, at most 100 characters; `upload` when nothing is left.
pub(crate) fn safe_name(filename: &str) -> String {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    while out.starts_with('.') {
        out.remove(0);
    }
    if out.is_empty() {
        out.push_str("upload");
    }
    out
}

/// A new file in `dir` for `filename`, never over an existing one.
fn create(dir: &Path, filename: &str) -> Result<(File, PathBuf), FormError> {
    let name = safe_name(filename);
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name.as_str(), ""),
    };
    for n in 0..NUMBERED_TRIES + RANDOM_TRIES {
        let path = match n {
            0 => dir.join(&name),
            n if n < NUMBERED_TRIES => dir.join(format!("{stem}-{n}{ext}")),
            // Many files of one name: a random suffix, not a long search.
            _ => dir.join(format!("{stem}-{}{ext}", super::file::random_hex::<8>())),
        };
        match File::options().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(cannot("create", &path, &e)),
        }
    }
    Err(FormError::Storage(format!(
        "no free name for {name} in {}",
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn client_file_names_become_plain_names() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\Users\\me\\photo 1.jpg"), "photo_1.jpg");
        assert_eq!(safe_name(".htaccess"), "htaccess");
        assert_eq!(safe_name(".."), "upload");
        assert_eq!(safe_name(""), "upload");
        assert_eq!(safe_name("dir/"), "upload");
        assert_eq!(safe_name("naïve.txt"), "na_ve.txt");
        assert_eq!(safe_name(&"a".repeat(300)).len(), 100);
    }
}
