use clap::Parser;
use perf_run::{cli::Cli, error, ops, output};

fn main() {
    let cli = Cli::parse();
    output::set_verbosity(cli.verbose);
    output::set_quiet(cli.quiet);
    output::set_color(cli.color.forced());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::error(format!("could not start the async runtime: {e}"));
            std::process::exit(error::Exit::Infra.code());
        }
    };
    let code = match runtime.block_on(ops::dispatch(cli)) {
        Ok(exit) => exit.code(),
        Err(err) => {
            // One sentence, no backtrace (RUST_BACKTRACE=1 is set on these machines).
            output::error(format!("{err:#}"));
            ops::exit::exit_of(&err).code()
        }
    };
    // Do not wait for lingering blocking tasks (e.g. a stdin reader) on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    std::process::exit(code);
}
