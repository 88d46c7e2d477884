//! The `serin` binary: a thin command-line layer over the engine and its platforms.

mod demo;
mod lint;
mod plan;
mod view;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "serin",
    version,
    about = "Canary releases, safe, fast and boring: Argo Rollouts-compatible, in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay the seed's canary release (v1 -> v2 through 10/30/60/100%) and show each step.
    Demo,
    /// Check manifests (files, directories, or - for stdin) and report every problem with its
    /// file, line, column and field.
    Lint {
        /// A file, a directory (read recursively) or - for stdin.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
    },
    /// Show what an update to a Rollout's template will do, step by step: weights, replica
    /// counts, pauses and the time it takes.
    Plan {
        /// The Rollout manifest (the first Rollout found is planned).
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo => demo::run(),
        Command::Lint { files } => lint::run(&files),
        Command::Plan { file } => plan::run(&file),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
