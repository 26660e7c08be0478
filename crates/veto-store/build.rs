// `sqlx::migrate!` embeds migrations/ at compile time; cargo does not know
// that, so a new migration file alone would not rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations/sqlite");
    println!("cargo:rerun-if-changed=migrations/postgres");
}
