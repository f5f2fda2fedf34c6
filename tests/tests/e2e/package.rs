//! The Debian package (ops/debian/build-deb), built around the binary the
//! tests run: it holds the binary, the unit, the kernel settings and a
//! settings file the server reads; its maintainer scripts are valid shell;
//! and the binary inside it runs.

use std::path::Path;
use std::process::Command;

use crate::common::BIN;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{cmd:?}: {said}{}", String::from_utf8_lossy(&out.stderr));
    said
}

#[test]
fn the_debian_package_holds_the_service_and_its_binary_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tempfile::tempdir().unwrap();
    let deb = run(Command::new(root.join("ops/debian/build-deb")).arg(BIN).arg(out.path()));
    let deb = deb.trim();
    assert!(deb.ends_with(".deb") && Path::new(deb).is_file(), "{deb}");

    let info = run(Command::new("dpkg-deb").args(["--field", deb, "Package", "Version", "Depends"]));
    assert!(info.contains("Package: chargeplane") && info.contains("Version: 0.1.0"), "{info}");
    let contents = run(Command::new("dpkg-deb").args(["--contents", deb]));
    for file in [
        "./usr/bin/chargeplane",
        "./lib/systemd/system/chargeplane.service",
        "./usr/lib/sysctl.d/99-chargeplane.conf",
        "./etc/chargeplane/chargeplane.toml",
    ] {
        assert!(contents.lines().any(|l| l.ends_with(file)), "{file} missing:\n{contents}");
    }
    let control = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb").args(["--control", deb]).arg(control.path()));
    assert_eq!(
        std::fs::read_to_string(control.path().join("conffiles")).unwrap(),
        "/etc/chargeplane/chargeplane.toml\n"
    );
    for script in ["postinst", "prerm", "postrm"] {
        run(Command::new("sh").arg("-n").arg(control.path().join(script)));
    }

    let files = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb").args(["--extract", deb]).arg(files.path()));
    let version = run(Command::new(files.path().join("usr/bin/chargeplane")).arg("--version"));
    assert!(version.starts_with("chargeplane "), "{version}");
    let settings = files.path().join("etc/chargeplane/chargeplane.toml");
    let cfg = api::ServeConfig::from_file(&settings).unwrap();
    assert_eq!(cfg.data_dir, Path::new("/var/lib/chargeplane"));
}
