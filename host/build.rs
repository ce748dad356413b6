//! `sqlx::migrate!` embeds the migrations at compile time but does not tell cargo to watch the
//! folders, so a new migration file would be silently left out of an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
