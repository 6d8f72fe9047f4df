//! The release packages the bench runs: each `target/lambda/<f>/bootstrap.zip`, its size,
//! and the `bootstrap` inside it, extracted so the shipped bytes are what runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::phases::FUNCTIONS;

/// One function's package.
#[derive(Debug, Clone)]
pub struct Package {
    pub function: String,
    pub zip: PathBuf,
    pub zip_bytes: u64,
    pub bootstrap: PathBuf,
    pub bootstrap_bytes: u64,
    pub machine: &'static str,
}

/// Extracts each `target/lambda/<f>/bootstrap.zip` into `<out>/bin/<f>/bootstrap` (the
/// shipped bytes are what runs) and checks it is an x86_64 ELF this machine can run.
pub fn packages(root: &Path, out: &Path) -> Result<Vec<Package>, String> {
    let python = crate::harness::process::venv_file("bin/python");
    let mut all = Vec::new();
    for f in FUNCTIONS {
        let zip = root.join("target/lambda").join(f).join("bootstrap.zip");
        let zip_bytes = std::fs::metadata(&zip)
            .map_err(|e| {
                format!(
                    "{}: {e}; build it with `make package ARCH=x86_64` (make bench does)",
                    zip.display()
                )
            })?
            .len();
        let dir = out.join("bin").join(f);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let bootstrap = dir.join("bootstrap");
        let status = Command::new(&python)
            .args([
                "-c",
                "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nopen(sys.argv[2], 'wb').write(z.read('bootstrap'))",
            ])
            .arg(&zip)
            .arg(&bootstrap)
            .status()
            .map_err(|e| format!("extracting {}: {e}", zip.display()))?;
        if !status.success() {
            return Err(format!(
                "extracting bootstrap from {} failed",
                zip.display()
            ));
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", bootstrap.display()))?;
        let head = std::fs::read(&bootstrap).map_err(|e| e.to_string())?;
        let machine = match (head.get(..4), head.get(18..20)) {
            (Some(b"\x7fELF"), Some([0x3e, 0])) => "x86_64",
            (Some(b"\x7fELF"), Some([0xb7, 0])) => "aarch64",
            _ => "unknown",
        };
        if machine != std::env::consts::ARCH {
            return Err(format!(
                "{} holds a {machine} bootstrap; this machine runs {}: rebuild with `make package ARCH=x86_64` (make bench does)",
                zip.display(),
                std::env::consts::ARCH
            ));
        }
        all.push(Package {
            function: f.to_string(),
            zip,
            zip_bytes,
            bootstrap_bytes: head.len() as u64,
            bootstrap,
            machine,
        });
    }
    Ok(all)
}
