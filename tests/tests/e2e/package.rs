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

/// The container file's last stage runs as a non-root user with the data
/// directory as its volume, and its command (with this run's addresses and
/// a temporary directory) starts the server. No image is built here: this
/// machine has no container engine and reaches no image registry.
#[test]
fn the_container_runs_unprivileged_on_its_volume_and_its_command_starts_the_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = std::fs::read_to_string(root.join("ops/container/Containerfile")).unwrap();
    let last = &file[file.rfind("\nFROM ").expect("a final stage")..];
    let said = |key: &str| last.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
    assert_eq!(said("USER "), Some("chargeplane"), "{last}");
    assert_eq!(said("VOLUME "), Some("/var/lib/chargeplane"));
    assert_eq!(said("ENTRYPOINT "), Some(r#"["chargeplane"]"#));
    let cmd: Vec<String> = serde_json::from_str(said("CMD ").expect("a CMD")).unwrap();
    let at = |flag: &str| cmd.iter().position(|a| a == flag).map(|i| cmd[i + 1].clone());
    assert_eq!(at("--data-dir").as_deref(), Some("/var/lib/chargeplane"), "{cmd:?}");

    let data = tempfile::tempdir().unwrap();
    let http = format!("127.0.0.1:{}", crate::common::free_port());
    let piles = format!("127.0.0.1:{}", crate::common::free_port());
    let args: Vec<String> = cmd
        .iter()
        .map(|a| match a.as_str() {
            "/var/lib/chargeplane" => data.path().display().to_string(),
            "0.0.0.0:8080" => http.clone(),
            "0.0.0.0:8767" => piles.clone(),
            other => other.to_owned(),
        })
        .collect();
    let mut server = Command::new(BIN).args(&args).stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let listening = loop {
        if std::net::TcpStream::connect(&http).is_ok() && std::net::TcpStream::connect(&piles).is_ok() {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert!(listening, "{args:?} did not start the server");
    assert!(data.path().join("chargeplane.db").exists());
}
