//! `crypto-market`: the command line for people (SPEC.md section 8).

use std::process::ExitCode;

use clap::Parser;
use crypto_market_mcp::cli::{self, args::Cli};

fn main() -> ExitCode {
    // clap prints usage errors itself and exits 2 (0 for --help / --version).
    let cli = Cli::parse();
    // HTTPS (--mcp-url, the chat's LLM) through rustls with ring, as the rest of the tree.
    crypto_market_actors::redis_target::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: internal: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(cli::run(cli))
}
