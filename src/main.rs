//! The `tenantry` binary: parses the command line and hands over to the library.

/// mimalloc: the GraphQL executor allocates many small, short-lived objects per request,
/// where it measurably beats the system allocator (see bench/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    match tenantry::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
