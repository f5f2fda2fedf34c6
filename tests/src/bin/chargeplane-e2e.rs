//! The `chargeplane` binary again, built inside this package so its tests
//! can run and kill a real server process (`CARGO_BIN_EXE_chargeplane-e2e`).

fn main() -> std::process::ExitCode {
    api::cli::main()
}
