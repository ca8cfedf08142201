//! `orch-web`: the demo HTTP server of [`orch_runtime::testing::demo_server`], as a
//! program.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Err(e) = orch_runtime::testing::demo_server::run(&args) {
        eprintln!("orch-web: {e}");
        std::process::exit(1);
    }
}
