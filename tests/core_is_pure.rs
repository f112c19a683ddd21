#![cfg(not(target_arch = "wasm32"))]
//! The protocol core must stay pure: no browser crate may be imported under src/core.
//! (STYLE.md principle 1; the shell in src/shell is the only place that touches the browser.)

use std::fs;
use std::path::Path;

const FORBIDDEN: [&str; 5] = ["wasm_bindgen", "web_sys", "js_sys", "gloo_", "getrandom"];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_imports_no_browser_crate() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    rust_files(&core, &mut files);
    assert!(
        files.len() >= 10,
        "expected the core modules under {}",
        core.display()
    );
    let mut offences = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if code.contains(word) {
                    offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "browser crates in the core:\n{}",
        offences.join("\n")
    );
}
