use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;

/// Writes Avatarium's built-in avatars as GLB files (one `<id>.glb` per preset).
#[derive(Parser, Debug)]
#[command(name = "avatargen", version)]
struct Args {
    /// Output directory.
    #[arg(long, default_value = "assets/avatars")]
    out: PathBuf,
    /// Only generate these preset ids (repeatable). Default: all.
    #[arg(long = "only", value_name = "ID")]
    only: Vec<String>,
    /// List the preset ids and exit.
    #[arg(long)]
    list: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let all = avatarium_avatargen::presets();
    if args.list {
        for p in &all {
            println!("{}\t{}\t{}", p.id, p.name, p.gender.as_str());
        }
        return Ok(());
    }
    for id in &args.only {
        if !all.iter().any(|p| p.id == id.as_str()) {
            bail!("unknown preset id {id:?} (see --list)");
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for p in all
        .iter()
        .filter(|p| args.only.is_empty() || args.only.iter().any(|id| id == p.id))
    {
        let bytes =
            avatarium_avatargen::generate(p).with_context(|| format!("generating {}", p.id))?;
        let path = args.out.join(format!("{}.glb", p.id));
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}
