//! The one static-files fixture: a throwaway folder where every path
//! traversal has a real target, so a vulnerable server *would* leak
//! [`SECRET`]. Used by stage 04's tests and by the conformance suite.
//!
//! ```text
//! <tmp>/secret.txt                        outside the root: the secret
//! <tmp>/etc/passwd                        outside the root: the secret
//! <tmp>/root/                             the static root to serve
//! <tmp>/root/index.html
//! <tmp>/root/static/app.css
//! <tmp>/root/docs/index.html
//! <tmp>/root/.env                         a dotfile: the secret
//! <tmp>/root/leak.txt   -> ../secret.txt  a symlink out of the root
//! <tmp>/root/inside.css -> static/app.css a symlink inside the root
//! ```

use std::fs;
use std::path::{Path, PathBuf};

/// Every file that must never be served contains this, and no reply may.
pub const SECRET: &str = "TOP-SECRET-outside-the-static-root";

/// The fixture folder, deleted when dropped.
pub struct StaticFixture {
    directory: tempfile::TempDir,
}

impl StaticFixture {
    pub fn create() -> StaticFixture {
        let directory = tempfile::tempdir().expect("create a temporary directory");
        let base = directory.path();
        write(&base.join("secret.txt"), SECRET);
        write(&base.join("etc/passwd"), &format!("root:x:0:0:{SECRET}"));
        let root = base.join("root");
        write(&root.join("index.html"), "<h1>home</h1>\n");
        write(&root.join("static/app.css"), "body { color: teal; }\n");
        write(&root.join("docs/index.html"), "<h1>docs</h1>\n");
        write(&root.join(".env"), SECRET);
        std::os::unix::fs::symlink("../secret.txt", root.join("leak.txt"))
            .expect("create the symlink that points out of the root");
        std::os::unix::fs::symlink("static/app.css", root.join("inside.css"))
            .expect("create the symlink that stays inside the root");
        StaticFixture { directory }
    }

    /// The static root to serve.
    pub fn root(&self) -> PathBuf {
        self.directory.path().join("root")
    }
}

fn write(path: &Path, content: &str) {
    let folder = path.parent().expect("fixture files live in a folder");
    fs::create_dir_all(folder).expect("create a fixture folder");
    fs::write(path, content).expect("write a fixture file");
}
