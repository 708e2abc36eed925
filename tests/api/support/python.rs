//! Python environments for the tests that drive a Python client (the Graph SDK, a metrics parser).

/// The python of a venv that `script` (under scripts/, a wrapper of scripts/py-env.sh) makes once per machine with
/// pinned packages from PyPI. The tests that need one are never skipped: without Python 3.9+ and PyPI they fail.
pub fn venv_python(root: &std::path::Path, script: &str) -> String {
    let out = std::process::Command::new("bash")
        .arg(root.join(script))
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} could not make its Python environment (Python 3.9+ and PyPI are needed; the test is never \
         skipped):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 path").trim().to_owned()
}
