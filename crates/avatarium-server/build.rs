//! `handlers/ui.rs` compiles the built web UI (`ui/dist`) into the binary,
//! and cargo does not watch that folder by itself: rebuild when it changes.
//! Without a build, watch `ui/` so the first `npm run build` is noticed
//! (a missing path would make cargo rebuild this crate every time).

fn main() {
    if std::path::Path::new("../../ui/dist").is_dir() {
        println!("cargo:rerun-if-changed=../../ui/dist");
    } else {
        println!("cargo:rerun-if-changed=../../ui");
    }
}
