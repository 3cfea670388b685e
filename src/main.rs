use clap::Parser;
use mimalloc::MiMalloc;
use pomelo_interop::cli::{Cli, run};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's allocator: per-call buffers and per-read buffers that come and
/// go (an idle connection holds none) are reused from thread-local pages instead of growing and
/// trimming the heap with `brk`.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match cli.worker_threads() {
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        0 => tokio::runtime::Runtime::new(),
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pomelo-interop: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = rt.block_on(run(cli));
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    if let Err(e) = result {
        eprintln!("pomelo-interop: {e}");
        std::process::exit(e.exit_code());
    }
}
